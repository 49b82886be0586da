"""Data-parallel training through PyTorch's own engine (``torchrun`` + DistributedDataParallel).

``torchrun --nproc_per_node K -m nervkit.export.train_cli ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; each
process then trains on its share of every batch and DDP averages gradients, so K processes with per-process
batch ``B / K`` step exactly like one process with batch ``B``. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> Dist:
    """Join the process group when launched by torchrun; a no-op ``Dist()`` otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Dist(dist.get_rank(), dist.get_world_size())


def teardown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
