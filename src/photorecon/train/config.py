"""The training config: data, model, loss, optimiser and schedule, saved with every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from photorecon.config import Range
from photorecon.masks import BOX_SIZE
from photorecon.models.registry import TRAINERS

AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
SHARE = Range(0, 1)  # 0 <= x <= 1
BELOW_1 = Range(0, 1, high_open=True)  # 0 <= x < 1


@dataclass
class DataConfig:
    """Where samples come from; seed and fractions must match `data build` to hold out the same
    val/test photos."""

    # "photos": random crops of the pack, held in memory; "split": a split folder's pairs;
    # "shards": photos streamed from WebDataset shards (`data shard`), none held whole
    source: str = "photos"
    photos: str = "data/photos"
    # source=shards: the training shards and the validation shards (each a folder with an
    # index.json, a brace pattern, pipe: commands, fsspec URLs, or a list of those), and how
    # many photos the shuffle buffer mixes at a time
    shards: str | list[str] = ""
    val_shards: str | list[str] = ""
    shuffle_buffer: int = 256
    train_split: str = ""  # source=split: folder with masked/ (+ masked_info.csv) and original/
    val_split: str = ""  # if set, validate on this split folder with the challenge scorer
    fresh_boxes: bool = True  # source=split: draw new holes each time instead of the listed ones
    resize_crop: int = 0  # source=split: resize to this size, then random-crop back (seed 002: 286)
    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.15
    size: int = 256
    box_size: int = BOX_SIZE
    boxes: int = 2
    random_rect_prob: float = 0.25  # share of samples with 1-4 random rectangles instead
    # Hole kinds and their weights (photorecon.masks.HOLE_KINDS), e.g. {squares: 0.3, brush: 0.3,
    # scratches: 0.2, boxes: 0.1, blobs: 0.1}. Empty: the challenge's squares, random_rect_prob
    # of them replaced by 1-4 random rectangles (the holes the first shipped weights saw).
    holes: dict[str, float] = field(default_factory=dict)
    # The kinds the validation set cycles through; empty: those of `holes` (squares if none).
    # Validation RMSE is the mean of the per-kind RMSEs, so thin scratches count as much as
    # large holes.
    val_holes: list[str] = field(default_factory=list)
    # Damage detectors (trainer "detector"): the damage kinds and their weights
    # (photorecon.damage.DAMAGE_KINDS; empty: its default mix), and the share of samples left
    # clean, so the detector learns what is not damage (hair, wires, highlights)
    damage: dict[str, float] = field(default_factory=dict)
    clean_share: float = 0.3
    # ... and the share of training samples (damaged or clean) with details of the scene that
    # look like damage drawn in, never in the mask (photorecon.damage.lookalikes: blossoms,
    # highlights, thin bright stems); validation samples have none, so scores stay comparable
    lookalikes: float = 0.0
    # Restorers (trainer "restorer"): the share of samples that are photos nobody aged, which
    # must come back as they were ("no harm")
    untouched_share: float = 0.25
    # ... and the share of the aged ones aged by the free-form family (photorecon.damage.fading:
    # random tone curves, dye mixing, toning gradients) instead of photorecon.damage.look
    fading: float = 0.0
    # Synthetic smooth, bright scenes (photorecon.data.scenes: skies, clouds, snow, backdrops,
    # skin): their share of the training photos (0: none), and how many more join validation,
    # where their crops carry thin and thick strokes, scored apart as smooth-scratches and
    # smooth-brush (a net that only saw textured photos fills these with a colour bias)
    scenes: float = 0.0
    val_scenes: int = 0
    max_side: int = 1024  # photos are kept in memory with at most this long side
    val_crops_per_photo: int = 4
    flips: bool = True
    rot90: bool = True
    workers: int = 2
    # "auto": photos cached on the training device and batches cut there when training on CUDA
    # (the DataLoader caps a GPU at what its workers decode); "workers": the DataLoader with
    # `workers` processes; "device": the device stream on any device
    loader: str = "auto"

    LIMITS: ClassVar[dict] = {
        "source": ("photos", "split", "shards"),
        "shuffle_buffer": Range(1, 1_000_000),
        "val_frac": BELOW_1,
        "test_frac": BELOW_1,
        "size": Range(16, 8192),
        "box_size": AT_LEAST_1,
        "boxes": Range(0, 64),
        "random_rect_prob": SHARE,
        "clean_share": BELOW_1,
        "lookalikes": SHARE,
        "untouched_share": BELOW_1,
        "fading": SHARE,
        "scenes": BELOW_1,
        "val_scenes": Range(0, 100_000),
        "max_side": Range(16),
        "val_crops_per_photo": AT_LEAST_1,
        "workers": Range(0, 256),
        "loader": ("auto", "workers", "device"),
    }

    def problems(self) -> list[str]:
        out = []
        if self.val_frac + self.test_frac >= 1:
            out.append(f"val_frac + test_frac = {self.val_frac + self.test_frac:g}: must be < 1")
        return out


@dataclass
class ModelConfig:
    name: str = "ffc"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """Pixel losses: L1 and L2 inside the holes, a weaker L1 on the known region, and the
    whole-image MSE seed 000 trained its BiLSTM with."""

    hole_l1: float = 1.0
    hole_l2: float = 1.0
    known_l1: float = 0.1
    image_l2: float = 0.0
    perceptual: float = 0.0  # EfficientNet-Lite0 feature L1 on the composited fill

    LIMITS: ClassVar[dict] = {
        k: NON_NEGATIVE for k in ("hole_l1", "hole_l2", "known_l1", "image_l2", "perceptual")
    }


@dataclass
class GANConfig:
    """Adversarial training (trainer gan or cyclegan); weights as in the seed reports."""

    adv_loss: str = "bce"  # "bce" (pix2pix) or "lsgan" (context encoder, CycleGAN)
    adv_weight: float = 1.0
    rec_weight: float = 100.0  # L1 reconstruction weight (pix2pix's lambda)
    rec_region: str = "image"  # "image" as the seeds did, or "hole"
    rec_loss: str = "l1"  # "l1" as the seeds did, or "pixel": the `loss` section's pixel losses
    feature_matching: float = 0.0  # L1 between discriminator features of real and filled images
    d_lr: float = 2e-4
    d_beta1: float = 0.5
    d_width: int = 64
    cycle_weight: float = 10.0
    identity_weight: float = 5.0

    LIMITS: ClassVar[dict] = {
        "adv_loss": ("bce", "lsgan"),
        "rec_region": ("image", "hole"),
        "rec_loss": ("l1", "pixel"),
        "adv_weight": NON_NEGATIVE,
        "rec_weight": NON_NEGATIVE,
        "feature_matching": NON_NEGATIVE,
        "d_lr": Range(0, 1, low_open=True),
        "d_beta1": BELOW_1,
        "d_width": Range(1, 4096),
        "cycle_weight": NON_NEGATIVE,
        "identity_weight": NON_NEGATIVE,
    }


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    warmup_steps: int = 200
    min_lr_frac: float = 0.02

    LIMITS: ClassVar[dict] = {
        "lr": Range(0, 1, low_open=True),
        "weight_decay": NON_NEGATIVE,
        "beta1": BELOW_1,
        "beta2": BELOW_1,
        "grad_clip": NON_NEGATIVE,
        "warmup_steps": NON_NEGATIVE,
        "min_lr_frac": SHARE,
    }


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: str = ""  # "" = the model's own; "gan" trains a supervised model adversarially
    init: str = ""  # start from these weights (name, run or .safetensors); fresh optimiser/schedule
    # at the end of a finished run, replace these weights (a shipped model's name, or a
    # .safetensors path) by the run's best if they score better on its validation set
    ship: str = ""
    batch_size: int = 8
    steps: int = 2000
    max_minutes: float = 0.0  # > 0: stop (and finish the LR schedule) by this wall time
    eval_every: int = 250
    checkpoint_every: int = 0  # 0: at every evaluation
    ema: float = 0.999  # 0 disables the EMA copy of the generator
    # > 0: before each evaluation, the EMA copy's BatchNorm statistics are recomputed on this
    # many training samples (else it uses the live weights' statistics, which lag behind)
    ema_bn_samples: int = 0
    channels_last: bool = True  # NHWC weights: 1.27x faster ffc steps on 2 CPU cores
    compile: bool = False  # torch.compile the training forward (GPU; minutes of compiling first)
    amp: str = "auto"  # auto = bf16 on CUDA, off on CPU; or "bf16", "fp16", "off"
    seed: int = 0
    device: str = "auto"

    LIMITS: ClassVar[dict] = {
        "batch_size": Range(1, 65_536),
        "steps": AT_LEAST_1,
        "max_minutes": NON_NEGATIVE,
        "eval_every": AT_LEAST_1,
        "checkpoint_every": NON_NEGATIVE,
        "ema": BELOW_1,
        "ema_bn_samples": NON_NEGATIVE,
        "amp": ("auto", "bf16", "fp16", "off"),
        "trainer": ("", *TRAINERS),
    }
