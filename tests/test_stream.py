"""The device-side sample stream: photos cached once, batches cut with tensor operations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from photorecon.train.config import DataConfig
from photorecon.train.loop import train
from photorecon.train.stream import DeviceStream, PhotoCache
from test_train import tiny_config


def photos(count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [(300, 700), (520, 260), (256, 256), (1100, 900)]
    return [rng.integers(0, 256, (*sizes[i % 4], 3), dtype=np.uint8) for i in range(count)]


def test_cache_holds_a_pyramid_of_every_photo() -> None:
    cache = PhotoCache(photos(), torch.device("cpu"), 256)
    assert len(cache.levels) == 2  # the largest short side (900) is 3.5x 256: one level down
    assert cache.levels[0].shape == (4, 1100, 900, 3) and cache.levels[0].dtype == torch.uint8
    assert cache.sizes[3].tolist() == [[1100.0, 900.0], [550.0, 450.0]]


def test_batches_are_deterministic_per_step_and_rank_and_look_like_crops() -> None:
    cfg = DataConfig(size=64, holes={"scratches": 1, "squares": 1}, box_size=20)
    stream = DeviceStream(photos(), cfg, 0, 8, torch.device("cpu"))
    images, masks = stream.batch(3)
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.uint8
    assert masks.shape == (8, 1, 64, 64) and set(masks.unique().tolist()) == {0.0, 1.0}
    again = stream.batch(3)
    assert torch.equal(images, again[0]) and torch.equal(masks, again[1])
    assert not torch.equal(images, stream.batch(4)[0])
    other_rank = DeviceStream(photos(), cfg, 0, 8, torch.device("cpu"), rank=1)
    assert not torch.equal(images, other_rank.batch(3)[0])


def test_a_crop_of_a_smooth_photo_is_that_photo_resampled() -> None:
    # a ramp photo: any crop, flip or turn of it keeps values on the ramp's range and smooth
    ramp = np.tile(np.linspace(0, 255, 600, dtype=np.float32), (400, 1))
    photo = np.dstack([ramp, ramp[:, ::-1], np.full_like(ramp, 128)]).astype(np.uint8)
    cfg = DataConfig(size=64, holes={"squares": 1}, box_size=10)
    images, _ = DeviceStream([photo], cfg, 1, 16, torch.device("cpu")).batch(0)
    x = images.float()
    assert (x[:, 2] - 128).abs().max() <= 1  # the constant channel stays constant
    assert (x[:, 0] + x[:, 1] - 255).abs().max() <= 2  # red + green = 255 everywhere on the ramp
    # neighbours differ by at most the ramp's step at the largest zoom (400 px crops to 64),
    # plus rounding: the crop is the photo resampled, never a wrong or wrapped window
    bound = 400 / 64 * 255 / 599 + 2  # the photo and the crop are each rounded to integers
    assert (x[:, 0, 1:, :] - x[:, 0, :-1, :]).abs().max() <= bound
    assert (x[:, 0, :, 1:] - x[:, 0, :, :-1]).abs().max() <= bound


def test_training_with_the_device_stream_resumes_exactly(pack: Path, tmp_path: Path) -> None:
    overrides = (
        "data.loader=device",
        "data.holes={brush: 1, squares: 1}",
        "steps=12",
        "eval_every=6",
        "batch_size=2",
        "optim.warmup_steps=2",
        "ema=0.9",
        "ema_bn_samples=4",
        "model.kwargs={width: 4, downs: 2, blocks: 1, max_width: 8}",
    )
    train(tiny_config(pack, *overrides), tmp_path / "straight", progress=False)
    from test_preemption import same_weights, train_in_chunks

    chunks = train_in_chunks(lambda: tiny_config(pack, *overrides), tmp_path / "chunked")
    # it did stop and resume (an unbroken run compared with another would pass the rest)
    assert len(chunks) >= 2 and chunks[-1] == 12 and chunks == sorted(chunks)

    assert same_weights(
        tmp_path / "straight" / "last" / "model.safetensors",
        tmp_path / "chunked" / "last" / "model.safetensors",
    )
