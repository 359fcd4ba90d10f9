"""Numeric precision of inference and training: ``fp32``, ``bf16`` or ``auto``, in one place.

The networks of this repository are convolutional; on a CPU with native bfloat16 dot products
(AVX512-BF16 or AMX, e.g. AMD Zen 4, Intel Sapphire Rapids) and on CUDA they run about twice
as fast under ``torch.autocast`` with bfloat16. ``benchmarks/bench_speed.py`` measures it.

Inference (:func:`faceinpaint.methods.get` ``precision=``, ``faceinpaint inpaint / evaluate
--precision``, the app):

* ``fp32`` — float32 everywhere (the library default, as ``align="off"`` is: notebooks and the
  numbers in ``checkpoints/README.md`` are float32).
* ``bf16`` — every network of the method runs under bfloat16 autocast, on any device (on a CPU
  without native bfloat16 it is emulated and *slower*; ``auto`` avoids that).
* ``auto`` (the CLI's and the app's default) — ``bf16`` where the hardware has it natively **and**
  the method is in :data:`AUTO_BF16`, i.e. its shipped checkpoints keep the protocol metrics
  within :data:`PSNR_BOUND` dB and :data:`SSIM_BOUND` of float32 (``tests/test_precision.py``
  measures it on every checkpoint in ``checkpoints/``), **and** the model works at a resolution
  where bf16 pays (:data:`AUTO_MIN_SIZE`); float32 otherwise.

Only the networks change precision: :func:`apply` wraps the entry points (``forward`` and the
public methods of its class, e.g. refattr's ``G.encode``/``G.decode``) of each network the
Inpainter holds so that they run under autocast and return float32. Everything between the
networks — landmark geometry, Poisson blending and the composite ``image ⊙ known + pred ⊙ hole``
— stays float32, so every known pixel is returned bit for bit. A method that manages its own
precision defines ``set_precision(dtype)`` instead (``wgan_completion``: its latent search keeps
z, Adam and the loss in float32 and runs bfloat16 copies of the prior networks).

Training (:class:`faceinpaint.train.TrainerConfig` ``precision=``, ``faceinpaint train
--precision``): ``fp32`` (default), ``bf16`` (CPU or CUDA autocast, no loss scaling needed) or
``auto`` (CUDA: bf16 where supported, else fp16 with a GradScaler per optimizer; CPU: bf16 where
native, else fp32). Training stays float32 by default: that a bf16 run learns as well as a
float32 one is not shown for every preset (``bench_speed.py`` measures only the speed).
:func:`training` sets the default for the ``TrainerConfig`` objects created inside it, which is
how the CLI's ``--precision`` reaches a method's ``fit()`` without each method passing it on.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from .errors import FaceInpaintError

PRECISIONS = ("fp32", "bf16", "auto")

# The accuracy bound of issue 19: protocol metrics on bf16 composites within these of float32's.
PSNR_BOUND = 0.1     # dB
SSIM_BOUND = 0.002

# Methods whose ``auto`` is bfloat16 (on hardware that has it). Each entry was measured by
# tests/test_precision.py on its shipped checkpoints (mean over the test faces and the protocol's
# bins, |bf16 − fp32|; see README.md "Speed and precision"); a method missing here stays float32
# under ``auto`` until its checkpoint has been measured.
AUTO_BF16: dict[str, str] = {
    "lafin": "lafin_cpu / _noattention / _nolandmarks: worst per-bin |ΔPSNR| 0.070 dB, |ΔSSIM| 0.0015 "
             "(8 faces × 6 bins, 128 px; 2026-12-02)",
    "refattr": "refattr_cpu / _noattr: worst per-bin |ΔPSNR| 0.043 dB, |ΔSSIM| 0.0009 (8 faces × 6 bins, 128 px; "
               "2026-12-02)",
    "exegan": "exegan_cpu / _nosvglattr / _nosvgllpips: worst per-bin |ΔPSNR| 0.008 dB, |ΔSSIM| 0.0002 (8 faces × 6 "
              "bins, 128 px; 2026-12-02)",
}
# Not in AUTO_BF16, measured: wgan_completion and yeh. Their latent search is chaotic: any rounding
# change (bf16, or only the channels-last fp32 kernels) moves each face's result by ≈ 0.4 dB PSNR /
# 0.012 SSIM (per-face SD; seeds: 2.9 dB / 0.036), so a mean over a few faces cannot be shown within
# the bound, although bf16 is unbiased (16 faces: −0.03 ± 0.11 dB, +0.0007 ± 0.003 SSIM against fp32).
# ``--precision bf16`` is theirs to choose: the fast search in bf16 is 2.1× faster than the search before
# issue 19 at batch 16, 1.4× at batch 1 (fp32 fast search: 1.3× / 1.2×; bench_speed.py, 2026-12-02).

# ``auto`` keeps float32 for models that work below this side (``model.size``, pixels): there the
# casts cost what the bf16 convolutions save. bench_speed.py on one core of an AMD EPYC with
# AVX512-BF16, 2026-12-02, CPU time per 256-px face, fp32/bf16: the shipped cpu nets — lafin at
# 64 px 0.93×, EXE-GAN at 64 px 0.93×, refattr at 128 px 0.99× — against the paper nets at 256 px:
# lafin 1.89×, EXE-GAN 1.86×, refattr 1.44×.
AUTO_MIN_SIZE = 256


# ----------------------------------------------------------------------------- hardware
def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


@functools.lru_cache(maxsize=1)
def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 dot products natively (AVX512-BF16 or AMX-BF16).

    Asks PyTorch (``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported``, private
    but present since 2.1), else reads the flags of ``/proc/cpuinfo``.
    """
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except Exception:  # noqa: BLE001 — a probe that fails means "unknown": try the next
                pass
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


