"""Classical (non-learned) inpainting baselines: Telea, Navier–Stokes, biharmonic.

PAPERS.md, 'One evaluation protocol for all four': every learned method is compared with
these three on the same masks. They need no training and no checkpoint.

* **Telea** (A. Telea, "An image inpainting technique based on the fast marching method",
  J. Graphics Tools 2004): the hole is filled from its border inwards in fast-marching
  order; each pixel is a weighted first-order extrapolation of the known pixels within
  ``radius`` of it. ``cv2.inpaint(..., cv2.INPAINT_TELEA)``.
* **Navier–Stokes** (Bertalmío, Bertozzi, Sapiro, CVPR 2001): isophotes (lines of equal
  intensity) are continued into the hole by solving a transport equation akin to
  incompressible fluid flow. ``cv2.inpaint(..., cv2.INPAINT_NS)``.
* **Biharmonic** (Damelin & Hoang 2018): the hole is the solution of Δ²u = 0 with the
  known pixels as boundary values — the smoothest surface through the known ones.
  ``skimage.restoration.inpaint_biharmonic(..., channel_axis=-1)``.

Radius: OpenCV's ``inpaintRadius`` is the neighbourhood (in pixels) each filled pixel looks
at. We use 3, OpenCV's documented example value and the ε of Telea's paper for small
images; a larger radius blurs more. It is a constructor argument.

uint8 round trip (OpenCV only): ``cv2.inpaint`` accepts 8-bit (or 16-bit/float
1-channel) images, so the ``[-1, 1]`` image is mapped to bytes with
``round((x + 1) · 127.5)`` (:func:`faceinpaint.io.tensor_to_array`) — the exact inverse
of how :func:`faceinpaint.io.load_image` reads a file, so an image read from a PNG goes
back to its own bytes. The prediction comes back as bytes (so holes are quantised to
1/127.5); known pixels are taken from the float input by the composite, so they are
unchanged bit for bit.

Both OpenCV algorithms treat colour channels independently, so passing RGB instead of
OpenCV's usual BGR changes nothing (a test checks it).

The hole is **not** dilated: the methods see exactly the user's mask (some
implementations dilate it to hide JPEG seams; that would overwrite known pixels).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from skimage.restoration import inpaint_biharmonic
from torch import Tensor

from ..io import array_to_tensor, tensor_to_array
from .base import Guide, check_inputs, composite

DEFAULT_RADIUS = 3


def _hole_u8(hole: Tensor) -> np.ndarray:
    """``1×H×W`` hole (1 = missing) → ``H×W`` uint8, 255 where OpenCV must inpaint."""
    return (hole[0].detach().cpu().numpy() >= 0.5).astype(np.uint8) * 255


@dataclass
class OpenCVInpainter:
    """``cv2.inpaint`` with ``flag`` = ``cv2.INPAINT_TELEA`` or ``cv2.INPAINT_NS``, per image."""

    name: str
    flag: int
    radius: float = DEFAULT_RADIUS

    def predict(self, image: Tensor, hole: Tensor) -> Tensor:
        """The raw ``cv2.inpaint`` output (before compositing), ``N×3×H×W`` in ``[-1, 1]``."""
        check_inputs(image, hole)
        out = []
        for img, h in zip(image, hole):
            filled = cv2.inpaint(tensor_to_array(img), _hole_u8(h), float(self.radius), self.flag)
            out.append(array_to_tensor(filled))
        return torch.cat(out).to(image.device)

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        """Composite ``image ⊙ known + cv2.inpaint(image) ⊙ hole``; guide and seed are unused (deterministic)."""
        return composite(image, self.predict(image, hole), hole)


@dataclass
class BiharmonicInpainter:
    """``skimage.restoration.inpaint_biharmonic`` per image, in float64 (no uint8 round trip)."""

    name: str = "biharmonic"

    def predict(self, image: Tensor, hole: Tensor) -> Tensor:
        check_inputs(image, hole)
        out = []
        for img, h in zip(image, hole):
            # [0, 1] floats: the solve is linear, so the range only matters for img_as_float.
            arr = (img.detach().cpu().double().permute(1, 2, 0).numpy() + 1.0) / 2.0
            mask = h[0].detach().cpu().numpy() >= 0.5
            filled = inpaint_biharmonic(arr, mask, channel_axis=-1)
            # Δ²u = 0 can overshoot the data range near sharp edges: clip to valid pixels.
            t = torch.from_numpy(np.clip(filled, 0.0, 1.0) * 2.0 - 1.0).permute(2, 0, 1).float()
            out.append(t[None])
        return torch.cat(out).to(image.device)

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        return composite(image, self.predict(image, hole), hole)


def telea(radius: float = DEFAULT_RADIUS) -> OpenCVInpainter:
    """Telea's fast-marching inpainting (``cv2.INPAINT_TELEA``)."""
    return OpenCVInpainter("telea", cv2.INPAINT_TELEA, radius)


def navier_stokes(radius: float = DEFAULT_RADIUS) -> OpenCVInpainter:
    """Bertalmío et al.'s Navier–Stokes inpainting (``cv2.INPAINT_NS``)."""
    return OpenCVInpainter("navier_stokes", cv2.INPAINT_NS, radius)


def biharmonic() -> BiharmonicInpainter:
    """Biharmonic inpainting (scikit-image)."""
    return BiharmonicInpainter()


BUILDERS = {"telea": telea, "navier_stokes": navier_stokes, "biharmonic": biharmonic}


def build(name: str, checkpoint=None, device: str = "cpu", **kw):
    """Registry entry point: ``build("telea", radius=5)``. Classical methods run on the CPU
    whatever ``device`` (results come back on the input's device) and take no checkpoint."""
    return BUILDERS[name](**kw)
