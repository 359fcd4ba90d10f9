"""The one interface every method implements (DESIGN.md, 'One interface for four methods').

``inpaint(image, hole, guide, seed=...)`` takes images ``N×3×H×W`` in ``[-1, 1]`` and holes
``N×1×H×W`` (1 = missing) at any resolution, and returns the **composite**
``image * known + pred * hole`` at the input's resolution: every known pixel unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch.nn.functional as F
from torch import Tensor


@dataclass
class Guide:
    """What a user can give besides the masked face.

    Every method accepts an exemplar: EXE-GAN takes its style, refattr its attributes,
    LaFIn its landmarks (aligned to the input), wgan_completion its region (conditional
    completion).
    """

    exemplar: Tensor | None = None    # N×3×H×W in [-1, 1], a reference face
    landmarks: Tensor | None = None   # N×68×2, pixels of the input image, iBUG-68 order
    attributes: Tensor | None = None  # N×K in {0, 1}


@runtime_checkable
class Inpainter(Protocol):
    name: str

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        ...


def composite(image: Tensor, pred: Tensor, hole: Tensor) -> Tensor:
    """``out = image ⊙ known + pred ⊙ hole`` (known = 1 − hole)."""
    return image * (1 - hole) + pred * hole


def check_inputs(image: Tensor, hole: Tensor) -> None:
    """Shape/range checks shared by every method (programming errors, not user errors)."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be N×3×H×W, got {tuple(image.shape)}")
    if hole.dim() != 4 or hole.shape[1] != 1 or hole.shape[0] != image.shape[0] or hole.shape[2:] != image.shape[2:]:
        raise ValueError(f"hole must be N×1×H×W matching the image {tuple(image.shape)}, got {tuple(hole.shape)}")


def resize_face(x: Tensor, size: int) -> Tensor:
    """Faces (``N×3×H×W`` in [-1, 1]) resized to ``size×size``: bicubic, antialiased, clamped (an
    exemplar or reference brought to a network's size); unchanged when already that size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


def resize_pair(image: Tensor, hole: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Resize an image (:func:`resize_face`) and its hole (any hole pixel in the area → hole) to ``size``."""
    if image.shape[-2:] == (size, size):
        return image, hole
    img = resize_face(image, size)
    h = (F.interpolate(hole, size=(size, size), mode="area") > 0.0).float()  # any hole pixel → hole: never claim known
    return img, h


def run_at_resolution(fn, image: Tensor, hole: Tensor, size: int) -> Tensor:
    """Run ``fn(image_s, hole_s) -> pred_s`` at ``size×size`` and composite at the input size.

    The prediction is upsampled back; known pixels come from the original image, so they
    are unchanged bit for bit whatever the resolution.
    """
    check_inputs(image, hole)
    img_s, hole_s = resize_pair(image, hole, size)
    pred = fn(img_s, hole_s)
    if pred.shape[-2:] != image.shape[-2:]:
        pred = F.interpolate(pred, size=image.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
    return composite(image, pred, hole)