def cuda_bf16_supported(device: torch.device | str = "cuda") -> bool:
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        return False
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


# ----------------------------------------------------------------------------- settings
def check(precision: str) -> str:
    """``precision`` itself when it is one of :data:`PRECISIONS`, else a one-line error."""
    if precision not in PRECISIONS:
        raise FaceInpaintError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


def dtype_name(dtype: torch.dtype | None) -> str:
    """``None``/float32 → ``"fp32"``, bfloat16 → ``"bf16"``, float16 → ``"fp16"``."""
    return {None: "fp32", torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def resolve(precision: str, device: torch.device | str = "cpu", method: str | None = None,
            model: Any = None) -> torch.dtype | None:
    """The autocast dtype of *inference* for ``precision`` on ``device`` (``None`` = float32).

    ``method`` (a registry name) and ``model`` (the Inpainter) matter for ``auto`` only: bfloat16
    only for methods in :data:`AUTO_BF16`, for models working at :data:`AUTO_MIN_SIZE` px or more
    (``model.size``; a model without one counts as large), and only where the device has it natively (a CPU with AVX512-BF16 / AMX, a CUDA
    GPU with bf16); ``method=None`` / ``model=None`` skip those two questions.
    """
    check(precision)
    dev = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if method is not None and method not in AUTO_BF16:
        return None
    if _too_small(model):
        return None
    if dev.type == "cpu":
        return torch.bfloat16 if cpu_bf16_supported() else None
    if dev.type == "cuda":
        return torch.bfloat16 if cuda_bf16_supported(dev) else None
    return None


def describe(precision: str, device: torch.device | str = "cpu", method: str | None = None,
             model: Any = None) -> str:
    """One phrase for logs and JSON, e.g. ``"bf16 (auto: native bf16 on this CPU)"``."""
    dtype = resolve(precision, device, method, model)
    name = dtype_name(dtype)
    if precision != "auto":
        return name
    dev = torch.device(device)
    native = cpu_bf16_supported() if dev.type == "cpu" else cuda_bf16_supported(dev)
    if method is not None and method not in AUTO_BF16:
        why = f"{method} is not validated in bf16"
    elif _too_small(model):
        why = f"works at {model.size} px, too small to gain (AUTO_MIN_SIZE {AUTO_MIN_SIZE})"
    elif native:
        why = f"native bf16 on this {dev.type.upper() if dev.type == 'cuda' else 'CPU'}"
    else:
        why = f"no native bf16 on this {dev.type}"
    return f"{name} (auto: {why})"


def autocast(dtype: torch.dtype | None, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``'s type; a no-op for ``None`` (float32)."""
    dev = torch.device(device)
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dtype)


# ----------------------------------------------------------------------------- inference
def _to_float32(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() and out.dtype != torch.float32 else out
    if isinstance(out, tuple):
        vals = [_to_float32(v) for v in out]
        return type(out)(*vals) if hasattr(out, "_fields") else tuple(vals)
    if isinstance(out, list):
        return [_to_float32(v) for v in out]
    if isinstance(out, dict):
        return {k: _to_float32(v) for k, v in out.items()}
    return out


class AutocastMethod:
    """One entry point of one network instance (``forward``, ``encode``, ``decode`` …) replaced on
    that instance: the class's function under autocast, outputs cast back to float32. A plain
    object (not a closure) so that a model can still be deep-copied (the copy's entry points then
    belong to the copy) and pickled."""

    def __init__(self, net: nn.Module, attr: str, dtype: torch.dtype, device_type: str):
        self.net, self.attr, self.dtype, self.device_type = net, attr, dtype, device_type

    def __call__(self, *args, **kwargs):
        fn = getattr(type(self.net), self.attr)
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            out = fn(self.net, *args, **kwargs)
        return _to_float32(out)


def entry_points(net: nn.Module) -> list[str]:
    """``forward`` and the public methods the network's own classes define (not ``nn.Module``'s):
    what an Inpainter may call on it (refattr's ``G.encode`` / ``G.decode``, EXE-GAN's
    ``G.stochastic_styles`` …)."""
    names = ["forward"]
    for klass in type(net).__mro__:
        if klass in (nn.Module, object):
            break
        for k, v in vars(klass).items():
            if inspect.isfunction(v) and not k.startswith("_") and k not in names:
                names.append(k)
    return names


def _too_small(model: Any) -> bool:
    size = getattr(model, "size", None)
    return isinstance(size, int) and size < AUTO_MIN_SIZE


def _nets(model: Any) -> list[nn.Module]:
    """The networks an Inpainter holds: its ``nn.Module`` attributes (and those in dicts/lists)."""
    found: list[nn.Module] = []
    for value in getattr(model, "__dict__", {}).values():   # an object without attributes holds no networks
        items = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else [value]
        for v in items:
            if isinstance(v, nn.Module) and all(v is not f for f in found):
                found.append(v)
    return found


def set_network_precision(net: nn.Module, dtype: torch.dtype | None, device: torch.device | str) -> None:
    """Run ``net``'s entry points (:func:`entry_points`) under autocast ``dtype`` from now on
    (``None``: float32 again, as built). Submodules called from inside them follow the autocast."""
    for k in [k for k, v in net.__dict__.items() if isinstance(v, AutocastMethod)]:
        del net.__dict__[k]
    if dtype is not None and dtype != torch.float32:
        dev_type = torch.device(device).type
        for k in entry_points(net):
            net.__dict__[k] = AutocastMethod(net, k, dtype, dev_type)


def apply(model: Any, precision: str = "fp32", device: torch.device | str = "cpu", *, method: str | None = None) -> Any:
    """Set the inference precision of an Inpainter (in place; returns it) and record it.

    ``model.set_precision(dtype)`` when the method has one; else each network it holds runs under
    autocast (:func:`set_network_precision`). ``model.precision`` is then ``"fp32"``, ``"bf16"`` or
    ``"fp16"`` — what actually runs (``"fp32"`` for a method without networks, e.g. Telea).
    """
    dtype = resolve(precision, device, method, model)
    setter = getattr(model, "set_precision", None)
    if callable(setter):
        used = setter(dtype)
        name = dtype_name(used if isinstance(used, torch.dtype) else dtype)
    else:
        nets = _nets(model)
        for net in nets:
            set_network_precision(net, dtype, device)
        name = dtype_name(dtype) if nets else "fp32"
    try:
        model.precision = name
    except AttributeError:  # a read-only attribute: the setting still applies
        pass
    return model


# ----------------------------------------------------------------------------- training
_TRAINING_DEFAULT: contextvars.ContextVar[str] = contextvars.ContextVar("faceinpaint_training_precision",
                                                                          default="fp32")


def training_default() -> str:
    """The precision a :class:`~faceinpaint.train.TrainerConfig` gets when none is given."""
    return _TRAINING_DEFAULT.get()


@contextlib.contextmanager
def training(precision: str) -> Iterator[None]:
    """Inside the block, ``TrainerConfig()`` defaults to ``precision`` (the CLI's ``train --precision``)."""
    token = _TRAINING_DEFAULT.set(check(precision))
    try:
        yield
    finally:
        _TRAINING_DEFAULT.reset(token)


def training_dtype(precision: str, device: torch.device | str) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None, whether a GradScaler is needed)`` for training on ``device``.

    ``bf16``: bfloat16 autocast on CPU and CUDA (no scaling: bf16 has float32's range). ``auto``:
    CUDA → bf16 where supported, else fp16 with a GradScaler; CPU → bf16 where native, else float32.
    """
    check(precision)
    dev = torch.device(device)
    if precision == "fp32":
        return None, False
    if precision == "bf16":
        return torch.bfloat16, False
    if dev.type == "cuda":
        return (torch.bfloat16, False) if cuda_bf16_supported(dev) else (torch.float16, True)
    if dev.type == "cpu" and cpu_bf16_supported():
        return torch.bfloat16, False
    return None, False
