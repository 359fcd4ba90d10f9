"""The bad-image set shared by several test files: every awkward file a user can hand us.

``make_bad_images(folder)`` writes them and returns ``{kind: path}``. Images are 40×30
(not square, so a transposed read shows). What ``faceinpaint.io.load_image`` must do with
each is the table in ``faceinpaint/io.py``; :data:`EXPECTED` restates it for the tests.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 40, 30

# kind → "ok" (converted) or the words the one-line refusal must contain
EXPECTED: dict[str, str] = {
    "good": "ok",
    "unreadable": "not an image",
    "truncated_jpeg": "truncated or corrupt",
    "truncated_png": "truncated or corrupt",
    "empty": "empty file",
    "tiny": "too small",
    "grayscale": "ok",
    "rgba_transparent": "transparent",
    "rgba_opaque": "ok",
    "gray16": "ok",
    "cmyk_jpeg": "ok",
    "palette": "ok",
    "palette_transparent": "transparent",
}


def rgb_pattern(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    """A deterministic colourful ``h×w×3`` uint8 picture (gradients + noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 3 % 256], axis=-1)
    arr = arr + rng.integers(-10, 11, size=arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_bad_images(folder: str | Path) -> dict[str, Path]:
    """Write the bad-image set into ``folder``; returns ``{kind: path}`` (kinds: :data:`EXPECTED`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = rgb_pattern()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    files: dict[str, Path] = {}

    def put(kind: str, name: str, data: bytes) -> None:
        p = folder / name
        p.write_bytes(data)
        files[kind] = p

    put("good", "good.png", _encoded(Image.fromarray(rgb), "PNG"))
    put("unreadable", "unreadable.png", b"this is a text file, not a PNG\n" * 4)
    jpeg = _encoded(Image.fromarray(rgb_pattern(64, 48)), "JPEG", quality=90)
    put("truncated_jpeg", "truncated.jpg", jpeg[: len(jpeg) // 2])
    png = _encoded(Image.fromarray(rgb_pattern(64, 48)), "PNG")
    put("truncated_png", "truncated.png", png[: len(png) // 2])
    put("empty", "empty.png", b"")
    put("tiny", "tiny.png", _encoded(Image.fromarray(rgb_pattern(8, 8)), "PNG"))
    put("grayscale", "grayscale.png", _encoded(Image.fromarray(gray, mode="L"), "PNG"))

    alpha = np.full((H, W), 255, np.uint8)
    put("rgba_opaque", "rgba_opaque.png", _encoded(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"))
    alpha_holes = alpha.copy()
    alpha_holes[10:20, 10:20] = 0
    put("rgba_transparent", "rgba_transparent.png",
        _encoded(Image.fromarray(np.dstack([rgb, alpha_holes]), "RGBA"), "PNG"))

    gray16 = (gray.astype(np.uint32) * 257).astype(np.uint16)   # 8-bit gray g ↦ 257·g: exact under ·255/65535
    put("gray16", "gray16.png", _encoded(Image.fromarray(gray16), "PNG"))

    put("cmyk_jpeg", "cmyk.jpg", _encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95))

    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    put("palette", "palette.png", _encoded(pal, "PNG"))
    put("palette_transparent", "palette_transparent.png", _encoded(pal, "PNG", transparency=0))
    return files
