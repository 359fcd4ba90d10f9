"""Pictures for the notebooks: image grids, masked inputs, landmark overlays.

Every function takes tensors in the library's conventions (images in ``[-1, 1]``, holes
with 1 = missing) and returns a matplotlib Figure; saving goes through :func:`save_figure`
(atomic).
"""
from __future__ import annotations

import io as _io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .io import atomic_write_bytes


def to_display(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[1×]3×H×W`` in ``[-1, 1]`` (or ``H×W×3`` uint8) → ``H×W×3`` float in ``[0, 1]`` for imshow."""
    if isinstance(img, np.ndarray):
        arr = img.astype(np.float32)
        return arr / 255.0 if arr.max() > 1.5 else arr
    t = img.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if t.shape[0] == 1:
        t = t.repeat(3, 1, 1)
    return ((t.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


def masked_input(image: torch.Tensor, hole: torch.Tensor, fill: float = 1.0) -> torch.Tensor:
    """The input as a user sees it: holes painted ``fill`` (white by default)."""
    return image * (1 - hole) + fill * hole


def image_grid(rows: Sequence[Sequence[torch.Tensor | np.ndarray]], *, col_titles: Sequence[str] | None = None,
               row_titles: Sequence[str] | None = None, size: float = 2.0, suptitle: str | None = None):
    """A grid of images (rows × columns) with optional titles; returns the Figure."""
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(row) and row[j] is not None:
                ax.imshow(to_display(row[j]))
            if i == 0 and col_titles is not None and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0 and row_titles is not None and i < len(row_titles):
                ax.set_ylabel(row_titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_landmarks(ax, landmarks, color: str = "lime", size: float = 4.0, numbers: bool = False) -> None:
    """Scatter 68 iBUG landmarks (x, y in pixels) onto an axis."""
    lm = np.asarray(landmarks.detach().cpu() if isinstance(landmarks, torch.Tensor) else landmarks)
    ax.scatter(lm[:, 0], lm[:, 1], s=size, c=color)
    if numbers:
        for k, (x, y) in enumerate(lm):
            ax.text(x, y, str(k), fontsize=5, color=color)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save a figure as PNG atomically and return its path."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
