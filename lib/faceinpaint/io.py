"""Reading and writing images, masks and files — safely.

Conventions (DESIGN.md): an image is a float32 tensor ``N×3×H×W`` in ``[-1, 1]``; a hole
mask is float ``N×1×H×W`` with **1 = missing**. On disk a mask is an 8-bit PNG, white
(255) = hole.

What :func:`load_image` does with awkward files — each case has a test:

=================  ===========================================================
file               result
=================  ===========================================================
empty (0 bytes)    refused: ``empty file``
not an image       refused: ``not an image``
truncated          refused: ``truncated or corrupt``
smaller than 16px  refused: ``too small``
grayscale (L)      **converted**: the gray channel is repeated to RGB
16-bit (I;16, I)   **converted**: scaled by 255/65535, then as grayscale
RGBA / LA / P+tRNS **converted** when every pixel is opaque (alpha dropped);
                   refused when some pixel is transparent — a transparent
                   region is ambiguous (a hole? background?), pass a mask instead
CMYK (JPEG)        **converted** to RGB with Pillow's colour conversion
multi-frame        the first frame is used
float (F) images   refused: ``32-bit float images are not supported``
=================  ===========================================================

Writes are atomic: a temp file in the destination folder, then ``os.replace``. A failed
write leaves the old file (or nothing) — never half a file.
"""
from __future__ import annotations

import contextlib
import io as _io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import BadImageError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never grey pixels

MIN_SIDE = 16
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


# ----------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``.

    On any exception the temp file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes a private 0600 file: give it the mode a plain open() would (or the old file's)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is racy)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically (NaN/inf written as null)."""
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        obj = obj.item()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` through a temp file: a crash mid-write never corrupts a checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# ----------------------------------------------------------------------------- reading
def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise BadImageError(f"{path}: no such file")
    if path.is_dir():
        raise BadImageError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty file")
    try:
        img = Image.open(path)
        img.seek(0)
        img.load()
    except UnidentifiedImageError:
        raise BadImageError(f"{path}: not an image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(f"{path}: truncated or corrupt image ({e})") from None
    except Image.DecompressionBombError as e:
        raise BadImageError(f"{path}: image too large ({e})") from None
    if min(img.size) < MIN_SIDE:
        raise BadImageError(f"{path}: too small ({img.size[0]}×{img.size[1]}; at least {MIN_SIDE}×{MIN_SIDE} needed)")
    return img


def _alpha_to_rgb(path: Path, img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    if alpha.min() < 255:
        frac = float((alpha < 255).mean())
        raise BadImageError(
            f"{path}: has transparent pixels ({frac:.0%}); flatten it, or give the hole as a separate mask"
        )
    return rgba.convert("RGB")


def read_rgb_array(path: str | os.PathLike) -> np.ndarray:
    """Read any supported image file as ``H×W×3`` uint8 RGB (see the module table)."""
    path = Path(path)
    img = _open(path)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if arr.max() > 255 or mode.startswith("I;16") else 1.0
        gray = np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        raise BadImageError(f"{path}: 32-bit float images are not supported; save it as 8-bit PNG/JPEG")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = _alpha_to_rgb(path, img)
    elif mode == "CMYK":
        img = img.convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, YCbCr, LAB, HSV
    return np.asarray(img, dtype=np.uint8).copy()


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """``H×W×3`` uint8 → ``1×3×H×W`` float32 in ``[-1, 1]``."""
    t = torch.from_numpy(np.require(arr, requirements=["C", "W"])).permute(2, 0, 1).float()  # PIL arrays are read-only
    return (t / 127.5 - 1.0).unsqueeze(0)


def tensor_to_array(t: torch.Tensor) -> np.ndarray:
    """``[1×]3×H×W`` in ``[-1, 1]`` → ``H×W×3`` uint8 (rounded, clipped)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).numpy()


def load_image(path: str | os.PathLike, size: int | None = None) -> torch.Tensor:
    """Load an image as ``1×3×H×W`` in ``[-1, 1]``; optionally resize to ``size×size``."""
    arr = read_rgb_array(path)
    if size is not None and arr.shape[:2] != (size, size):
        arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC))
    return array_to_tensor(arr)


def load_mask(path: str | os.PathLike, size: tuple[int, int] | None = None, *, allow_empty: bool = False) -> torch.Tensor:
    """Load a hole mask PNG (white = hole) as ``1×1×H×W`` float in {0, 1}.

    Any image mode is accepted and reduced to gray; values ≥ 128 are holes (so JPEG
    noise around a binary mask does not matter). ``size=(H, W)`` checks that the mask
    matches its image. A mask without any hole pixel is refused unless ``allow_empty``;
    a mask that is all hole is refused (nothing would be known).
    """
    path = Path(path)
    img = _open(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        gray = arr / 65535.0 * 255.0 if arr.max() > 255 else arr
    else:
        if img.mode in ("RGBA", "LA") :
            img = img.convert("RGBA").convert("RGB")
        gray = np.asarray(img.convert("L"), dtype=np.float64)
    hole = (gray >= 128).astype(np.float32)
    if size is not None and hole.shape != tuple(size):
        raise BadImageError(
            f"{path}: mask is {hole.shape[1]}×{hole.shape[0]} but its image is {size[1]}×{size[0]}"
        )
    if not allow_empty and hole.sum() == 0:
        raise BadImageError(f"{path}: empty mask (no white hole pixel)")
    if hole.min() == 1:
        raise BadImageError(f"{path}: mask covers the whole image (no known pixel left)")
    return torch.from_numpy(hole)[None, None]


def save_image(t: torch.Tensor, path: str | os.PathLike) -> None:
    """Save ``[1×]3×H×W`` in ``[-1, 1]`` as PNG/JPEG, atomically."""
    path = Path(path)
    arr = tensor_to_array(t)
    buf = _io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(arr).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    atomic_write_bytes(path, buf.getvalue())


def save_mask(hole: torch.Tensor | np.ndarray, path: str | os.PathLike) -> None:
    """Save a hole mask (``[1×1×]H×W``, 1 = hole) as an 8-bit PNG, white = hole, atomically."""
    if isinstance(hole, torch.Tensor):
        hole = hole.detach().cpu().numpy()
    hole = np.asarray(hole).squeeze()
    if hole.ndim != 2:
        raise ValueError(f"a mask must be H×W, got shape {hole.shape}")
    arr = np.where(hole >= 0.5, 255, 0).astype(np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files of a folder (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadImageError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def quiet_pil_warnings() -> None:
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
