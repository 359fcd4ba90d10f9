"""The hole mask the user paints: a ``S×S`` array (1 = hole) with strokes, presets and undo.

No widget here: :class:`MaskState` is what the canvas's mouse handlers drive
(:mod:`faceinpaint.app.editor`), so every rule is testable on its own. One stroke (mouse
down → moves → up), one preset, one clear or one load is one undo step, and undo restores
the previous mask exactly (a copy is kept, not a replay).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from .. import masks
from ..errors import BadImageError
from ..io import load_mask

UNDO_DEPTH = 50  # steps kept; older ones are dropped (a 128×128 copy each: 16 kB)


class MaskState:
    """A ``size×size`` hole mask edited by brush strokes, presets from :mod:`faceinpaint.masks`, undo."""

    def __init__(self, size: int):
        self.size = int(size)
        self.hole = np.zeros((self.size, self.size), np.uint8)
        self._undo: list[np.ndarray] = []
        self._last: tuple[int, int] | None = None
        self._value = 1
        self._width = 1

    # -- undo
    def _push(self) -> None:
        self._undo.append(self.hole.copy())
        del self._undo[:-UNDO_DEPTH]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> bool:
        """Restore the mask before the last edit; False when there is nothing to undo."""
        self.end_stroke()
        if not self._undo:
            return False
        self.hole = self._undo.pop()
        return True

    # -- strokes (coordinates in mask pixels, floats allowed)
    @property
    def drawing(self) -> bool:
        return self._last is not None

    def _pt(self, x: float, y: float) -> tuple[int, int]:
        return (int(np.clip(round(x), 0, self.size - 1)), int(np.clip(round(y), 0, self.size - 1)))

    def begin_stroke(self, x: float, y: float, width: int, erase: bool = False) -> None:
        """Start a stroke of ``width`` pixels (a round brush); ``erase`` paints known pixels back."""
        self.end_stroke()
        self._push()
        self._value, self._width = (0 if erase else 1), max(1, int(width))
        self._last = self._pt(x, y)
        self._segment(self._last, self._last)

    def continue_stroke(self, x: float, y: float) -> None:
        if self._last is None:
            return
        p = self._pt(x, y)
        self._segment(self._last, p)
        self._last = p

    def end_stroke(self) -> None:
        self._last = None

    def _segment(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        # cv2.line with a width > 1 has round caps: consecutive segments join without gaps.
        # Non-anti-aliased, so the mask stays binary.
        cv2.line(self.hole, a, b, int(self._value), thickness=self._width, lineType=cv2.LINE_8)
        if self._width > 2:
            cv2.circle(self.hole, b, self._width // 2, int(self._value), thickness=-1, lineType=cv2.LINE_8)

    # -- whole-mask edits
    def clear(self) -> None:
        self.end_stroke()
        self._push()
        self.hole[:] = 0

    def set(self, hole: np.ndarray | Tensor) -> None:
        """Replace the mask (one undo step) by ``hole`` (``[1×1×]S×S``, ≥ 0.5 = hole)."""
        arr = masks.to_array(hole) if isinstance(hole, Tensor) else np.asarray(hole)
        arr = np.asarray(arr).squeeze()
        if arr.shape != self.hole.shape:
            raise ValueError(f"mask must be {self.size}×{self.size}, got {arr.shape}")
        self.end_stroke()
        self._push()
        self.hole = (arr >= 0.5).astype(np.uint8)

    def preset(self, kind: str, seed: int = 0) -> None:
        """One of the papers' masks (:func:`faceinpaint.masks.generate`): the same kind and seed
        give the same mask as ``faceinpaint masks --kind K --seed X`` (its first file)."""
        self.set(masks.generate(kind, self.size, 1, int(seed))[0, 0].numpy())

    def load(self, name: str, content: bytes) -> None:
        """A mask PNG (white = hole) checked as the CLI's ``--mask`` is: same size as the image, not empty."""
        base = Path(str(name).replace("\\", "/")).name or "mask.png"
        with tempfile.TemporaryDirectory(prefix="faceinpaint-mask-") as tmp:
            path = Path(tmp) / base
            path.write_bytes(content)
            try:
                hole = load_mask(path, size=(self.size, self.size))
            except BadImageError as e:
                raise BadImageError(str(e).replace(str(path), base)) from None
        self.set(hole)

    # -- reading
    @property
    def ratio(self) -> float:
        return float(masks.hole_ratio(self.hole))

    def tensor(self) -> Tensor:
        """``1×1×S×S`` float, 1 = hole."""
        return torch.from_numpy(self.hole.astype(np.float32))[None, None]

    def checked(self, name: str = "mask") -> Tensor:
        """The mask for a run, refused (with :func:`faceinpaint.io.load_mask`'s words) when
        it has no hole pixel or no known pixel."""
        if self.hole.max() == 0:
            raise BadImageError(f"{name}: empty mask (no white hole pixel); paint a hole or pick a preset")
        if self.hole.min() == 1:
            raise BadImageError(f"{name}: mask covers the whole image (no known pixel left)")
        return self.tensor()
