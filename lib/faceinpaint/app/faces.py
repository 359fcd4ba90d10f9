"""Where the app's faces come from: the held-out test split, a user's upload, a random pick.

A :class:`Face` is one ``1×3×S×S`` image in ``[-1, 1]`` at the app's working size ``S``.
Uploads go through the CLI's reader (:func:`faceinpaint.io.read_rgb_array`), so an awkward
file is converted or refused exactly as ``faceinpaint inpaint --image FILE`` would, with the
same one-line message naming the file; then, like
:meth:`faceinpaint.data.FaceDataset.from_folder`, the centre square is cut and resized.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from ..data import FaceDataset, centre_square, resize_rgb
from ..errors import BadImageError
from ..io import array_to_tensor, read_rgb_array


@dataclass
class Face:
    """One face for the app. ``index``: its row in the test split when it came from the
    dataset (then the image is the ground truth the metrics compare against), else None."""

    image: Tensor
    name: str
    index: int | None = None

    @property
    def from_dataset(self) -> bool:
        return self.index is not None


class Gallery:
    """The prepared test split at ``size`` px (faces the learned methods never trained on)."""

    def __init__(self, size: int, dataset: str = "celeba999"):
        self.ds = FaceDataset(dataset, split="test", size=size)

    def __len__(self) -> int:
        return len(self.ds)

    def face(self, k: int) -> Face:
        if not 0 <= int(k) < len(self.ds):
            raise BadImageError(f"test face {k}: out of range (the test split has {len(self.ds)} faces)")
        item = self.ds[int(k)]
        return Face(item["image"][None].float(), f"test-{k:03d} ({Path(str(item['name'])).stem})", int(k))

    def random_face(self, rng: np.random.Generator) -> Face:
        return self.face(int(rng.integers(len(self.ds))))


def upload_files(value) -> list[tuple[str, bytes]]:
    """``FileUpload.value`` (ipywidgets 8: a tuple of dicts; 7: a dict by name) → [(name, bytes)]."""
    items = value.values() if isinstance(value, dict) else value
    out = []
    for it in items:
        name = it.get("name") or it.get("metadata", {}).get("name", "upload")
        out.append((str(name), bytes(it["content"])))
    return out


def read_upload(name: str, content: bytes, size: int) -> Face:
    """An uploaded file as a :class:`Face`: the CLI's checks and conversions, then centre square → ``size``.

    The file is read from a temporary copy under its own base name, and the message of a
    refusal names it as the user knows it (``photo.txt: not an image (...)``).
    """
    base = Path(str(name).replace("\\", "/")).name or "upload"
    with tempfile.TemporaryDirectory(prefix="faceinpaint-upload-") as tmp:
        path = Path(tmp) / base
        path.write_bytes(content)
        try:
            arr = read_rgb_array(path)
        except BadImageError as e:
            raise BadImageError(str(e).replace(str(path), base)) from None
    square, _, _ = centre_square(arr)
    return Face(array_to_tensor(resize_rgb(square, size)), base, None)
