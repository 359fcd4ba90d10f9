"""Multi-process training through ``torchrun`` — the few collectives the Trainer needs.

``torchrun --nproc_per_node K script.py`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`setup` reads them and starts the process group
(``nccl`` on CUDA, ``gloo`` on CPU). Without them everything here is a no-op for one process.

Why explicit gradient averaging instead of wrapping nets in ``DistributedDataParallel``:
a GAN step calls G in the D step (output detached) and again in the G step, calls D
inside the G loss with D's parameters frozen, and runs lazy regularisers on some steps
only. DDP's reducer expects every forward to be followed by one backward over the same
parameters, so each of these needs ``find_unused_parameters=True`` plus ``no_sync`` or
calls to the unwrapped module — easy to get wrong, and wrong silently. Here the nets stay
plain modules, the task code is identical on 1 or K processes, and after each
``backward`` the gradients of the parameters of the optimizer about to step are averaged
(one coalesced ``all_reduce``). The price is no overlap of communication with the
backward pass — negligible at this repository's scale. Like DDP's defaults, parameters
and buffers are broadcast from rank 0 at the start, and buffers (BatchNorm statistics,
spectral-norm vectors) again after every step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: its rank among ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # True when :func:`setup` started the process group (and should end it)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str | torch.device, local_rank: int = 0) -> torch.device:
    """``"auto"`` → CUDA when available else CPU; a bare ``"cuda"`` → this process's GPU."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup(device: str | torch.device = "auto") -> tuple[DistEnv, torch.device]:
    """Join the process group described by torchrun's variables (no-op for one process).

    Returns the process's :class:`DistEnv` and its device (``cuda:LOCAL_RANK`` on GPUs).
    A group the caller already started is reused and left to the caller to end.
    """
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", 0))
        env = DistEnv(dist.get_rank(), dist.get_world_size(), local, owns_group=False)
        dev = resolve_device(device, local)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        return env, dev
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    local = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device, local)
    if world <= 1:
        return DistEnv(), dev
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    kwargs = {"device_id": dev} if dev.type == "cuda" else {}
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world, **kwargs)
    return DistEnv(rank, world, local, owns_group=True), dev


def cleanup(env: DistEnv) -> None:
    """End the process group if :func:`setup` started it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def _coalesced(tensors: Sequence[torch.Tensor], collective: Callable[[torch.Tensor], None]) -> None:
    """Run ``collective`` on one flat buffer per dtype, then copy the results back in place.

    One collective per dtype instead of one per tensor: a StyleGAN2 generator has ~200
    parameter tensors.
    """
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        collective(flat)
        offset = 0
        for t in group:
            n = t.numel()
            t.detach().copy_(flat[offset : offset + n].view_as(t))
            offset += n


def broadcast_tensors(tensors: Iterable[torch.Tensor], env: DistEnv, src: int = 0) -> None:
    """Overwrite ``tensors`` on every rank with rank ``src``'s values."""
    tensors = list(tensors)
    if env.distributed and tensors:
        _coalesced(tensors, lambda flat: dist.broadcast(flat, src))


def broadcast_module(module: nn.Module, env: DistEnv, *, buffers_only: bool = False) -> None:
    """Make every replica equal to rank 0's (parameters and buffers, or buffers only)."""
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    broadcast_tensors(tensors, env)


def average_gradients(params: Sequence[nn.Parameter], env: DistEnv, *, flag: bool = False) -> bool:
    """Average ``.grad`` over ranks in place; return True when any rank raised ``flag``.

    One ``all_reduce`` carries the gradients, one presence bit per parameter and the flag
    (the Trainer's "non-finite loss" signal, so that every rank stops together instead of
    one rank raising while the others wait in the collective). A parameter that got a
    gradient on some ranks only is averaged with zeros from the others (what DDP with
    ``find_unused_parameters=True`` does); one that got none anywhere keeps ``grad=None``
    so the optimizer skips it, as in single-process training.
    """
    if not env.distributed:
        return flag
    device = params[0].device
    dtype = torch.float32
    present = [p.grad is not None for p in params]
    parts = [
        (p.grad.detach().reshape(-1).to(dtype) if p.grad is not None else torch.zeros(p.numel(), device=device, dtype=dtype))
        for p in params
    ]
    bits = torch.tensor([float(x) for x in present] + [float(flag)], device=device, dtype=dtype)
    flat = torch.cat([*parts, bits])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    bits = flat[-len(bits):].tolist()
    offset = 0
    for p, got in zip(params, bits[:-1]):
        n = p.numel()
        if got > 0:
            avg = flat[offset : offset + n].view_as(p).div_(env.world_size).to(p.dtype)
            if p.grad is None:
                p.grad = avg.clone()
            else:
                p.grad.copy_(avg)
        offset += n
    return bits[-1] > 0


def all_gather_object(obj, env: DistEnv) -> list:
    """Every rank's ``obj`` (a list of one element on a single process)."""
    if not env.distributed:
        return [obj]
    out: list = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()
