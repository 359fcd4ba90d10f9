"""Building the registry's methods and running them over the exemplars: the results grid.

:class:`Methods` builds a method through :func:`faceinpaint.methods.get` the first time it
is needed (again only when its controls' build arguments change), and turns every failure
into the CLI's one-line message, so a method whose checkpoint is missing is skipped with
that line and the others still run. :func:`run_grid` makes one :class:`Cell` per exemplar
row and method: rows = exemplars (one row when none is picked), columns = methods.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from torch import Tensor

from .. import methods as registry
from ..errors import FaceInpaintError
from ..metrics import l1, psnr
from .controls import MethodControls, RunInput
from .files import one_line


class Methods:
    """The registry's methods, built on demand with the app's preset, device, checkpoints and
    precision (``"auto"``, as the CLI: bf16 networks where the hardware has them natively and the
    method was validated in bf16; :mod:`faceinpaint.precision`)."""

    def __init__(self, preset: str | None = None, device: str = "cpu",
                 checkpoints: Mapping[str, str | Path] | None = None, precision: str = "auto"):
        self.preset, self.device, self.precision = preset, device, precision
        self.checkpoints = dict(checkpoints or {})
        self._built: dict[str, tuple[tuple, object]] = {}

    def available(self) -> list[str]:
        return registry.available()

    def problem(self, name: str) -> str | None:
        """Why ``name`` cannot be built, found without building it (its checkpoint), or None."""
        try:
            registry.resolve_checkpoint(name, self.checkpoints.get(name))
        except FaceInpaintError:
            # methods.get checks the module, then the checkpoint, before it loads anything: its
            # error is the CLI's first complaint about this method (and costs nothing)
            try:
                registry.get(name, checkpoint=self.checkpoints.get(name), device=self.device, preset=self.preset)
            except Exception as e:
                return one_line(e)
        return None

    def get(self, name: str, **kw):
        """The built Inpainter (cached per build arguments); raises with a one-line message."""
        key = tuple(sorted(kw.items()))
        hit = self._built.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        model = registry.get(name, checkpoint=self.checkpoints.get(name), device=self.device, preset=self.preset,
                             precision=self.precision, **kw)
        self._built[name] = (key, model)
        return model


@dataclass
class Cell:
    """One result: row ``row`` (an exemplar) × ``method``. ``image`` is None when it failed
    (``message`` says why). Hole metrics only when the face came from the dataset."""

    row: int
    method: str
    image: Tensor | None = None
    seconds: float = 0.0
    message: str = ""
    hole_l1: float | None = None
    hole_psnr: float | None = None
    used_image: np.ndarray | Tensor | None = None
    used_text: str = ""
    shared: bool = False  # the same composite as row 0: the method ignores the exemplar


@dataclass
class Progress:
    done: int
    total: int
    method: str
    seconds: float
    log: list[str] = field(default_factory=list)


def hole_metrics(real: Tensor, fake: Tensor, hole: Tensor) -> tuple[float, float]:
    """L1 and PSNR over the hole's pixels, in [0, 1] units (:mod:`faceinpaint.metrics`)."""
    return float(l1(real, fake, hole)[0]), float(psnr(real, fake, hole)[0])


def run_grid(image: Tensor, hole: Tensor, exemplars: Sequence[Tensor], names: Sequence[str],
             controls: Mapping[str, MethodControls], built: Methods, *, seed: int = 0, original: bool = False,
             on_progress: Callable[[Progress], None] | None = None) -> list[Cell]:
    """Every method in ``names`` on ``image``/``hole``, once per exemplar (once in all when a
    method ignores the exemplar), one after another; failures become messages in their cells."""
    rows: list[Tensor | None] = list(exemplars) or [None]
    cells: list[Cell] = []
    total = sum(len(rows) if controls[n].uses_exemplar() else 1 for n in names)
    done, log = 0, []

    def tick(name: str, seconds: float, line: str) -> None:
        nonlocal done
        done += 1
        log.append(line)
        if on_progress is not None:
            on_progress(Progress(done, total, name, seconds, list(log)))

    for name in names:
        ctrl = controls[name]
        runs = len(rows) if ctrl.uses_exemplar() else 1
        try:
            model = built.get(name, **ctrl.build_kwargs())
        except Exception as e:  # a missing checkpoint, a method half-written: skip it, keep the app going
            msg = one_line(e)
            cells += [Cell(r, name, message=msg) for r in range(len(rows))]
            for _ in range(runs):
                tick(name, 0.0, f"{name}: skipped — {msg}")
            continue
        first: Cell | None = None
        for r, ex in enumerate(rows):
            if first is not None and not ctrl.uses_exemplar():
                cells.append(Cell(r, name, first.image, first.seconds, first.message, first.hole_l1, first.hole_psnr,
                                  first.used_image, first.used_text, shared=True))
                continue
            inp = RunInput(image, hole, ex, seed)
            cell = Cell(r, name)
            t0 = time.perf_counter()
            try:
                out = model.inpaint(image, hole, ctrl.guide(model, inp), seed=ctrl.seed(inp))
                cell.image = out.detach().cpu().float()
                cell.seconds = time.perf_counter() - t0
                if original:
                    cell.hole_l1, cell.hole_psnr = hole_metrics(image, cell.image, hole)
                cell.used_image, cell.used_text = ctrl.used(model, inp, cell.image)
            except Exception as e:
                cell.seconds = time.perf_counter() - t0
                cell.message = one_line(e)
            cells.append(cell)
            first = first or cell
            tick(name, cell.seconds, f"{name}: {cell.seconds:.2f} s" + (f" — {cell.message}" if cell.message else ""))
    return cells

