"""One code path for one CPU process and for `torchrun` on many GPUs or machines.

`torchrun` sets RANK, LOCAL_RANK and WORLD_SIZE; when they are absent we run alone. Backend: nccl
on CUDA, gloo on CPU. Models are wrapped in DistributedDataParallel; nothing home-made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str = "auto", local_rank: int = 0) -> torch.device:
    """`auto` takes the GPU of this local rank when there is one, else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(requested)


def setup_distributed(device: str = "auto") -> DistributedContext:
    """Initialise the process group when launched by torchrun; a no-op for a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, local_rank, world_size, chosen)


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """DDP when distributed, with DDP's default find_unused_parameters=False: every parameter must
    get a gradient in every step (DDP reports a parameter that did not at the next step)."""
    model = model.to(context.device)
    if not context.is_distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def mean_across_ranks(value: float, context: DistributedContext) -> float:
    """Average a scalar metric over all ranks (for logging)."""
    if not context.is_distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


@torch.no_grad()
def replica_divergence(model: torch.nn.Module, context: DistributedContext) -> float:
    """Largest difference of any parameter or buffer between ranks (0.0 when the replicas agree).

    A cheap check that data-parallel training kept every replica identical: all-reduce the
    element-wise max and min and compare them.
    """
    if not context.is_distributed:
        return 0.0
    tensors = [t.detach().float().flatten() for t in list(model.parameters()) + list(model.buffers())]
    flat = torch.cat(tensors).to(context.device)
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).abs().max().item())
