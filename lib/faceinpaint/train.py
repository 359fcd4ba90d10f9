"""One Trainer for every GAN in the repository: steps, EMA, checkpoints, exact resume, DDP, logs.

A method describes *what* one training step is (a :class:`Task`); the :class:`Trainer`
does everything else: seeded data order, device moves, mixed precision, the gradient
step with a non-finite check, EMA copies, logs (``log.jsonl`` + ``log.csv``), sample
grids, atomic checkpoints with every RNG state, and multi-process training through
``torchrun`` (see :mod:`faceinpaint.ddp` for why gradients are averaged explicitly).

Example — a WGAN-GP-style task (``n_critic`` D steps per G step)::

    import torch
    from torch import nn
    from faceinpaint.train import Trainer, TrainerConfig, StepContext

    class TinyGAN:
        ema = {"G": 0.999}                      # Trainer keeps nets["G_ema"]

        def __init__(self, z_dim=8):
            self.z_dim = z_dim
            self.nets = {"G": nn.Sequential(nn.Linear(z_dim, 3 * 8 * 8), nn.Tanh()),
                         "D": nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))}

        def make_optimizers(self):
            return {n: torch.optim.Adam(m.parameters(), 1e-4, betas=(0.0, 0.9)) for n, m in self.nets.items()}

        def train_step(self, batch, step, ctx: StepContext):
            G, D, real = self.nets["G"], self.nets["D"], batch["image"]
            z = torch.randn(len(real), self.z_dim, device=ctx.device)
            with ctx.autocast():
                fake = G(z).view_as(real)
                loss_d = D(fake.detach()).mean() - D(real).mean()
            ctx.optimize("D", loss_d)
            if ctx.every(5):                     # one G step per 5 critic steps
                with ctx.frozen("D"), ctx.autocast():
                    loss_g = -D(G(z).view_as(real)).mean()
                ctx.optimize("G", loss_g)
            return {"d": loss_d.item()}

        def sample(self, n, generator):          # optional: images in [-1, 1] for a grid
            z = torch.randn(n, self.z_dim, generator=generator, device=generator.device)
            return self.nets["G_ema"](z).view(n, 3, 8, 8)

    data = [{"image": torch.rand(3, 8, 8) * 2 - 1} for _ in range(64)]   # any map-style dataset
    Trainer(TinyGAN(), data, TrainerConfig(steps=100, batch_size=16, out_dir="runs/tiny")).fit()
    # multi-process: torchrun --nproc_per_node 2 train_tiny.py  (the same code)

Conventions the Trainer relies on:

* ``batch_size`` is the **global** batch (the paper's): under ``torchrun`` with K processes
  each rank gets ``batch_size / K`` consecutive samples of the same global batch, and
  gradients are averaged — so losses that are means give the same update for any K.
* ``step`` counts completed optimisation steps; ``train_step`` receives 0, 1, 2, ...
  ``ctx.every(k)`` is true on steps 0, k, 2k, ... (lazy regularisation, ``n_critic``).
* Randomness: the Trainer seeds Python, NumPy and torch from ``(seed, rank)`` when a run
  starts and restores all of them on resume; draw noise from the global generators (or
  derive it from ``batch`` indices). Datasets with random augmentation should seed it from
  the sample index for an exact resume with ``num_workers > 0``.
* EMA copies ``nets[f"{name}_ema"]`` are added to ``task.nets`` (if the task did not make
  its own) and checkpointed with the other nets: θ_ema ← β·θ_ema + (1 − β)·θ after every
  step (StyleGAN2 / EXE-GAN's "EMA of G for sampling"; buffers are copied).
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io as _io
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from . import ddp
from . import precision as _precision
from .errors import FaceInpaintError
from .io import atomic_write_text, save_image, torch_save
from .paths import repo_root

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "faceinpaint-trainer/1"


class NonFiniteLossError(FaceInpaintError):
    """A loss was NaN or infinite; training stopped before applying the update."""


class CheckpointError(FaceInpaintError):
    """A checkpoint that is missing, unreadable, or does not match the nets."""


# ----------------------------------------------------------------------------- configuration
@dataclass
class TrainerConfig:
    """How to run a training (what to train is the :class:`Task`'s business).

    ``*_every`` are in steps; 0 disables (a checkpoint is still written at the end).

    ``precision`` (:mod:`faceinpaint.precision`): ``"fp32"``, ``"bf16"`` (autocast on CPU or CUDA)
    or ``"auto"`` (CUDA: bf16 where supported, else fp16 with a GradScaler; CPU: bf16 where the CPU
    has it natively, else fp32); ``None`` → :func:`faceinpaint.precision.training_default`
    (``"fp32"`` unless set by ``faceinpaint train --precision``). The older ``amp`` /
    ``amp_dtype`` pair still works and is CUDA-only (ignored on CPU, so a preset runs anywhere);
    it applies when ``precision`` is ``"fp32"``.
    """

    steps: int = 1000
    batch_size: int = 16            # global batch, split across torchrun processes
    seed: int = 0
    log_every: int = 50
    sample_every: int = 1000
    sample_n: int = 16
    ckpt_every: int = 1000
    amp: bool = False
    amp_dtype: str = "float16"      # "float16" (with a GradScaler) or "bfloat16"
    num_workers: int = 0
    device: str = "auto"            # "auto" → cuda if available else cpu
    out_dir: str = "runs/train"
    progress: bool = True
    precision: str | None = None    # "fp32" | "bf16" | "auto"; None → precision.training_default()

    def __post_init__(self) -> None:
        self.out_dir = str(self.out_dir)
        self.precision = _precision.check(self.precision or _precision.training_default())
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError(f"steps must be ≥ 0 and batch_size ≥ 1, got {self.steps}, {self.batch_size}")
        if self.amp_dtype not in ("float16", "bfloat16"):
            raise ValueError(f"amp_dtype must be 'float16' or 'bfloat16', got {self.amp_dtype!r}")


# ----------------------------------------------------------------------------- the method's side
@runtime_checkable
class Task(Protocol):
    """What a method supplies. Optional members: ``ema``, ``sample``, ``state_dict``/``load_state_dict``.

    * ``nets`` — every module trained or checkpointed, by name (``{"G": g, "D": d}``).
    * ``ema`` — ``{net name: decay}`` (a float or ``decay(step) -> float`` for a ramp-up).
    * ``sample(n, generator) -> Tensor | None`` — ``n×3×H×W`` images in ``[-1, 1]`` for the
      grid; called under ``torch.no_grad()`` with a generator seeded identically each time,
      so successive grids show the same latent codes.
    * ``state_dict()`` / ``load_state_dict(d)`` — extra task state to checkpoint (tensors,
      numbers), e.g. a running path-length mean kept outside the nets.
    """

    nets: dict[str, nn.Module]

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        ...

    def train_step(self, batch: dict[str, Any], step: int, ctx: "StepContext") -> Mapping[str, float]:
        ...


class StepContext:
    """Handed to ``Task.train_step``: the gradient step and the small helpers around it."""

    def __init__(self, trainer: "Trainer") -> None:
        self._trainer = trainer
        self.step = 0
        self.device: torch.device = trainer.device
        self.env: ddp.DistEnv = trainer.env
        self.amp: bool = trainer.amp
        self.amp_dtype: torch.dtype | None = trainer.amp_dtype

    @property
    def nets(self) -> dict[str, nn.Module]:
        return self._trainer.task.nets

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._trainer.optimizers

    def every(self, n: int) -> bool:
        """True on steps 0, n, 2n, ... (lazy regularisation; ``n_critic`` alternation)."""
        return n > 0 and self.step % n == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward pass when the run has it (``config.precision`` bf16/auto,
        or the CUDA-only ``amp``): ``torch.autocast`` on this device; a no-op otherwise."""
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[None]:
        """Turn off ``requires_grad`` of the named nets inside the block.

        For the G step: gradients still flow *through* D to G, but D's own ``.grad`` is not
        computed (saves the work and memory; StyleGAN2's ``requires_grad(D, False)``).
        """
        params = [p for n in names for p in self.nets[n].parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    def optimize(self, name: str, loss: Tensor, *, clip_grad_norm: float | None = None, retain_graph: bool = False) -> None:
        """zero_grad → backward → (average over ranks) → step, for optimizer ``name``.

        A NaN/Inf ``loss`` raises :class:`NonFiniteLossError` before any parameter moves. On
        CUDA with ``amp`` the loss is scaled by the optimizer's own GradScaler, which skips
        steps whose gradients overflow (one scaler per optimizer so that several steps of
        the same optimizer per iteration, e.g. WGAN's critic, each get their update).
        """
        tr = self._trainer
        if name not in tr.optimizers:
            raise KeyError(f"optimize({name!r}): no such optimizer; the task made {sorted(tr.optimizers)}")
        opt = tr.optimizers[name]
        value = float(loss.detach().float())
        bad = not math.isfinite(value)
        if bad and not self.env.distributed:
            raise NonFiniteLossError(f"step {self.step}: the loss given to optimize({name!r}) is {value}")
        opt.zero_grad(set_to_none=True)
        scaler = tr.scalers.get(name)
        if not bad:
            (scaler.scale(loss) if scaler is not None else loss).backward(retain_graph=retain_graph)
        params = tr.opt_params[name]
        if ddp.average_gradients(params, self.env, flag=bad):
            raise NonFiniteLossError(f"step {self.step}: the loss given to optimize({name!r}) is non-finite on some rank")
        if clip_grad_norm is not None:
            if scaler is not None:
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()


# ----------------------------------------------------------------------------- data order
def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integers (``(seed, rank)``, ``(seed, epoch)``...) without collisions
    between neighbouring keys, through NumPy's SeedSequence hashing."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2, np.uint64)[0] >> 1)


class GlobalBatchSampler:
    """An infinite, reproducible stream of this rank's index batches.

    Epoch ``e`` visits the dataset in ``randperm(n, seed=(seed, e))`` order; global batches
    are consecutive runs of ``batch_size`` indices of that endless stream (a batch may span
    two epochs, so no sample is dropped); rank ``r`` of ``K`` gets slice ``r`` of each. The
    whole state is ``position`` (samples consumed), so resuming at step ``s`` means starting
    at ``position = s * batch_size`` — the DataLoader's prefetching never shifts it.
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, rank: int = 0, world_size: int = 1, position: int = 0):
        if n < 1:
            raise ValueError("the dataset is empty")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {world_size} processes")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.position = rank, world_size, position
        self._perm_epoch = -1
        self._perm: list[int] = []

    def _order(self, epoch: int) -> list[int]:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
        return self._perm

    def global_batch(self, position: int) -> list[int]:
        out = []
        for pos in range(position, position + self.batch_size):
            out.append(self._order(pos // self.n)[pos % self.n])
        return out

    def __iter__(self) -> Iterator[list[int]]:
        per_rank = self.batch_size // self.world_size
        pos = self.position
        while True:
            batch = self.global_batch(pos)
            pos += self.batch_size
            yield batch[self.rank * per_rank : (self.rank + 1) * per_rank]


def _collate(items: list) -> dict[str, Any]:
    batch = default_collate(items)
    if isinstance(batch, Tensor):
        return {"image": batch}
    if not isinstance(batch, dict):
        raise TypeError(f"dataset items must be dicts (or image tensors), got {type(items[0]).__name__}")
    return batch


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    nb = device.type == "cuda"
    return {k: (v.to(device, non_blocking=nb) if isinstance(v, Tensor) else v) for k, v in batch.items()}


# ----------------------------------------------------------------------------- RNG state
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) — e.g. before building nets."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every global RNG state, as tensors and plain lists (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# ----------------------------------------------------------------------------- EMA
@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """θ_ema ← β·θ_ema + (1 − β)·θ for parameters; buffers copied (StyleGAN2's ``G_ema``)."""
    ema_p = [p for p in ema.parameters()]
    net_p = [p.detach() for p in net.parameters()]
    if ema_p:
        torch._foreach_lerp_(ema_p, net_p, 1.0 - decay)  # lerp(a, b, w) = a + w(b − a) = β·a + (1 − β)·b
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


# ----------------------------------------------------------------------------- checkpoints
def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a Trainer checkpoint (``weights_only``: no code runs from the file)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 — any unpickling failure is "corrupt" to the user
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [""]
        why = next((ln for ln in lines if "Unsupported global" in ln), lines[0])
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {why[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        what = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a faceinpaint Trainer checkpoint (found {what!r})")
    ckpt["path"] = str(path)
    return ckpt


def read_method_checkpoint(path: str | os.PathLike, method: str, config_key: str, train_hint: str,
                           run_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A method's checkpoint and its config dict ``meta[config_key]``, with one-line errors that
    name the file and say how to train one (shared by every method's loader)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no {method} checkpoint; train one with {train_hint} "
                              f"(then copy {run_dir}/{method}_cpu.pt there, or pass --checkpoint)")
    ckpt = read_checkpoint(path, map_location="cpu")
    cfg = (ckpt.get("meta") or {}).get(config_key)
    if cfg is None:
        raise CheckpointError(f"{path}: not a {method} checkpoint (no {config_key} in its metadata)")
    return ckpt, cfg


def load_net(path_or_ckpt: str | os.PathLike | Mapping, name: str, net: nn.Module, *, prefer_ema: bool = True) -> str:
    """Load net ``name`` (its EMA copy ``name_ema`` when present and ``prefer_ema``) into ``net``.

    Returns the name actually loaded, so a method can say "using G_ema from ...".
    """
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, Mapping) else read_checkpoint(path_or_ckpt)
    where = ckpt.get("path", "checkpoint")
    nets = ckpt["nets"]
    key = f"{name}_ema" if prefer_ema and f"{name}_ema" in nets else name
    if key not in nets:
        raise CheckpointError(f"{where}: has no net {name!r} (it has {', '.join(sorted(nets))})")
    _load_state(net, nets[key], where, key)
    return key


def _load_state(net: nn.Module, state: Mapping, where: Any, name: str) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines()[1:3])
        raise CheckpointError(f"{where}: net {name!r} does not match this model (another preset?): {detail[:300]}") from None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def make_meta(task: Any, config: TrainerConfig, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``checkpoints/README.md`` is written from: method, preset, command, seed, time, commit."""
    meta = {
        "method": getattr(task, "method", type(task).__name__),
        "preset": getattr(task, "preset", None),
        "command": " ".join(sys.argv),
        "seed": config.seed,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "torch": str(torch.__version__),
        "host": socket.gethostname(),
    }
    meta.update(extra or {})
    return meta


# ----------------------------------------------------------------------------- logs
class RunLog:
    """``log.jsonl`` (one JSON object per logged step) and ``log.csv`` (same rows, for pandas/Excel).

    Loss keys may come and go (a lazy R1 term every 16 steps); when a new key appears the
    CSV is rewritten from the JSONL with the wider header.
    """

    def __init__(self, out_dir: Path) -> None:
        self.jsonl, self.csv = out_dir / "log.jsonl", out_dir / "log.csv"
        self.fields: list[str] = []

    def rows(self) -> list[dict[str, Any]]:
        """Logged metric rows (event rows such as a non-finite-loss stop are left out)."""
        if not self.jsonl.exists():
            return []
        rows = [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]
        return [r for r in rows if "event" not in r]

    def truncate(self, step: int) -> None:
        """Drop rows after ``step`` (logged after the checkpoint a resumed run starts from)."""
        rows = [r for r in self.rows() if r.get("step", 0) <= step]
        atomic_write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in rows))
        self._rewrite_csv(rows)

    def _rewrite_csv(self, rows: list[dict[str, Any]]) -> None:
        keys = {k for r in rows for k in r}
        self.fields = [k for k in ("step", "seconds", "images_per_s") if k in keys] + sorted(
            keys - {"step", "seconds", "images_per_s"})
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, restval="")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.csv, buf.getvalue())

    def write(self, row: dict[str, Any]) -> None:
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if not self.fields or not set(row) <= set(self.fields):
            self._rewrite_csv(self.rows())
        else:
            with open(self.csv, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields, restval="").writerow(row)


# ----------------------------------------------------------------------------- the loop
@dataclass
class FitResult:
    step: int                        # steps completed
    checkpoint: Path | None          # the last checkpoint written (rank 0) or loaded
    losses: dict[str, float] = field(default_factory=dict)  # means over the last log window
    images_per_s: float = float("nan")


def _training_precision(config: TrainerConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None, GradScaler?)`` of a run: ``config.precision`` through
    :func:`faceinpaint.precision.training_dtype`; with ``"fp32"``, the legacy CUDA-only ``amp``."""
    dtype, scaler = _precision.training_dtype(config.precision or "fp32", device)
    if dtype is None and config.amp and device.type == "cuda":
        dtype = torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
        scaler = dtype == torch.float16
    return dtype, scaler


def precision_name(dtype: torch.dtype | None) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"``: what a run's forward passes compute in."""
    return _precision.dtype_name(dtype)


class Trainer:
    """Runs a :class:`Task` on a map-style dataset (module docstring for an example).

    ``Trainer(task, dataset, config, meta={"preset": "cpu"})`` then ``.fit(resume=False)``.
    Under ``torchrun`` the constructor joins the process group; only rank 0 writes files.
    """

    def __init__(self, task: Task, dataset: Dataset | Sequence, config: TrainerConfig, *, meta: Mapping[str, Any] | None = None):
        self.task, self.dataset, self.config = task, dataset, config
        self.env, self.device = ddp.setup(config.device)
        self.amp_dtype, use_scaler = _training_precision(config, self.device)
        self.amp = self.amp_dtype is not None
        self.out_dir = Path(config.out_dir)
        self.ckpt_path = self.out_dir / CHECKPOINT_NAME
        self.meta = make_meta(task, config, meta)
        self.meta.setdefault("precision", precision_name(self.amp_dtype))
        if config.batch_size % self.env.world_size:
            raise FaceInpaintError(
                f"batch_size {config.batch_size} cannot be split across {self.env.world_size} processes")
        self.ema_decay: dict[str, float | Callable[[int], float]] = dict(getattr(task, "ema", {}) or {})
        for name in self.ema_decay:
            if name not in task.nets:
                raise ValueError(f"task.ema names net {name!r}, but task.nets has {sorted(task.nets)}")
            if f"{name}_ema" not in task.nets:
                task.nets[f"{name}_ema"] = copy.deepcopy(task.nets[name])
        for name, net in task.nets.items():
            net.to(self.device)
            if name.endswith("_ema") and name[:-4] in self.ema_decay:
                net.eval().requires_grad_(False)
            else:
                net.train()
        self.optimizers = dict(task.make_optimizers())
        self.opt_params = {n: [p for g in o.param_groups for p in g["params"]] for n, o in self.optimizers.items()}
        self.scalers = {n: torch.amp.GradScaler(self.device.type) for n in self.optimizers} if use_scaler else {}
        self._buffers = self._trained_buffers()
        self.step = 0
        self.ctx = StepContext(self)
        self.last_checkpoint: Path | None = None

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (RNG states of every rank)."""
        rngs = ddp.all_gather_object(rng_state(self.device), self.env)
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "nets": {n: m.state_dict() for n, m in self.task.nets.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "config": asdict(self.config),
            "rng": rngs,
            "sampler": {"position": self.step * self.config.batch_size, "seed": self.config.seed,
                        "batch_size": self.config.batch_size, "dataset_len": len(self.dataset)},
            "world_size": self.env.world_size,
            "meta": self.meta,
        }
        if hasattr(self.task, "state_dict"):
            state["task"] = self.task.state_dict()
        return state

    def save_checkpoint(self) -> None:
        """Write ``out_dir/checkpoint.pt`` atomically (rank 0; every rank gathers its RNG)."""
        state = self.state_dict()
        if self.env.is_main:
            torch_save(state, self.ckpt_path)
            self.last_checkpoint = self.ckpt_path
        ddp.barrier(self.env)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore nets, EMA nets, optimizers, scalers, step and this rank's RNG states."""
        ckpt = read_checkpoint(path, map_location=self.device)
        for key in ("seed", "batch_size"):
            if ckpt["config"].get(key) != getattr(self.config, key):
                raise CheckpointError(
                    f"{path}: was trained with {key}={ckpt['config'].get(key)}, this run has {getattr(self.config, key)};"
                    " an exact resume needs the same value")
        for name, net in self.task.nets.items():
            if name not in ckpt["nets"]:
                raise CheckpointError(f"{path}: has no net {name!r} (it has {', '.join(sorted(ckpt['nets']))})")
            _load_state(net, ckpt["nets"][name], path, name)
        for name, opt in self.optimizers.items():
            if name not in ckpt["optimizers"]:
                raise CheckpointError(f"{path}: has no optimizer {name!r}")
            opt.load_state_dict(ckpt["optimizers"][name])
        for name, scaler in self.scalers.items():
            if name in ckpt.get("scalers", {}):
                scaler.load_state_dict(ckpt["scalers"][name])
        if "task" in ckpt and hasattr(self.task, "load_state_dict"):
            self.task.load_state_dict(ckpt["task"])
        self.step = int(ckpt["step"])
        rngs = ckpt["rng"]
        if len(rngs) == self.env.world_size:
            set_rng_state(rngs[self.env.rank], self.device)
        else:  # another process count: data order is unchanged, per-rank noise is re-derived
            self._seed_rngs(salt=self.step)
        self.last_checkpoint = Path(path)

    def _seed_rngs(self, salt: int = 0) -> None:
        seed_everything(derive_seed(self.config.seed, self.env.rank, salt))

    # -- the loop --------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        sampler = GlobalBatchSampler(len(self.dataset), self.config.batch_size, self.config.seed,
                                     rank=self.env.rank, world_size=self.env.world_size,
                                     position=self.step * self.config.batch_size)
        # an explicit generator: otherwise creating the iterator draws from the global RNG
        # and a resumed run would diverge from an uninterrupted one
        gen = torch.Generator().manual_seed(derive_seed(self.config.seed, self.env.rank, self.step, 7))
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.config.num_workers,
                          collate_fn=_collate, pin_memory=self.device.type == "cuda", generator=gen,
                          persistent_workers=False)

    def _sync_start(self) -> None:
        for net in self.task.nets.values():
            ddp.broadcast_module(net, self.env)

    def _trained_buffers(self) -> list[Tensor]:
        """Buffers of the nets some optimizer trains (BatchNorm statistics, spectral-norm u)."""
        owned = {id(p) for ps in self.opt_params.values() for p in ps}
        nets = [m for m in self.task.nets.values() if any(id(p) in owned for p in m.parameters())]
        return [b for m in nets for b in m.buffers()]

    def _sync_buffers(self) -> None:
        if self.env.distributed:  # like DDP's broadcast_buffers: rank 0's statistics win
            ddp.broadcast_tensors(self._buffers, self.env)

    def _update_ema(self) -> None:
        for name, decay in self.ema_decay.items():
            beta = decay(self.step) if callable(decay) else decay
            ema_update(self.task.nets[f"{name}_ema"], self.task.nets[name], float(beta))

    def _sample(self) -> None:
        sample = getattr(self.task, "sample", None)
        if sample is None or not self.env.is_main:
            return
        from torchvision.utils import make_grid

        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():  # never perturbs the training RNG
            gen = torch.Generator(self.device).manual_seed(self.config.seed)
            images = sample(self.config.sample_n, gen)
        if images is None:
            return
        grid = make_grid(images.detach().float().clamp(-1, 1).cpu(), nrow=math.ceil(math.sqrt(len(images))),
                         padding=2, pad_value=1.0)
        save_image(grid, self.out_dir / "samples" / f"step_{self.step:07d}.png")

    def _due(self, every: int) -> bool:
        return every > 0 and self.step % every == 0

    def fit(self, resume: bool = False) -> FitResult:
        """Train up to ``config.steps``; ``resume=True`` continues from ``out_dir/checkpoint.pt``
        (starting fresh when there is none; returning at once when it is already at ``steps``).
        Without ``resume`` an existing checkpoint is never overwritten: that is an error.
        Raises :class:`NonFiniteLossError` (the last good checkpoint is left as it was) on a
        NaN/Inf loss. Under torchrun a process group started by the Trainer ends here."""
        try:
            return self._fit(resume)
        finally:
            ddp.cleanup(self.env)

    def _fit(self, resume: bool) -> FitResult:
        from tqdm.auto import tqdm

        cfg, main = self.config, self.env.is_main
        log = RunLog(self.out_dir)
        if resume and self.ckpt_path.exists():
            self.load_checkpoint(self.ckpt_path)
        else:
            if self.ckpt_path.exists():
                raise FaceInpaintError(
                    f"{self.ckpt_path}: a checkpoint is already there; resume it (--resume) or choose another out_dir")
            self._seed_rngs()
            self._sync_start()
            self.step = 0
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            log.truncate(self.step)
        result = FitResult(self.step, self.last_checkpoint)
        if self.step >= cfg.steps:
            return result

        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        t0 = time.perf_counter()
        t_win, steps_win = t0, 0
        seconds_before = self._seconds_so_far(log)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (main and cfg.progress), dynamic_ncols=True,
                   desc=str(self.meta.get("method", "train")))
        batches = iter(self._loader())
        try:
            while self.step < cfg.steps:
                batch = _to_device(next(batches), self.device)
                self.ctx.step = self.step
                try:
                    losses = self.task.train_step(batch, self.step, self.ctx)
                except NonFiniteLossError as e:
                    raise self._stopped(e, log) from None
                self._sync_buffers()
                self.step += 1
                self._update_ema()
                for k, v in (losses or {}).items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                    counts[k] = counts.get(k, 0) + 1
                steps_win += 1
                bar.update(1)
                if self._due(cfg.log_every) or self.step == cfg.steps:
                    now = time.perf_counter()
                    means = self._mean_losses(sums, counts)
                    ips = steps_win * cfg.batch_size / max(now - t_win, 1e-9)
                    if main:
                        row = {"step": self.step, "seconds": round(seconds_before + now - t0, 3),
                               "images_per_s": round(ips, 2), **{k: round(v, 6) for k, v in means.items()}}
                        log.write(row)
                        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
                    result.losses, result.images_per_s = means, ips
                    sums, counts, t_win, steps_win = {}, {}, time.perf_counter(), 0
                if self._due(cfg.sample_every):
                    self._sample()
                if self._due(cfg.ckpt_every) or self.step == cfg.steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            del batches  # shuts worker processes down
        result.step, result.checkpoint = self.step, self.last_checkpoint
        return result

    def _mean_losses(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
        """Window means, averaged over ranks (each rank saw its own slice of the batch)."""
        parts = ddp.all_gather_object((sums, counts), self.env)
        tot_s: dict[str, float] = {}
        tot_c: dict[str, int] = {}
        for s, c in parts:
            for k in s:
                tot_s[k] = tot_s.get(k, 0.0) + s[k]
                tot_c[k] = tot_c.get(k, 0) + c[k]
        return {k: tot_s[k] / tot_c[k] for k in sorted(tot_s)}

    @staticmethod
    def _seconds_so_far(log: RunLog) -> float:
        rows = log.rows() if log.jsonl.exists() else []
        return float(rows[-1].get("seconds", 0.0)) if rows else 0.0

    def _stopped(self, err: NonFiniteLossError, log: RunLog) -> NonFiniteLossError:
        """The one-line message for a non-finite loss; nothing is saved from the bad state."""
        if self.last_checkpoint is not None:
            kept = f"the last good checkpoint {self.last_checkpoint} is kept"
        else:
            kept = "no checkpoint was written yet"
        msg = f"{self.out_dir}: training stopped, {err} — {kept} (try a lower learning rate or amp off)"
        if self.env.is_main:
            with open(log.jsonl, "a") as f:
                f.write(json.dumps({"step": self.step, "event": "non_finite_loss", "message": str(err)}) + "\n")
        return NonFiniteLossError(msg)
