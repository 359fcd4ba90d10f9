"""What the app writes and offers: PNG bytes, download links, the saved results, messages.

Saving goes through :mod:`faceinpaint.io` (each file written atomically: a temp file, then
a rename), under ``outputs/app/`` by default; the same files are offered for download as
one zip in a data URL, so nothing is served from the disk.
"""
from __future__ import annotations

import base64
import html
import io as _io
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..io import save_image, save_mask, tensor_to_array


def one_line(e: BaseException) -> str:
    """An error as the CLI prints it after ``faceinpaint: error:`` — one line, whatever it held.

    A :class:`~faceinpaint.errors.FaceInpaintError` is the user's message as it is; anything
    else is a bug somewhere, shown with its type so it can be reported."""
    from ..errors import FaceInpaintError

    msg = " ".join((str(e).strip() or type(e).__name__).split())
    return msg if isinstance(e, FaceInpaintError) else f"{type(e).__name__}: {msg}"


def png_bytes(img: Tensor | np.ndarray) -> bytes:
    """``[1×]3×H×W`` in ``[-1, 1]`` (or ``H×W[×3]`` uint8) → PNG bytes (lossless: pixels read back exactly)."""
    arr = tensor_to_array(img) if isinstance(img, torch.Tensor) else np.asarray(img, dtype=np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def download_html(filename: str, data: bytes, label: str, mime: str = "image/png") -> str:
    """An ``<a download>`` link carrying ``data`` in a data URL."""
    b64 = base64.b64encode(data).decode("ascii")
    name = html.escape(filename, quote=True)
    return (f'<a class="fi-download" download="{name}" href="data:{mime};base64,{b64}" '
            f'style="font-weight:bold">⬇ {html.escape(label)}</a>')


def slug(text: str) -> str:
    """A file-name-safe version of a label (``test-003 (000123)`` → ``test-003_000123``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def save_results(out_dir: str | Path, image: Tensor, hole: Tensor, cells: Sequence, row_names: Sequence[str],
                 grid_figure) -> list[Path]:
    """Write ``input.png``, ``mask.png`` (white = hole), one ``<row>__<method>.png`` per
    composite and ``grid.png`` under ``out_dir``, each atomically; returns the paths."""
    out = Path(out_dir)
    written = [out / "input.png", out / "mask.png"]
    save_image(image, written[0])
    save_mask(hole, written[1])
    for c in cells:
        if c.image is not None:
            p = out / f"{slug(row_names[c.row])}__{c.method}.png"
            save_image(c.image, p)
            written.append(p)
    if grid_figure is not None:
        from ..viz import save_figure

        written.append(save_figure(grid_figure, out / "grid.png"))
    return written


def zip_bytes(paths: Sequence[Path]) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, arcname=Path(p).name)
    return buf.getvalue()
