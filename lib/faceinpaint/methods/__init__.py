"""The method registry: every inpainting method by name, imported lazily.

>>> from faceinpaint import methods
>>> methods.available()            # only the methods whose module is present
>>> m = methods.get("telea")        # an Inpainter
>>> m = methods.get("lafin", checkpoint="runs/lafin/last.pt", device="cuda")
>>> m = methods.get("lafin", align="auto")  # faces in the wild: detect, align, inpaint, paste back
>>> m = methods.get("lafin", precision="auto")  # bf16 networks where the hardware has them (faceinpaint.precision)

A learned method's module exposes ``build(checkpoint=None, device="cpu", **kw)`` and
``train(preset, data, out, resume, seed) -> Path``. Without a checkpoint, :func:`get`
passes the method's shipped CPU checkpoint ``checkpoints/<method>_cpu.pt``. Modules are
imported on first use only, so ``faceinpaint --help`` or a classical baseline never pays
for (or breaks on) a learned method's imports.

``align``: ``"off"`` (the library default: the method sees the image as it is, e.g. the aligned
CelebA test split) or ``"auto"`` (:class:`faceinpaint.align.AlignedInpainter` around the method:
each face meeting the hole is detected, aligned to the training template at the method's
``.size``, inpainted and pasted back). The CLI's default is :func:`default_align`: ``auto`` for
learned methods, ``off`` for classical ones.
"""
from __future__ import annotations

import importlib
import inspect
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import FaceInpaintError
from ..paths import checkpoints_dir
from .base import Guide, Inpainter, composite  # noqa: F401


@dataclass(frozen=True)
class MethodSpec:
    """Where a method lives: ``module.builder`` builds it; ``trainer`` (if any) trains it.

    ``checkpoint_stem`` names the shipped checkpoint ``checkpoints/<stem>_cpu.pt`` (the Yeh
    baseline uses the WGAN prior of ``wgan_completion``); ``None`` = needs no checkpoint.
    ``builder_kw`` are fixed keyword arguments for the builder.
    """

    name: str
    module: str
    builder: str = "build"
    trainer: str | None = "train"
    checkpoint_stem: str | None = None
    builder_kw: tuple[tuple[str, object], ...] = ()
    summary: str = ""


_M = "faceinpaint.methods."
SPECS: dict[str, MethodSpec] = {s.name: s for s in [
    MethodSpec("telea", _M + "classical", "build", None, None, (("name", "telea"),),
               "OpenCV fast-marching inpainting (Telea 2004)"),
    MethodSpec("navier_stokes", _M + "classical", "build", None, None, (("name", "navier_stokes"),),
               "OpenCV Navier–Stokes inpainting (Bertalmío et al. 2001)"),
    MethodSpec("biharmonic", _M + "classical", "build", None, None, (("name", "biharmonic"),),
               "scikit-image biharmonic inpainting"),
    MethodSpec("wgan_completion", _M + "wgan_completion", "build", "train", "wgan_completion",
               summary="Vitoria et al.: WGAN-GP prior + latent optimisation + Poisson blending"),
    MethodSpec("yeh", _M + "wgan_completion", "build_yeh", None, "wgan_completion",
               summary="Yeh et al.'s semantic inpainting on the wgan_completion prior (its baseline)"),
    MethodSpec("lafin", _M + "lafin", checkpoint_stem="lafin",
               summary="Yang et al.: landmark-guided face inpainting"),
    MethodSpec("refattr", _M + "refattr", checkpoint_stem="refattr",
               summary="reference-guided inpainting with facial attributes (LBAM)"),
    MethodSpec("exegan", _M + "exegan", checkpoint_stem="exegan",
               summary="Lu et al.: EXE-GAN, exemplar-guided diverse inpainting"),
]}

CLASSICAL = ("telea", "navier_stokes", "biharmonic")


def _spec(name: str) -> MethodSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise FaceInpaintError(f"unknown method {name!r} (known: {', '.join(SPECS)})") from None


def _present(spec: MethodSpec) -> bool:
    """Whether the method's module file exists (found without importing it)."""
    try:
        found = importlib.util.find_spec(spec.module)
    except ModuleNotFoundError:
        return False
    # a folder without __init__.py (a paper being written) is a namespace package: not a method yet
    return found is not None and found.origin is not None


def _module(spec: MethodSpec):
    if not _present(spec):
        raise FaceInpaintError(f"method {spec.name!r} is not implemented yet (no module {spec.module})")
    return importlib.import_module(spec.module)


