"""Data-parallel training across processes started by ``torchrun``.

Every rank draws the same global batch order and trains on its slice ``batch[rank::world]``;
after a step's backward passes the gradients of all parameters are averaged with one
all-reduce, exactly the reduction DistributedDataParallel performs, so every rank takes the
same optimizer step and the replicas stay identical. (One flat all-reduce per step, rather
than DDP's per-bucket hooks, because one step runs several sub-nets whose parameter sets
differ; DDP would need ``find_unused_parameters`` and ``no_sync`` bookkeeping per sub-net.)
Backend: ``gloo`` on CPU, ``nccl`` on CUDA. Only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from pimsim.errors import PimsimError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.world == 1 else x[self.rank::self.world]

    def average_gradients(self, model: nn.Module) -> None:
        """Average every parameter's gradient over all ranks (missing gradients count as 0)."""
        if self.world == 1:
            return
        params = list(model.parameters())
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n


    def check_replicas(self, model: nn.Module) -> None:
        """Raise if any rank's parameters differ from rank 0's (they must stay identical)."""
        if self.world == 1:
            return
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, 0)
        diff = (flat - ref).abs().max()
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        if float(diff) > 0:
            raise PimsimError(f"distributed: replicas diverged (max difference {float(diff):g})")


    def close(self) -> None:
        """Wait for every rank (rank 0 writes the outputs), then leave the process group, so
        no rank exits while another still talks to it."""
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def init_distributed(device: str) -> DistContext:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank()
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    return DistContext(rank=rank, world=dist.get_world_size())
