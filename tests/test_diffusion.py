"""Stable Diffusion inpainting through photorecon, with a tiny random pipeline built on disk.

Nothing is downloaded: the test writes a small inpainting UNet (9 input channels), a small
VAE, a small CLIP text encoder and a tokenizer from a vocabulary of its own, saves them with
`save_pretrained`, and goes through the real code paths (CLI, API, predict, errors).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ranks_failure, run_torchrun, synthetic_photo

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]


def tiny_pipeline(folder: Path) -> Path:
    """A random-weight StableDiffusionInpaintPipeline of a few hundred kB, saved to `folder`."""
    import torch

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=16,
        in_channels=9,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    vae = diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        latent_channels=4,
        layers_per_block=1,
    )
    words = folder.parent / "tokenizer-src"
    words.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz,."
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for ch in letters:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (words / "vocab.json").write_text(json.dumps(vocab))
    (words / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(
        str(words / "vocab.json"), str(words / "merges.txt"), model_max_length=16
    )
    text = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=16,
        )
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = diffusers.StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def sd(tmp_path_factory) -> Path:
    return tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd-inpaint")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return synthetic_photo(np.random.default_rng(3), 48, 80)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "photorecon.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(cwd or ROOT)},
    )


def test_api_fill_keeps_known_pixels_and_is_seeded(sd: Path, photo: np.ndarray) -> None:
    from photorecon import fill
    from photorecon.models.diffusion import DiffusionOptions

    options = DiffusionOptions(steps=3, samples=2, progress=False)
    boxes = [(10, 20, 16, 24)]
    out = fill(photo, boxes, model=str(sd), diffusion=options)
    assert out.shape == photo.shape and out.dtype == np.uint8
    hole = np.zeros(photo.shape[:2], bool)
    hole[10:26, 20:44] = True
    assert np.array_equal(out[~hole], photo[~hole])  # known pixels bit-identical
    assert (out[hole] != photo[hole]).any()
    again = fill(photo, boxes, model=str(sd), diffusion=options)
    assert np.array_equal(out, again)  # the same seeds give the same fill
    other = fill(photo, boxes, model=str(sd), diffusion=DiffusionOptions(steps=3, seed=7))
    assert not np.array_equal(out[hole], other[hole])


def test_cli_fill_and_predict(sd: Path, photo: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    Image.fromarray(photo).save(src)
    done = cli(
        "fill", str(src), "--box", "5,5,20,30", "--model", str(sd), "--steps", "2",
        "--prompt", "a cat", "--samples", "2", "-o", str(tmp_path / "out.png"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    hole = np.zeros(photo.shape[:2], bool)
    hole[5:25, 5:35] = True
    assert out.shape == photo.shape and np.array_equal(out[~hole], photo[~hole])
    assert (out[hole] != photo[hole]).any(axis=-1).mean() > 0.9  # the hole is painted anew
    # a tiny challenge folder: predict writes a full submission
    folder = tmp_path / "challenge"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(synthetic_photo(np.random.default_rng(len(name)), 64, 64)).save(
            folder / name
        )
    (folder / "masked_info.csv").write_text(
        ",filename,box1_row,box1_col,box2_row,box2_col\n0,a.png,2,3,30,31\n1,b.png,0,0,40,40\n"
    )
    done = cli(
        "predict", str(folder), "--model", str(sd), "--box-size", "16", "--image-size", "64",
        "--steps", "2", "--out", str(tmp_path / "sub.csv"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "sub.csv").read_text().splitlines()
    assert rows[0] == "filename_box_pixel,value" and len(rows) == 1 + 2 * 2 * 16 * 16 * 3


def test_bad_folders_and_missing_extra_are_one_line(sd: Path, tmp_path: Path) -> None:
    from photorecon.errors import PhotoreconError
    from photorecon.models.loading import load_model

    def refused(spec: str, message: str) -> None:
        with pytest.raises(PhotoreconError, match=message) as info:
            load_model(spec)
        assert "\n" not in str(info.value)

    half = tmp_path / "half"
    (half / "unet").mkdir(parents=True)
    refused(str(half), "not a diffusers folder \\(no model_index.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    refused(str(other), "a StableDiffusionPipeline folder, not an inpainting pipeline")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text((sd / "model_index.json").read_text())
    for part in ("vae", "text_encoder", "tokenizer", "scheduler"):
        (broken / part).symlink_to(sd / part)
    (broken / "unet").mkdir()
    refused(str(broken), "cannot load the pipeline")
    for name in ("vae", "text_encoder", "tokenizer", "scheduler"):
        (broken / name).unlink()
    refused(str(broken), "incomplete pipeline, missing vae/, text_encoder/, tokenizer/")
    # crafted folders: a deep model_index.json, absurd sample sizes, an empty tokenizer/
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "model_index.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(str(deep), "model_index.json: unreadable")
    for size in (10_000_000, -8, "big"):
        crafted = tmp_path / f"size{size}"
        shutil.copytree(sd, crafted)
        config = json.loads((crafted / "unet" / "config.json").read_text())
        config["sample_size"] = size
        (crafted / "unet" / "config.json").write_text(json.dumps(config))
        refused(str(crafted), "sample_size|cannot load the pipeline")
    empty = tmp_path / "empty-tokenizer"
    shutil.copytree(sd, empty)
    shutil.rmtree(empty / "tokenizer")
    (empty / "tokenizer").mkdir()
    refused(str(empty), "tokenizer: does not fit the text encoder|cannot load the pipeline")
    # without diffusers installed: the line names the extra
    src = tmp_path / "x.png"
    Image.fromarray(synthetic_photo(np.random.default_rng(0), 32, 32)).save(src)
    script = (
        "import sys; sys.modules['diffusers'] = None\n"
        "from photorecon.cli import main\n"
        f"sys.exit(main(['fill', {str(src)!r}, '--box', '1,1,2,2', '--model', {str(sd)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2 and "pip install 'photorecon[diffusion]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_models_lists_the_kind_and_how_to_use_it() -> None:
    done = cli("models", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "sd_inpaint" in ln)
    assert "diffusion" in line and "--model" in done.stdout


def test_cli_defaults_match_the_options() -> None:
    from photorecon.cli import options as photorecon_options
    from photorecon.models.diffusion import DiffusionOptions

    assert DiffusionOptions.prompt == photorecon_options.DIFFUSION_PROMPT
    assert DiffusionOptions.negative_prompt == photorecon_options.DIFFUSION_NEGATIVE


def test_the_server_offers_and_fills_with_a_folder(sd: Path, photo: np.ndarray) -> None:
    import io

    from fastapi.testclient import TestClient

    from photorecon.serve.app import create_app

    options = {"diffusion": {"steps": 2, "progress": False}}
    client = TestClient(create_app(default_model=str(sd), model_options=options))
    models = client.get("/api/models").json()
    assert models["default"] == str(sd) and models["models"][0]["name"] == str(sd)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    resp = client.post(
        "/api/fill",
        files={"image": ("p.png", buf.getvalue(), "image/png")},
        data={"boxes": "[[4, 6, 20, 30]]"},
    )
    assert resp.status_code == 200, resp.text
    out = np.asarray(Image.open(io.BytesIO(resp.content)))
    hole = np.zeros(photo.shape[:2], bool)
    hole[4:24, 6:36] = True
    assert out.shape == photo.shape and np.array_equal(out[~hole], photo[~hole])


def test_lora_training_saves_resumes_and_loads(sd: Path, pack: Path, tmp_path: Path) -> None:
    """A few LoRA steps through the engine: the loss is finite, only LoRA weights are saved,
    a chunked run resumes to the same weights as an uninterrupted one, and the run fills."""
    from safetensors.torch import load_file

    from photorecon import fill
    from photorecon.config import load_config
    from photorecon.models.diffusion import DiffusionOptions
    from photorecon.train.config import TrainConfig
    from photorecon.train.loop import train

    overrides = [
        f"data.photos={pack}", "data.workers=0", "data.val_frac=0.2", "data.test_frac=0.2",
        "data.size=32", "data.val_crops_per_photo=1", "data.holes={squares: 1.0}",
        "data.box_size=10", f"model.kwargs={{path: {sd}, lora_rank: 2, steps: 2}}",
        "batch_size=2", "steps=6", "eval_every=3", "optim.warmup_steps=1", "optim.lr=1e-3",
    ]  # fmt: skip
    cfg = load_config(TrainConfig, ROOT / "configs" / "sd_inpaint_lora.yaml", overrides)
    whole = train(cfg, tmp_path / "whole", progress=False)
    assert whole.steps == 6 and np.isfinite(whole.best_score)
    state = load_file(str(tmp_path / "whole" / "last" / "model.safetensors"))
    assert state and all("lora" in k for k in state)  # LoRA only, not the base UNet
    assert sum(v.numel() for v in state.values()) < 20_000
    # in two chunks: stopped after 3 steps by the step budget, then resumed to the end
    first = train(load_config(TrainConfig, ROOT / "configs" / "sd_inpaint_lora.yaml",
                              [*overrides, "steps=6"]), tmp_path / "chunked", progress=False,
                  chunk_minutes=1e-6)  # fmt: skip
    assert first.stopped == "chunk" and first.steps < 6
    again = train(cfg, tmp_path / "chunked", progress=False)
    assert again.steps == 6
    resumed = load_file(str(tmp_path / "chunked" / "last" / "model.safetensors"))
    for key, value in state.items():
        assert np.allclose(value.numpy(), resumed[key].numpy(), atol=1e-6), key
    # the run loads like any model: as a run folder, and as --lora over the base folder
    photo = synthetic_photo(np.random.default_rng(5), 40, 40)
    options = DiffusionOptions(steps=2, progress=False)
    by_run = fill(photo, [(5, 5, 10, 12)], model=str(tmp_path / "whole"), diffusion=options)
    by_lora = fill(photo, [(5, 5, 10, 12)], model=str(sd), lora=str(tmp_path / "whole"),
                   diffusion=options)  # fmt: skip
    plain = fill(photo, [(5, 5, 10, 12)], model=str(sd), diffusion=options)
    assert np.array_equal(by_run, by_lora)
    assert not np.array_equal(by_run, plain)  # the LoRA weights change the fill


@pytest.mark.usefixtures("one_torchrun")
def test_lora_training_under_torchrun(sd: Path, pack: Path, tmp_path: Path) -> None:
    """Two processes train the same LoRA weights (DDP over the UNet's LoRA parameters)."""
    import os

    run = tmp_path / "ddp"
    sets = [
        f"data.photos={pack}", "data.workers=0", "data.val_frac=0.2", "data.test_frac=0.2",
        "data.size=32", "data.val_crops_per_photo=1", "data.holes={squares: 1.0}",
        "data.box_size=10", f"model.kwargs={{path: {sd}, lora_rank: 2, steps: 2}}",
        "batch_size=2", "steps=4", "eval_every=4",
    ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "photorecon.cli", "train", "-q", "--config",
        str(ROOT / "configs" / "sd_inpaint_lora.yaml"), "--out", str(run),
        *(arg for s in sets for arg in ("--set", s)),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = run_torchrun(cmd, env, timeout=240)
    assert done.returncode == 0, ranks_failure(done)
    assert "all 2 ranks agree on the weights" in done.stdout
    assert "processes: 2" in (run / "result.yaml").read_text()


@pytest.mark.parametrize("kwargs", [{"lora_rank": "abc"}, {"lora_rank": -1}, {"lora_alpha": "x"}])
def test_bad_lora_arguments_are_one_line(sd: Path, kwargs) -> None:
    from photorecon.errors import PhotoreconError
    from photorecon.models.registry import create_model

    with pytest.raises(PhotoreconError, match="lora_(rank|alpha) must be"):
        create_model("sd_inpaint", path=str(sd), **{"lora_rank": 2, **kwargs})
