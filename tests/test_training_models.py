"""Every trainable model: it learns on a tiny batch, its weights round-trip, its config loads."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from photorecon.checkpoint import CheckpointMeta, save_weights
from photorecon.config import load_config
from photorecon.models.loading import load_checkpoint
from photorecon.models.registry import create_model, list_models
from photorecon.train.config import TrainConfig
from photorecon.train.distributed import DistInfo
from photorecon.train.loop import build_step

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
TINY = {
    "ffc": {"width": 4, "downs": 2, "blocks": 1, "max_width": 8},
    "bilstm": {"width": SIZE, "hidden": 8, "layers": 2},
    "context_encoder": {"bottleneck": 16, "width": 4},
    "pix2pix": {"widths": [4, 8, 8, 8, 8], "dropout_levels": 2},
    "unet_gan": {"widths": [4, 8, 8, 8]},
    "cyclegan": {"width": 4, "blocks": 1},
    "damage": {"widths": [4, 8, 8, 8]},
    "restore": {"width": 8, "knots": 8, "grid": 2, "side": 32},
}
# the loss each trainer kind must lower: pixels for supervised, reconstruction for GANs
WATCH = {
    "supervised": "loss",
    "gan": "rec",
    "cyclegan": "cycle",
    "detector": "loss",
    "restorer": "loss",
}


def test_every_trainable_model_has_a_tiny_config() -> None:
    # the diffusion kind trains on a pipeline written to disk: tests/test_diffusion.py
    from photorecon.models.registry import get_model_info

    trainable = list_models(trainable=True)
    assert set(TINY) == {n for n in trainable if get_model_info(n).kind != "diffusion"}


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_builds_its_model(path: Path) -> None:
    cfg = load_config(TrainConfig, path)
    assert cfg.model.name in list_models(trainable=True)
    assert cfg.model.name in path.stem  # configs/<model>[-variant].yaml
    if cfg.model.name == "sd_inpaint":  # its weights are the user's folder (test_diffusion.py)
        assert cfg.ema == 0 and cfg.model.kwargs["lora_rank"] > 0
        return
    with torch.device("meta"):  # constructor arguments checked, no weights allocated
        create_model(cfg.model.name, **cfg.model.kwargs)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    base = torch.stack([yy / SIZE, xx / SIZE, (yy + xx) / (2 * SIZE)])
    images = (base[None] * 0.8 + 0.1 + 0.05 * torch.rand(2, 3, SIZE, SIZE, generator=g)).clamp(0, 1)
    masks = torch.zeros(2, 1, SIZE, SIZE)
    masks[:, :, 8:18, 10:22] = 1
    return images, masks


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_few_steps_lower_the_loss(name: str) -> None:
    from photorecon.models.registry import get_model_info

    torch.manual_seed(0)
    config = ROOT / "configs" / f"{name}.yaml"
    cfg = load_config(TrainConfig, config, ["optim.lr=1e-3", "gan.d_width=4", "optim.grad_clip=10"])
    cfg.model.kwargs = TINY[name]
    generator = create_model(name, **TINY[name])
    step = build_step(cfg, generator, DistInfo(), torch.device("cpu"))
    images, masks = batch()
    trainer = get_model_info(name).trainer
    if trainer == "restorer":  # a faded photo in, the photo as the target (uint8)
        images, masks = images * 0.6 + 0.3, (images * 255).round().to(torch.uint8)
    watch = WATCH[trainer]
    history = [step(images, masks, contextlib.nullcontext)[watch] for _ in range(6)]
    assert all(torch.isfinite(torch.tensor(history)))
    assert history[-1] < history[0], history


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_identical_outputs(name: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model(name, **TINY[name]).eval()
    path = tmp_path / "m.safetensors"
    save_weights(path, model, CheckpointMeta(name, getattr(model, "config", TINY[name])))
    loaded = load_checkpoint(path)
    images, masks = batch()
    one_input = model.kind in ("detector", "restorer")
    inputs = (images,) if one_input else (images * (1 - masks), masks)
    with torch.no_grad():
        assert torch.equal(model(*inputs), loaded(*inputs))


def test_seed_parameter_counts() -> None:
    from photorecon.models.registry import count_parameters

    # pix2pix as the seed reported it (trainable parameters of the TF model) ...
    assert count_parameters(create_model("pix2pix", innermost_norm=True)) == 54_414_979
    # ... less the 1x1 bottleneck's BatchNorm, which batch 1 cannot train
    assert count_parameters(create_model("pix2pix")) == 54_414_979 - 1024
    # bilstm: 2-layer bidirectional LSTM 256 -> 128 and Linear 256 -> 256
    assert count_parameters(create_model("bilstm")) == 856_320


def test_ffc_trains_adversarially_with_pixel_losses_and_feature_matching() -> None:
    torch.manual_seed(0)
    cfg = load_config(
        TrainConfig,
        ROOT / "configs" / "ffc.yaml",
        [
            "trainer=gan",
            "gan.rec_loss=pixel",
            "gan.rec_weight=1",
            "gan.adv_weight=0.01",
            "gan.feature_matching=0.1",
            "gan.d_width=4",
            "optim.lr=3e-3",
        ],
    )
    cfg.model.kwargs = TINY["ffc"]
    generator = create_model("ffc", **TINY["ffc"])
    step = build_step(cfg, generator, DistInfo(), torch.device("cpu"))
    assert "discriminator" in step.modules
    images, masks = batch()
    history = [step(images, masks, contextlib.nullcontext)["rec"] for _ in range(8)]
    assert history[-1] < history[0], history
