"""Inpainting models: one contract, `model(masked (B,3,H,W), mask (B,1,H,W)) -> (B,3,H,W)`."""

from photorecon.models.registry import (
    ModelInfo,
    create_model,
    get_model_info,
    list_models,
    register_model,
)

__all__ = ["ModelInfo", "create_model", "get_model_info", "list_models", "register_model"]