def _attr(spec: MethodSpec, attr: str):
    fn = getattr(_module(spec), attr, None)
    if fn is None:
        raise FaceInpaintError(f"method {spec.name!r} is not implemented yet ({spec.module} has no {attr}())")
    return fn


def names() -> list[str]:
    """Every registered method name, implemented or not."""
    return list(SPECS)


def available() -> list[str]:
    """Registered methods whose module is present, in registry order."""
    return [n for n, s in SPECS.items() if _present(s)]


def trainable() -> list[str]:
    """Available methods that have a ``train`` entry point."""
    return [n for n in available() if SPECS[n].trainer is not None]


def default_checkpoint(name: str) -> Path | None:
    """The shipped CPU checkpoint ``checkpoints/<method>_cpu.pt`` (``None`` for classical methods)."""
    spec = _spec(name)
    return None if spec.checkpoint_stem is None else checkpoints_dir() / f"{spec.checkpoint_stem}_cpu.pt"


def resolve_checkpoint(name: str, checkpoint: str | Path | None) -> Path | None:
    """The checkpoint :func:`get` would use, checked to exist; a clear error if it does not."""
    spec = _spec(name)
    if spec.checkpoint_stem is None:
        if checkpoint is not None:
            raise FaceInpaintError(f"{checkpoint}: method {name!r} takes no checkpoint (it is not learned)")
        return None
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise FaceInpaintError(f"{path}: checkpoint for method {name!r} not found")
        return path
    path = default_checkpoint(name)
    if not path.is_file():
        stem = spec.checkpoint_stem
        raise FaceInpaintError(
            f"{path}: no shipped CPU checkpoint for method {name!r}; train one with "
            f"`faceinpaint train --method {stem} --preset cpu --out checkpoints` and pass it with --checkpoint"
        )
    return path


def default_align(name: str) -> str:
    """The CLI's ``--align`` default: ``"auto"`` for a learned method (trained on aligned crops), ``"off"`` else."""
    return "off" if _spec(name).checkpoint_stem is None else "auto"


def get(name: str, checkpoint: str | Path | None = None, device: str = "cpu", *, preset: str | None = None,
        align: str = "off", face_box: tuple[int, int, int, int] | None = None, precision: str = "fp32",
        **kw) -> Inpainter:
    """Build the method ``name`` as an :class:`~faceinpaint.methods.base.Inpainter`.

    ``preset`` ("smoke", "cpu", "paper") selects a learned method's *inference* settings
    (e.g. the number of latent-search iterations of ``wgan_completion``); methods without
    such settings ignore it. ``align="auto"`` wraps the method in
    :class:`~faceinpaint.align.AlignedInpainter` (``face_box`` ``(x, y, w, h)``: the face to use
    when dlib finds none meeting the hole); ``"off"`` (default) returns the method itself.
    ``precision``: ``"fp32"`` (the library default), ``"bf16"`` or ``"auto"`` — the networks'
    precision (:func:`faceinpaint.precision.apply`; the composite stays float32, known pixels exact);
    the method's ``.precision`` says what runs. The CLI and the app default to ``"auto"``.
    Raises :class:`~faceinpaint.errors.FaceInpaintError` for an unknown name, align mode or precision, a
    method whose module is not written yet, or a missing checkpoint (naming the file and the
    train command).
    """
    from .. import align as align_mod
    from .. import precision as precision_mod

    precision_mod.check(precision)
    if align not in align_mod.MODES:
        raise FaceInpaintError(f"align={align!r}: choose one of {', '.join(align_mod.MODES)}")
    if face_box is not None and align != "auto":
        raise FaceInpaintError("a face box is used only with align='auto' (--face-box needs --align auto)")
    spec = _spec(name)
    builder = _attr(spec, spec.builder)
    ckpt = resolve_checkpoint(name, checkpoint)
    if preset is not None and "preset" in inspect.signature(builder).parameters:
        kw["preset"] = preset
    inner = builder(**dict(spec.builder_kw), checkpoint=ckpt, device=device, **kw)
    precision_mod.apply(inner, precision, device, method=name)
    return align_mod.wrap(inner, align, face_box=face_box)


def train(name: str, preset: str, data: str | None, out: str, resume: bool = False, seed: int = 0) -> Path:
    """Train ``name`` with one of its presets (``paper``/``cpu``/``smoke``); returns the checkpoint path."""
    spec = _spec(name)
    if spec.trainer is None:
        hint = " (it uses the wgan_completion prior: train that)" if spec.checkpoint_stem not in (None, name) else ""
        raise FaceInpaintError(f"method {name!r} has nothing to train{hint}")
    return _attr(spec, spec.trainer)(preset=preset, data=data, out=out, resume=resume, seed=seed)
