"""torchrun/DDP plumbing: the process group, each rank's share of the sample stream, agreement."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from photorecon.device import resolve_device
from photorecon.errors import PhotoreconError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on GPUs, gloo on CPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), resolve_device(device_name)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return DistInfo(rank, world), device


def agree_max(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Each value's maximum over the ranks (one all-reduce); the values themselves alone."""
    if info.world <= 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


class StepBatches:
    """Batch sampler: global sample indices for steps start+1..steps, this rank's share."""

    def __init__(self, start: int, steps: int, batch: int, info: DistInfo) -> None:
        self.start, self.steps, self.batch, self.info = start, steps, batch, info

    def __len__(self) -> int:
        return max(self.steps - self.start, 0)

    def __iter__(self):
        per_step = self.batch * self.info.world
        for step in range(self.start, self.steps):
            first = step * per_step + self.info.rank * self.batch
            yield list(range(first, first + self.batch))


@torch.no_grad()
def check_ranks_agree(model: nn.Module, device) -> None:
    """Raise unless every DDP rank holds the same weights (max and min of a checksum agree)."""
    total = torch.zeros(1, dtype=torch.float64, device=device)
    for p in model.parameters():
        total += p.detach().double().sum()
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if float(high - low) != 0.0:
        raise PhotoreconError(f"ranks disagree on the weights ({float(low)} vs {float(high)})")
    if dist.get_rank() == 0:
        print(
            f"all {dist.get_world_size()} ranks agree on the weights (checksum {float(total):.6f})"
        )


def wrap_ddp(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """The module DDP-wrapped when distributed, else itself."""
    if info.world <= 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)
