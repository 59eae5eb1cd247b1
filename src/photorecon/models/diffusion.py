"""Stable Diffusion inpainting as a photorecon model, on diffusers, from local files only.

`--model PATH`, where PATH is a folder in diffusers' layout (`model_index.json` beside the
component folders, as `save_pretrained` writes it: SD 2 inpainting, SD 1.5 inpainting or a
fine-tuned copy), loads a `StableDiffusionInpaintPipeline` with `local_files_only=True`: never
a hub request. `--lora FILE` adds LoRA weights trained by `photorecon train` (or any
diffusers-format LoRA file) to its UNet.

Behind the model contract each batch is scaled to the pipeline's native size (512 for SD 2),
sampled `samples` times with seeds `seed`, `seed + 1`, ... and the samples averaged (the mean
of samples lowers RMSE), then scaled back; the caller pastes the known pixels back exactly.
fp16 on a GPU, fp32 on the CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from photorecon.errors import PhotoreconError, first_line
from photorecon.models.base import InpaintModel
from photorecon.models.registry import register_model

INSTALL_HINT = (
    "Stable Diffusion models need the diffusion extra: pip install 'photorecon[diffusion]'"
)
INPAINT_PIPELINES = ("StableDiffusionInpaintPipeline",)
DEFAULT_PROMPT = "a high quality photograph, natural detail, seamless, sharp focus"
DEFAULT_NEGATIVE = "text, watermark, frame, border, blurry, lowres, artifacts, distorted"


@dataclass(frozen=True)
class DiffusionOptions:
    """How a diffusion model samples: the same for every photo of a run."""

    prompt: str = DEFAULT_PROMPT
    negative_prompt: str = DEFAULT_NEGATIVE
    steps: int = 25
    guidance: float = 7.5
    strength: float = 1.0
    seed: int = 0
    samples: int = 1
    progress: bool = True

    def check(self) -> DiffusionOptions:
        if self.steps < 1:
            raise PhotoreconError(f"--steps must be at least 1, got {self.steps}")
        if self.samples < 1:
            raise PhotoreconError(f"--samples must be at least 1, got {self.samples}")
        if not 0.0 < self.strength <= 1.0:
            raise PhotoreconError(f"--strength must be in (0, 1], got {self.strength}")
        if self.guidance < 0:
            raise PhotoreconError(f"--guidance must be >= 0, got {self.guidance}")
        return self


def as_options(options: DiffusionOptions | dict | None) -> DiffusionOptions:
    """Options as given, from a dict of their fields (a command's flags), or the defaults."""
    if isinstance(options, DiffusionOptions):
        return options
    return DiffusionOptions(**(options or {}))


MIN_SAMPLE, MAX_SAMPLE = 4, 512  # a UNet's latent side: 8-px latents make 32..4096-px photos


def check_folder(path: Path) -> dict[str, Any]:
    """The folder's model_index.json, checked: an inpainting pipeline with its components."""
    if not path.is_dir():
        raise PhotoreconError(f"{path}: no such folder")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise PhotoreconError(
            f"{path}: not a diffusers folder (no model_index.json; save one with "
            "pipeline.save_pretrained)"
        )
    try:
        index = json.loads(index_file.read_text())
    except (ValueError, OSError, RecursionError) as exc:
        raise PhotoreconError(f"{index_file}: unreadable ({first_line(exc)})") from None
    kind = index.get("_class_name") if isinstance(index, dict) else None
    if kind not in INPAINT_PIPELINES:
        raise PhotoreconError(
            f"{path}: a {kind or 'unknown'} folder, not an inpainting pipeline "
            f"({', '.join(INPAINT_PIPELINES)})"
        )
    missing = [c for c in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
               if not (path / c).is_dir()]  # fmt: skip
    if missing:
        folders = ", ".join(f"{name}/" for name in missing)
        raise PhotoreconError(f"{path}: incomplete pipeline, missing {folders}")
    return index


def diffusers_module():
    try:
        import diffusers
    except ImportError:
        raise PhotoreconError(INSTALL_HINT) from None
    return diffusers


def load_pipeline(path: str | Path, device: torch.device | str = "cpu"):
    """A StableDiffusionInpaintPipeline from a local folder (no network), fp16 on CUDA."""
    path = Path(path)
    check_folder(path)
    diffusers = diffusers_module()
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    try:
        pipe = diffusers.StableDiffusionInpaintPipeline.from_pretrained(
            str(path),
            local_files_only=True,
            dtype=dtype,
            safety_checker=None,
            requires_safety_checker=False,
        )
    except Exception as exc:  # diffusers raises many kinds for broken folders; one line each
        raise PhotoreconError(f"{path}: cannot load the pipeline ({first_line(exc)})") from None
    if pipe.unet.config.in_channels != 9:
        raise PhotoreconError(
            f"{path}: its UNet takes {pipe.unet.config.in_channels} channels, not the 9 of an "
            "inpainting UNet (latents, mask, masked image)"
        )
    tokens = getattr(pipe.tokenizer, "model_max_length", None)
    positions = getattr(pipe.text_encoder.config, "max_position_embeddings", None)
    if not isinstance(tokens, int) or (positions and tokens > positions):
        raise PhotoreconError(
            f"{path / 'tokenizer'}: does not fit the text encoder (prompts of {tokens} tokens "
            f"for {positions} positions): an empty or foreign tokenizer"
        )
    size = pipe.unet.config.sample_size
    side = size if isinstance(size, int) else None
    if side is None or not MIN_SAMPLE <= side <= MAX_SAMPLE:
        raise PhotoreconError(
            f"{path / 'unet' / 'config.json'}: sample_size {size!r} is not a latent side in "
            f"{MIN_SAMPLE}-{MAX_SAMPLE} (Stable Diffusion 2: 96)"
        )
    return pipe.to(device)


def native_size(pipe) -> int:
    """The side the pipeline was trained at (UNet sample size x VAE scale factor)."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def add_lora(pipe, lora: str | Path) -> None:
    """Load LoRA weights (a safetensors file in diffusers' LoRA format) into the UNet."""
    lora = Path(lora)
    if lora.is_dir():
        lora = lora / "lora.safetensors"
    if not lora.is_file():
        raise PhotoreconError(f"{lora}: no such LoRA file")
    try:
        pipe.load_lora_weights(str(lora.parent), weight_name=lora.name, local_files_only=True)
    except Exception as exc:
        raise PhotoreconError(f"{lora}: cannot load LoRA weights ({first_line(exc)})") from None


class LoRAWeights(nn.Module):
    """The LoRA parameters of a UNet as a module of their own: what a fine-tuning run trains,
    checkpoints and resumes; the base weights stay in the user's folder."""

    def __init__(self, unet) -> None:
        super().__init__()
        for name, param in unet.named_parameters():
            if "lora_" in name:
                self.register_parameter(name.replace(".", "__"), param)


class DiffusionInpainter(nn.Module, InpaintModel):
    """A StableDiffusionInpaintPipeline behind the model contract, optionally with LoRA
    adapters on its UNet (`lora_rank` > 0: the only weights this model owns and saves)."""

    kind = "diffusion"
    records_arguments = False  # a pipeline is no constructor argument: `config` names its folder

    def __init__(
        self,
        pipe,
        options: DiffusionOptions | None = None,
        *,
        source: str = "",
        lora_rank: int = 0,
        lora_alpha: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(lora_rank, bool) or not isinstance(lora_rank, int) or lora_rank < 0:
            raise PhotoreconError(f"lora_rank must be a whole number >= 0, got {lora_rank!r}")
        if (
            isinstance(lora_alpha, bool)
            or not isinstance(lora_alpha, int | float)
            or lora_alpha < 0
        ):
            raise PhotoreconError(f"lora_alpha must be a number >= 0, got {lora_alpha!r}")
        self.pipe = pipe
        self.options = (options or DiffusionOptions()).check()
        self.source = source
        self.config = {"path": source}
        self.size = native_size(pipe)
        self.work_size = self.size  # the fill path cuts windows at this scale
        self.lora = None
        if lora_rank > 0:
            self.lora = add_lora_adapters(pipe, lora_rank, lora_alpha or float(lora_rank))
            o = self.options
            self.config.update(
                lora_rank=lora_rank,
                lora_alpha=lora_alpha or float(lora_rank),
                steps=o.steps,
                guidance=o.guidance,
            )
        pipe.set_progress_bar_config(
            disable=not self.options.progress or not _on_terminal(), leave=False
        )

    def with_options(self, options: DiffusionOptions | dict) -> DiffusionInpainter:
        """Sample as `options` say from now on (a command's flags over a run's defaults)."""
        options = as_options(options)
        self.options = options.check()
        self.pipe.set_progress_bar_config(disable=not options.progress or not _on_terminal())
        return self

    def to(self, *args: Any, **kwargs: Any) -> DiffusionInpainter:
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            self.pipe.to(device)
        return self

    @torch.inference_mode()
    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill at the native size: the mean of `samples` seeded samples, scaled back."""
        height, width = masked.shape[-2:]
        side = self.size
        image = F.interpolate(masked.float(), size=(side, side), mode="bicubic").clamp(0, 1)
        holes = (F.interpolate(mask.float(), size=(side, side), mode="bilinear") > 0).float()
        o = self.options
        batch = image.shape[0]
        dtype = self.pipe.unet.dtype
        total = torch.zeros_like(image)
        for k in range(o.samples):
            generator = [
                torch.Generator(device="cpu").manual_seed(o.seed + k * batch + i)
                for i in range(batch)
            ]
            out = self.pipe(
                prompt=[o.prompt] * batch,
                negative_prompt=[o.negative_prompt] * batch,
                image=image.to(self.pipe.device, dtype),
                mask_image=holes.to(self.pipe.device, dtype),
                height=side,
                width=side,
                strength=o.strength,
                num_inference_steps=o.steps,
                guidance_scale=o.guidance,
                generator=generator,
                output_type="pt",
            ).images
            total += out.float().to(image.device)
        mean = total / o.samples
        return F.interpolate(mean, size=(height, width), mode="bicubic").clamp(0, 1)


def add_lora_adapters(pipe, rank: int, alpha: float) -> LoRAWeights:
    """LoRA adapters (peft) on the UNet's attention projections; everything else frozen."""
    try:
        from peft import LoraConfig
    except ImportError:
        raise PhotoreconError(INSTALL_HINT) from None
    for part in (pipe.unet, pipe.vae, pipe.text_encoder):
        part.requires_grad_(False)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        init_lora_weights="gaussian",
        target_modules=["to_k", "to_q", "to_v", "to_out.0"],
    )
    pipe.unet.add_adapter(config)
    return LoRAWeights(pipe.unet)


def load_diffusion(
    path: str | Path,
    device: torch.device | str = "cpu",
    *,
    lora: str | Path | None = None,
    options: DiffusionOptions | dict | None = None,
) -> DiffusionInpainter:
    """A ready diffusion model from a local diffusers folder, with optional LoRA weights: a
    photorecon run (folder or checkpoint) or a diffusers-format LoRA file."""
    options = as_options(options)
    pipe = load_pipeline(path, device)
    meta = _photorecon_lora(lora) if lora is not None else None
    if meta is None:
        if lora is not None:
            add_lora(pipe, lora)
        return DiffusionInpainter(pipe, options, source=str(path)).eval()
    from safetensors.torch import load_file

    from photorecon.checkpoint import load_fitting
    from photorecon.models.files import weights_file

    kwargs = meta.kwargs
    model = DiffusionInpainter(
        pipe,
        options,
        source=str(path),
        lora_rank=int(kwargs.get("lora_rank", 0)),
        lora_alpha=float(kwargs.get("lora_alpha", 0.0)),
    )
    state = load_file(str(weights_file(lora)))
    load_fitting(model, state, f"{lora}: LoRA weights do not fit {path}")
    return model.to(device).eval()


def _photorecon_lora(lora: str | Path):
    """The metadata of a photorecon LoRA run or checkpoint; None for any other file."""
    from photorecon.checkpoint import read_meta

    try:
        meta = read_meta(lora)
    except PhotoreconError:
        return None
    if meta.model != "sd_inpaint" or not meta.kwargs.get("lora_rank"):
        raise PhotoreconError(f"{lora}: a photorecon {meta.model!r} checkpoint, not LoRA weights")
    return meta


def _on_terminal() -> bool:
    from photorecon.progress import on_terminal

    return on_terminal()


@register_model(
    "sd_inpaint",
    model=DiffusionInpainter,
    summary="Stable Diffusion inpainting (diffusers); bring weights: --model DIFFUSERS_FOLDER",
    trainer="diffusion",
)
def sd_inpaint(
    *,
    path: str,
    lora_rank: int = 0,
    lora_alpha: float = 0.0,
    steps: int = 25,
    guidance: float = 7.5,
) -> DiffusionInpainter:
    """The pipeline in `path` (on the CPU; `.to()` moves it), with fresh LoRA adapters of
    `lora_rank` for fine-tuning; `steps` and `guidance` sample its validation fills."""
    options = DiffusionOptions(steps=steps, guidance=guidance, progress=False)
    pipe = load_pipeline(path, "cpu")
    return DiffusionInpainter(
        pipe, options, source=path, lora_rank=lora_rank, lora_alpha=lora_alpha
    )
