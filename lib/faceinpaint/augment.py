"""Training-time augmentation of face batches: small similarity jitter (image and landmarks
together) and colour jitter.

Not in the papers (LaFIn trains CelebA's ≈ 160 000 faces with flips only). The CPU presets
train on ≈ 900 faces, and their nets over-fit them: the LaFIn predictor's test NME rose from
24 000 to 48 000 steps while its training NME fell, and the inpainter's hole L1 relative to
Telea's is ≈ 6 % better on training faces than on test faces (checkpoints/README.md). Both
jitters are the usual remedy; both are off (``Jitter()``) at the paper's scale.

Conventions: images ``N×3×S×S`` in ``[-1, 1]``; landmarks ``N×68×2`` in pixels with the
top-left pixel's centre at ``(0, 0)`` (:mod:`faceinpaint.landmarks`). Randomness comes from
torch's global RNG, which the Trainer seeds and checkpoints, so a resumed run draws the same
jitters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Jitter:
    """Ranges of the random jitters, each drawn uniformly and independently per sample.

    ``rotate``: ± degrees; ``scale``: ± fraction of the size (zoom in and out); ``shift``: ±
    fraction of the side, per axis; ``colour``: ± fraction for brightness, contrast and
    saturation factors (torchvision's ``ColorJitter`` semantics). All 0: no augmentation.
    """

    rotate: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    colour: float = 0.0

    def __post_init__(self):
        for k in ("rotate", "scale", "shift", "colour"):
            if getattr(self, k) < 0:
                raise ValueError(f"Jitter.{k} must be ≥ 0, got {getattr(self, k)}")
        if self.scale >= 1 or self.colour >= 1:
            raise ValueError("Jitter.scale and Jitter.colour must be < 1")

    @property
    def geometric(self) -> bool:
        return bool(self.rotate or self.scale or self.shift)

    @property
    def active(self) -> bool:
        return self.geometric or bool(self.colour)


def _uniform(n: int, half_range: float, device) -> Tensor:
    return (torch.rand(n) * 2 - 1).mul_(half_range).to(device)


# ----------------------------------------------------------------------------- geometry
def random_similarity(n: int, jitter: Jitter, device=None) -> Tensor:
    """``n×2×3`` similarity transforms in ``F.affine_grid``'s normalised coordinates, mapping
    an *output* position to the *input* position it samples (``grid_sample``'s direction).

    The image content is rotated by ``a``, zoomed by ``s`` and shifted by ``t``:
    ``u_in = (R(−a) (u_out − t)) / s``, so ``A = R(−a) / s`` and the offset is ``−A t``.
    """
    a = _uniform(n, math.radians(jitter.rotate), device)
    s = 1 + _uniform(n, jitter.scale, device)
    t = torch.stack([_uniform(n, 2 * jitter.shift, device), _uniform(n, 2 * jitter.shift, device)], 1)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    A = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)   # R(−a)/s
    return torch.cat([A, -(A @ t[:, :, None])], 2)


def to_normalised(lm: Tensor, size: int) -> Tensor:
    """Pixel coordinates → ``[-1, 1]`` with ``align_corners=False`` (pixel ``i``'s centre ↦ (2i + 1)/S − 1)."""
    return (2 * lm + 1) / size - 1


def from_normalised(u: Tensor, size: int) -> Tensor:
    return ((u + 1) * size - 1) / 2


def warp(image: Tensor, landmarks: Tensor | None, theta: Tensor) -> tuple[Tensor, Tensor | None]:
    """Resample ``image`` through ``theta`` (``random_similarity``'s output → input maps;
    bilinear, reflected borders) and move ``landmarks`` to where their pixels land:
    ``u_out = A⁻¹ (u_in − b)`` for ``theta = [A | b]``."""
    n, _, h, w = image.shape
    if h != w:
        raise ValueError(f"warp needs square images, got {h}×{w}")
    theta = theta.to(image.dtype)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if landmarks is None:
        return out, None
    A, b = theta[:, :, :2], theta[:, :, 2:]
    u = to_normalised(landmarks.to(theta.dtype), h)                      # N×68×2
    u_out = torch.linalg.solve(A, u.transpose(1, 2) - b).transpose(1, 2)
    return out, from_normalised(u_out, h).to(landmarks.dtype)


# ----------------------------------------------------------------------------- colour
def _gray(x01: Tensor) -> Tensor:
    # ITU-R 601 luma with torchvision's (and TensorFlow's) 0.2989 for red
    return (0.2989 * x01[:, 0:1] + 0.587 * x01[:, 1:2] + 0.114 * x01[:, 2:3])


def adjust_colour(image: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor) -> Tensor:
    """Per-sample brightness, contrast and saturation factors (``N`` each, 1 = unchanged),
    applied in that order on ``[0, 1]`` values and clipped after each, as torchvision's
    ``adjust_brightness`` / ``adjust_contrast`` / ``adjust_saturation``."""
    x = (image + 1) / 2
    v = lambda f: f.to(x).view(-1, 1, 1, 1)
    x = (x * v(brightness)).clamp(0, 1)
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (v(contrast) * x + (1 - v(contrast)) * mean).clamp(0, 1)
    x = (v(saturation) * x + (1 - v(saturation)) * _gray(x)).clamp(0, 1)
    return x * 2 - 1


def jitter_batch(image: Tensor, landmarks: Tensor | None, jitter: Jitter) -> tuple[Tensor, Tensor | None]:
    """One random draw of ``jitter`` per sample (geometry first, then colour)."""
    if not jitter.active:
        return image, landmarks
    n, dev = image.shape[0], image.device
    if jitter.geometric:
        image, landmarks = warp(image, landmarks, random_similarity(n, jitter, dev))
    if jitter.colour:
        f = [1 + _uniform(n, jitter.colour, dev) for _ in range(3)]
        image = adjust_colour(image, *f)
    return image, landmarks


__all__ = ["Jitter", "random_similarity", "to_normalised", "from_normalised", "warp", "adjust_colour",
           "jitter_batch"]
