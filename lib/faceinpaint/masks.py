"""Every hole-mask protocol of the four papers, and the hole-ratio bins of our evaluation.

A mask here is a **hole** mask: float32, 1 = missing pixel, 0 = known (DESIGN.md). Each
generator is a function ``fn(size, rng) -> np.ndarray`` (``size×size``, values in {0, 1})
taking a :class:`numpy.random.Generator`; the same generator state gives the same bytes.
:func:`to_tensor` / :func:`to_array` convert between that and the library's ``N×1×H×W``
torch tensors; :func:`generate` returns a seeded torch batch directly.

==================== ============================ =========================================
kind                 paper                        geometry (sizes given at 256 px, scaled)
==================== ============================ =========================================
free_form            EXE-GAN (Yu et al.'s brush)  1–4 brush strokes: ≤20 vertices, segment
                                                  ≤100 px, width 10–24 px, angle ≤360°
exegan               EXE-GAN §IV-A.3              free_form ∪ U{0..5} rectangles of sides
                                                  ≤ s/2 ∪ U{0..10} rectangles of sides ≤ s/4
quickdraw            refattr (QD-IMD style)       1–6 smooth hand-drawn-like polylines
refattr              refattr §4.1                 quickdraw ∪ one 85×85 square, random place
square85             refattr                      one 85×85 square at a random position
block128             LaFIn                        one 128×128 block, random position inside
irregular            NVIDIA irregular-mask        free-form brush masks whose hole ratio is
                     stand-in (Liu et al. 2018)   drawn from the dataset's six bins 1–10 %, …,
                                                  50–60 % with equal probability
lafin                LaFIn §4                     50 % block128, 50 % irregular (``irregular``
                                                  offline; a :class:`FolderMasks` of NVIDIA
                                                  masks when you have them)
centre               all (evaluation)             centred square of half the side (25 %)
wgan_central         Vitoria et al. tab. 1        = centre (at 64: the central 32×32)
wgan_three_squares   Vitoria et al. tab. 2        three squares of side s/4 (eyes, mouth)
bin_10_20…bin_50_60 evaluation                   free-form strokes with hole ratio in the bin
==================== ============================ =========================================

Real mask datasets (NVIDIA irregular masks of Liu et al. 2018, used by LaFIn; QuickDraw
irregular masks QD-IMD of Iskakov 2018, used by refattr) are not available offline: they
load from a folder of PNGs with :func:`load_mask_folder` / :class:`FolderMasks`.

Seeds. ``generate(kind, size, n, seed)`` draws mask ``i`` from its own generator seeded by
``(seed, kind, i)``: mask ``i`` is the same whatever ``n``, and every kind has its own
stream. Drawing uses integer pixel coordinates computed with Python's ``math`` (not numpy's
SIMD ``sin``/``cos``, whose last bits differ between CPUs) and OpenCV's non-anti-aliased
lines, so the evaluation's :func:`test_masks` are the same bytes on every machine
(``tests/test_masks.py`` pins a checksum).
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from .errors import BadImageError, FaceInpaintError
from .io import list_images, read_rgb_array, save_mask, write_json

MaskFn = Callable[[int, np.random.Generator], np.ndarray]
REFERENCE_SIZE = 256  # the papers' stroke lengths, widths and square sides are given at 256 px
MIN_SIZE = 16

RATIO_BINS: list[tuple[float, float]] = [(0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6)]


# ----------------------------------------------------------------------------- conversions
def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (or the generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def to_tensor(masks: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """``H×W``, ``N×H×W``, ``N×1×H×W`` or a list of ``H×W`` arrays → float32 ``N×1×H×W`` tensor."""
    if isinstance(masks, torch.Tensor):
        arr = masks.detach().cpu().float()
    else:
        arr = torch.from_numpy(np.ascontiguousarray(np.stack(masks) if isinstance(masks, (list, tuple)) else masks,
                                                    dtype=np.float32))
    if arr.dim() == 2:
        arr = arr[None, None]
    elif arr.dim() == 3:
        arr = arr[:, None]
    if arr.dim() != 4 or arr.shape[1] != 1:
        raise ValueError(f"masks must be H×W, N×H×W or N×1×H×W, got shape {tuple(arr.shape)}")
    return arr.contiguous()


def to_array(masks: torch.Tensor | np.ndarray) -> np.ndarray:
    """``N×1×H×W`` tensor → float32 ``N×H×W`` array (``1×1×H×W`` → ``H×W``)."""
    arr = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    arr = arr.astype(np.float32, copy=False)
    if arr.ndim == 4:
        arr = arr[:, 0]
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def hole_ratio(mask: torch.Tensor | np.ndarray) -> float | np.ndarray:
    """Fraction of hole pixels: a float for one ``H×W`` mask, an array of ``N`` for ``N×1×H×W``."""
    arr = to_array(mask) if isinstance(mask, torch.Tensor) or np.ndim(mask) == 4 else np.asarray(mask)
    if arr.ndim == 2:
        return float((arr >= 0.5).mean())
    return (arr >= 0.5).reshape(arr.shape[0], -1).mean(axis=1)


def _scale(size: int) -> float:
    return size / REFERENCE_SIZE


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise FaceInpaintError(f"mask size {size!r}: must be an integer ≥ {MIN_SIZE}")
    return int(size)


# ----------------------------------------------------------------------------- drawing primitives
def _rect(hole: np.ndarray, x: int, y: int, w: int, h: int) -> None:
    """Set the (clipped) rectangle ``[y, y+h) × [x, x+w)`` to hole."""
    H, W = hole.shape
    hole[max(y, 0):min(y + h, H), max(x, 0):min(x + w, W)] = 1.0


def _uniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """An integer uniform in ``[lo, hi]`` (both ends included)."""
    return int(rng.integers(lo, hi + 1))


def _polyline(hole: np.ndarray, points: list[tuple[int, int]], width: int) -> None:
    """Draw a brush of ``width`` px through ``points`` with round joints (binary, no anti-aliasing)."""
    width = max(int(width), 1)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        cv2.line(hole, (x0, y0), (x1, y1), 1.0, thickness=width, lineType=cv2.LINE_8)
    for x, y in points:  # round joints and caps, as a brush leaves them
        cv2.circle(hole, (x, y), width // 2, 1.0, thickness=-1, lineType=cv2.LINE_8)


# ----------------------------------------------------------------------------- free-form brush (Yu et al., EXE-GAN)
@dataclass(frozen=True)
class BrushConfig:
    """The free-form brush of Yu et al. (GConv, Algorithm 1) with EXE-GAN's §IV-A.3 values.

    Lengths and widths are in pixels at 256 px and scale with the mask size. EXE-GAN states
    max vertex 20, max length 100, max brush width 24, max angle 360; the papers are silent
    on the smallest width and on the number of strokes: ``min_width`` follows the public
    GMCNN/GConv mask code (10 px), and 1–``max_strokes`` strokes keep the mean hole ratio
    near the 30–40 % the EXE-GAN figures show.
    """

    max_vertex: int = 20
    max_length: float = 100.0
    min_width: float = 10.0
    max_width: float = 24.0
    max_angle_deg: float = 360.0
    max_strokes: int = 4


def brush_stroke(hole: np.ndarray, rng: np.random.Generator, cfg: BrushConfig = BrushConfig()) -> None:
    """Draw one stroke of Yu et al.'s Algorithm 1 onto ``hole`` (in place).

    Start at a uniform pixel; for each of U{1..max_vertex} vertices: angle ~ U[0, max_angle],
    mirrored (2π − angle) on even vertices so strokes zig-zag instead of curling; length ~
    U[0, max_length]; move there with the brush (width ~ U[min_width, max_width], one per
    stroke), clipped to the image.
    """
    size = hole.shape[0]
    s = _scale(size)
    n_vertex = _uniform_int(rng, 1, cfg.max_vertex)
    x, y = _uniform_int(rng, 0, size - 1), _uniform_int(rng, 0, size - 1)
    width = max(1, int(round(rng.uniform(cfg.min_width, cfg.max_width) * s)))
    points = [(x, y)]
    for i in range(n_vertex):
        angle = math.radians(rng.uniform(0.0, cfg.max_angle_deg))
        if i % 2 == 0:
            angle = 2 * math.pi - angle
        length = rng.uniform(0.0, cfg.max_length) * s
        x = min(max(int(x + length * math.cos(angle)), 0), size - 1)
        y = min(max(int(y + length * math.sin(angle)), 0), size - 1)
        points.append((x, y))
    _polyline(hole, points, width)


def free_form(size: int, rng: np.random.Generator, cfg: BrushConfig = BrushConfig()) -> np.ndarray:
    """Free-form brush strokes (Yu et al.; EXE-GAN §IV-A.3): U{1..max_strokes} strokes."""
    hole = np.zeros((size, size), np.float32)
    for _ in range(_uniform_int(rng, 1, cfg.max_strokes)):
        brush_stroke(hole, rng, cfg)
    return hole


# ----------------------------------------------------------------------------- EXE-GAN: strokes + rectangles
def random_rectangle(hole: np.ndarray, rng: np.random.Generator, max_side: int) -> None:
    """One rectangle with sides U{1..max_side}; as in Co-Mod-GAN's mask code (which EXE-GAN
    uses), up to half of it may hang outside the image, so borders get holes too."""
    size = hole.shape[0]
    w, h = _uniform_int(rng, 1, max_side), _uniform_int(rng, 1, max_side)
    x = _uniform_int(rng, -(w // 2), size - w + w // 2)
    y = _uniform_int(rng, -(h // 2), size - h + h // 2)
    _rect(hole, x, y, w, h)


def exegan(size: int, rng: np.random.Generator, cfg: BrushConfig = BrushConfig()) -> np.ndarray:
    """EXE-GAN's training masks (§IV-A.3): brush strokes ∪ rectangles.

    "The number of up-to-half-size rectangles was uniformly sampled within [0, 5] and the
    number of up-to-quarter-size rectangles within [0, 10]". The authors' code (Co-Mod-GAN's
    ``RandomMask``) draws ``randint(5)`` rectangles of side < s and ``randint(10)`` of side
    < s/2 — twice the sizes the paper states; we follow the paper (sides ≤ s/2 and ≤ s/4,
    counts 0..5 and 0..10 inclusive) and keep the code's placement.
    """
    hole = free_form(size, rng, cfg)
    for _ in range(_uniform_int(rng, 0, 5)):
        random_rectangle(hole, rng, max(size // 2, 1))
    for _ in range(_uniform_int(rng, 0, 10)):
        random_rectangle(hole, rng, max(size // 4, 1))
    return hole


# ----------------------------------------------------------------------------- QuickDraw-style strokes (refattr)
@dataclass(frozen=True)
class SketchConfig:
    """Hand-drawn-looking strokes imitating the QuickDraw irregular masks (QD-IMD) of refattr.

    QD-IMD renders strokes of human QuickDraw sketches with a thick pen. Offline we have no
    sketches, so a stroke is a pen trajectory: a heading that drifts smoothly (curvature is
    an AR(1) process, ``turn_sigma`` rad per step) with occasional sharp corners, sampled at
    ``step`` px and drawn ``width`` px thick. Sizes at 256 px, scaled with the mask.
    """

    min_strokes: int = 1
    max_strokes: int = 6
    min_points: int = 8
    max_points: int = 40
    step: tuple[float, float] = (5.0, 12.0)
    width: tuple[float, float] = (6.0, 18.0)
    turn_sigma: float = 0.10
    curvature_memory: float = 0.85
    corner_prob: float = 0.08


def sketch_stroke(hole: np.ndarray, rng: np.random.Generator, cfg: SketchConfig = SketchConfig()) -> None:
    """Draw one QuickDraw-like pen stroke onto ``hole`` (in place)."""
    size = hole.shape[0]
    s = _scale(size)
    x, y = rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.9) * size
    heading = rng.uniform(0.0, 2 * math.pi)
    curvature = 0.0
    step = rng.uniform(*cfg.step) * s
    width = max(1, int(round(rng.uniform(*cfg.width) * s)))
    points = [(int(x), int(y))]
    for _ in range(_uniform_int(rng, cfg.min_points, cfg.max_points)):
        if rng.random() < cfg.corner_prob:  # a pen changing direction abruptly (a corner of a drawn shape)
            heading += rng.choice([-1.0, 1.0]) * rng.uniform(math.pi / 3, 2 * math.pi / 3)
        curvature = cfg.curvature_memory * curvature + rng.normal(0.0, cfg.turn_sigma)
        heading += curvature
        nx, ny = x + step * math.cos(heading), y + step * math.sin(heading)
        if not (0 <= nx < size and 0 <= ny < size):  # bounce off the border, as a pen stays on its canvas
            heading += math.pi
            nx, ny = min(max(nx, 0.0), size - 1.0), min(max(ny, 0.0), size - 1.0)
        x, y = nx, ny
        points.append((int(x), int(y)))
    _polyline(hole, points, width)


def quickdraw(size: int, rng: np.random.Generator, cfg: SketchConfig = SketchConfig()) -> np.ndarray:
    """QuickDraw-style strokes only (refattr's irregular part): U{min..max_strokes} strokes."""
    hole = np.zeros((size, size), np.float32)
    for _ in range(_uniform_int(rng, cfg.min_strokes, cfg.max_strokes)):
        sketch_stroke(hole, rng, cfg)
    return hole


def random_square(size: int, rng: np.random.Generator, side: int) -> np.ndarray:
    """One ``side×side`` square at a uniform position fully inside the image."""
    hole = np.zeros((size, size), np.float32)
    side = min(max(int(side), 1), size - 1)
    _rect(hole, _uniform_int(rng, 0, size - side), _uniform_int(rng, 0, size - side), side, side)
    return hole


def square85(size: int, rng: np.random.Generator) -> np.ndarray:
    """refattr's 85×85 square (at 256; ``round(85·size/256)`` otherwise) at a random position."""
    return random_square(size, rng, round(85 * _scale(size)))


def refattr(size: int, rng: np.random.Generator, cfg: SketchConfig = SketchConfig()) -> np.ndarray:
    """refattr §4.1: "the Quickdraw irregular mask dataset combined with 85×85 square holes at a
    random position" — the union of QuickDraw-style strokes and one 85×85 square."""
    return np.maximum(quickdraw(size, rng, cfg), square85(size, rng))


# ----------------------------------------------------------------------------- LaFIn
def block128(size: int, rng: np.random.Generator) -> np.ndarray:
    """LaFIn's random block: 128×128 at 256 (half the side), uniform position fully inside."""
    return random_square(size, rng, size // 2)


# Liu et al. 2018 (partial convolutions) group their irregular masks by hole-to-image ratio
# into six bins: (0.01, 0.1], (0.1, 0.2], …, (0.5, 0.6].
NVIDIA_RATIO_BINS: list[tuple[float, float]] = [(0.01, 0.1)] + RATIO_BINS


def irregular(size: int, rng: np.random.Generator, cfg: BrushConfig = BrushConfig()) -> np.ndarray:
    """A stand-in for the NVIDIA irregular-mask dataset (Liu et al. 2018), which LaFIn trains
    on and which is not available offline: one of its six hole-ratio bins
    (:data:`NVIDIA_RATIO_BINS`) uniformly, then a free-form brush mask in that bin
    (:func:`mask_in_bin`).

    Why not the plain brush (:func:`free_form`): its ratios pile up at 10–35 % (median ≈ 24 %,
    fewer than 10 % of masks above 43 %), so a model trained on it rarely sees the 40–60 %
    holes that the NVIDIA masks — and the evaluation bins — hold in equal shares.
    """
    return mask_in_bin(NVIDIA_RATIO_BINS[int(rng.integers(len(NVIDIA_RATIO_BINS)))], size, rng, cfg)


def lafin(size: int, rng: np.random.Generator, irregular_masks: MaskFn | None = None) -> np.ndarray:
    """LaFIn's training masks: with probability ½ a random 128×128 block, else an irregular mask.

    The authors draw the irregular half from the NVIDIA irregular-mask dataset (Liu et al.),
    not available offline: pass ``irregular_masks=FolderMasks(dir)`` when you have it; the
    default stand-in is :func:`irregular` (brush masks spread over the dataset's ratio bins).
    """
    if rng.random() < 0.5:
        return block128(size, rng)
    return (irregular_masks or irregular)(size, rng)


# ----------------------------------------------------------------------------- fixed geometries
def centre(size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The centred square of half the side (25 % of the pixels); ``rng`` is ignored."""
    hole = np.zeros((size, size), np.float32)
    side = size // 2
    off = (size - side) // 2
    hole[off:off + side, off:off + side] = 1.0
    return hole


def wgan_central(size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Vitoria et al.'s "central square" (table 1): the text gives no size; we use the centre
    square of half the side (the central 32×32 at 64), Yeh et al.'s central block, which
    that table compares against."""
    return centre(size, rng)


# Squares as (x, y, side) in pixels of a 64×64 aligned CelebA crop.
THREE_SQUARES_64: tuple[tuple[int, int, int], ...] = ((12, 18, 16), (36, 18, 16), (24, 40, 16))


def wgan_three_squares(size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Vitoria et al.'s "three squares" mask (table 2), at 64 px and scaled.

    The papers name this mask and show it only in figures (not in the text we have): our
    reconstruction is three 16×16 squares (side s/4) over the left eye, the right eye and
    the mouth of an aligned 64×64 CelebA face (:data:`THREE_SQUARES_64`), 18.75 % of the
    pixels, non-overlapping. A deviation to keep in mind when comparing to table 2.
    """
    hole = np.zeros((size, size), np.float32)
    k = size / 64
    for x, y, side in THREE_SQUARES_64:
        x0, y0, x1, y1 = round(x * k), round(y * k), round((x + side) * k), round((y + side) * k)
        hole[y0:y1, x0:x1] = 1.0
    return hole


# ----------------------------------------------------------------------------- hole-ratio bins
def bin_name(bin: tuple[float, float]) -> str:
    """``(0.1, 0.2)`` → ``"bin_10_20"``."""
    lo, hi = bin
    return f"bin_{round(lo * 100)}_{round(hi * 100)}"


BIN_NAMES: list[str] = [bin_name(b) for b in RATIO_BINS] + ["centre"]


def _parse_bin(bin: tuple[float, float] | str) -> tuple[float, float] | str:
    if isinstance(bin, str):
        if bin == "centre":
            return bin
        for b in RATIO_BINS:
            if bin_name(b) == bin:
                return b
        raise FaceInpaintError(f"unknown hole-ratio bin {bin!r}; choose one of {', '.join(BIN_NAMES)}")
    lo, hi = float(bin[0]), float(bin[1])
    if not 0.0 <= lo < hi <= 1.0:
        raise FaceInpaintError(f"hole-ratio bin {bin!r}: need 0 ≤ lo < hi ≤ 1")
    return lo, hi


def in_bin(ratio: float, bin: tuple[float, float]) -> bool:
    """``lo ≤ ratio < hi`` (a ratio on a boundary belongs to the upper bin)."""
    return bin[0] <= ratio < bin[1]


def mask_in_bin(bin: tuple[float, float] | str, size: int, rng: np.random.Generator,
                cfg: BrushConfig = BrushConfig(), max_rejects: int = 30, max_restarts: int = 1000) -> np.ndarray:
    """A free-form brush mask whose hole ratio lies in ``bin`` (``(lo, hi)``, a bin name, or "centre").

    Growing with rejection: draw a target ratio t ~ U[lo, hi) (so ratios spread over the bin
    instead of piling up at ``lo``), then add brush strokes one at a time; a stroke that
    would push the ratio to ``hi`` or beyond is rejected and another is drawn; after
    ``max_rejects`` rejections in a row the mask restarts empty. Never returns a mask
    outside the bin (asserted).
    """
    size = _check_size(size)
    b = _parse_bin(bin)
    if b == "centre":
        return centre(size)
    lo, hi = b
    n_pixels = size * size
    if math.ceil(lo * n_pixels) >= hi * n_pixels:
        raise FaceInpaintError(f"hole-ratio bin {bin!r} holds no mask of {size}×{size} pixels")
    for _ in range(max_restarts):
        target = rng.uniform(lo, hi)
        hole = np.zeros((size, size), np.float32)
        ratio, rejects = 0.0, 0
        while ratio < target and rejects < max_rejects:
            candidate = hole.copy()
            brush_stroke(candidate, rng, cfg)
            r = np.count_nonzero(candidate) / n_pixels
            if r >= hi:
                rejects += 1
                continue
            hole, ratio, rejects = candidate, r, 0
        if in_bin(ratio, (lo, hi)):
            assert in_bin(hole_ratio(hole), (lo, hi))
            return hole
    raise FaceInpaintError(f"hole-ratio bin {bin!r}: no {size}×{size} brush mask found in {max_restarts} restarts")


def _bin_kind(b: tuple[float, float] | str) -> MaskFn:
    def fn(size: int, rng: np.random.Generator) -> np.ndarray:
        return mask_in_bin(b, size, rng)

    fn.__name__ = bin_name(b) if not isinstance(b, str) else b
    fn.__doc__ = f"Free-form brush mask with hole ratio in [{b[0]:.0%}, {b[1]:.0%})." if not isinstance(b, str) else None
    return fn


# ----------------------------------------------------------------------------- registry
MASK_KINDS: dict[str, MaskFn] = {
    "free_form": free_form,
    "exegan": exegan,
    "quickdraw": quickdraw,
    "refattr": refattr,
    "square85": square85,
    "block128": block128,
    "irregular": irregular,
    "lafin": lafin,
    "centre": centre,
    "wgan_central": wgan_central,
    "wgan_three_squares": wgan_three_squares,
    **{bin_name(b): _bin_kind(b) for b in RATIO_BINS},
}

# Which paper each kind comes from (the notebook and the CLI help print it).
KIND_PAPER: dict[str, str] = {
    "free_form": "EXE-GAN (Yu et al.'s free-form brush)",
    "exegan": "EXE-GAN (brush + rectangles)",
    "quickdraw": "refattr (QuickDraw-style strokes)",
    "refattr": "refattr (QuickDraw-style strokes + 85×85 square)",
    "square85": "refattr (85×85 square)",
    "block128": "LaFIn (128×128 block)",
    "irregular": "LaFIn (NVIDIA irregular-mask stand-in: brush, ratio bins 1–60 %)",
    "lafin": "LaFIn (50 % block, 50 % irregular)",
    "centre": "evaluation (centre square, half the side)",
    "wgan_central": "Vitoria et al. (central square)",
    "wgan_three_squares": "Vitoria et al. (three squares)",
    **{bin_name(b): f"evaluation (hole ratio {b[0]:.0%}–{b[1]:.0%})" for b in RATIO_BINS},
}


def mask_fn(kind: str) -> MaskFn:
    """The generator registered as ``kind`` (a one-line error listing the kinds otherwise)."""
    try:
        return MASK_KINDS[kind]
    except KeyError:
        raise FaceInpaintError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}") from None


def kind_rng(seed: int, kind: str, index: int) -> np.random.Generator:
    """The generator for mask ``index`` of ``kind`` under ``seed``: independent of how many are drawn."""
    if int(seed) < 0:
        raise FaceInpaintError(f"mask seed {seed}: must be ≥ 0")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(kind.encode()), int(index)]))


def sample(kind: str, size: int, rng: np.random.Generator, max_redraws: int = 100) -> np.ndarray:
    """One ``size×size`` mask of ``kind`` from ``rng``; an empty or full draw (useless for
    inpainting, and rare) is redrawn from the same generator."""
    fn, size = mask_fn(kind), _check_size(size)
    for _ in range(max_redraws):
        hole = fn(size, rng).astype(np.float32, copy=False)
        if 0 < np.count_nonzero(hole) < hole.size:
            return hole
    raise FaceInpaintError(f"mask kind {kind!r} at {size}px: {max_redraws} draws were all empty or full")


def sample_batch(kind: str, size: int, n: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` masks from a running generator (for training loops): ``n×1×size×size``."""
    return to_tensor([sample(kind, size, rng) for _ in range(n)])


def generate(kind: str, size: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` seeded masks of ``kind``: float32 ``n×1×size×size``, 1 = hole. Same seed → same bytes."""
    if int(n) < 1:
        raise FaceInpaintError(f"number of masks {n}: must be ≥ 1")
    return to_tensor([sample(kind, size, kind_rng(seed, kind, i)) for i in range(int(n))])


def test_masks(size: int, n_per_bin: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The fixed evaluation masks: bin name → ``n_per_bin×1×size×size`` (every evaluation uses these)."""
    return {name: generate(name, size, n_per_bin, seed) for name in BIN_NAMES}


test_masks.__test__ = False  # a library function, not a pytest test


def write_masks(kind: str, size: int, n: int, seed: int, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``n`` seeded masks of ``kind`` as 8-bit PNGs (white = hole), atomically.

    Files are ``out_dir/00000.png …``, plus ``out_dir/masks.json`` recording kind, size,
    seed and each file's hole ratio. Returns the PNG paths. (``faceinpaint masks`` calls this.)
    """
    out_dir = Path(out_dir)
    masks = generate(kind, size, n, seed)
    width = max(5, len(str(n - 1)))
    paths = []
    for i in range(masks.shape[0]):
        path = out_dir / f"{i:0{width}d}.png"
        save_mask(masks[i, 0], path)
        paths.append(path)
    ratios = hole_ratio(masks)
    write_json(out_dir / "masks.json", {
        "kind": kind, "size": size, "n": int(n), "seed": int(seed), "paper": KIND_PAPER.get(kind, ""),
        "convention": "8-bit PNG, white (255) = hole",
        "hole_ratio": {p.name: round(float(r), 6) for p, r in zip(paths, ratios)},
    })
    return paths


# ----------------------------------------------------------------------------- real mask folders
def _read_white(path: Path) -> np.ndarray:
    """A mask file as a boolean ``H×W`` array, True where the pixel is white (≥ 128)."""
    rgb = read_rgb_array(path)  # every mode → RGB, with one-line errors for bad files
    return rgb.max(axis=2) >= 128


def _resize_nearest(arr: np.ndarray, size: int) -> np.ndarray:
    if arr.shape == (size, size):
        return arr
    img = Image.fromarray(arr.astype(np.uint8) * 255, mode="L").resize((size, size), Image.NEAREST)
    return np.asarray(img) >= 128


def detect_hole_is_white(whites: Sequence[np.ndarray]) -> bool:
    """Guess a mask folder's polarity: holes are the minority of its pixels.

    NVIDIA's irregular masks (and QD-IMD copies) circulate in both polarities. Holes cover
    less than half of the image in both datasets (NVIDIA's bins stop at 60 %, and most
    masks are far below 50 %), so over the whole folder the minority colour is the hole.
    A folder of mostly >50 % masks fools this: pass ``hole_is_white`` explicitly then.
    """
    white = sum(float(w.sum()) for w in whites) / max(sum(w.size for w in whites), 1)
    return white <= 0.5


def load_mask_folder(folder: str | os.PathLike, size: int, *, hole_is_white: bool | None = None,
                     limit: int | None = None) -> torch.Tensor:
    """Load a folder of mask images (NVIDIA irregular masks, QD-IMD, yours) as ``N×1×size×size``.

    Files are read in name order; each is binarised (a pixel is white when its brightest
    channel is ≥ 128), resized to ``size`` with nearest neighbour, and mapped to holes with
    ``hole_is_white`` (True: white = hole, our convention; False: black = hole, as in some
    NVIDIA releases; None: detected with :func:`detect_hole_is_white`).
    """
    folder = Path(folder)
    size = _check_size(size)
    files = list_images(folder)
    if limit is not None:
        files = files[: int(limit)]
    if not files:
        raise BadImageError(f"{folder}: no mask images (PNG/JPEG/…) in this folder")
    whites = [_read_white(p) for p in files]
    if hole_is_white is None:
        hole_is_white = detect_hole_is_white(whites)
    holes = [_resize_nearest(w if hole_is_white else ~w, size).astype(np.float32) for w in whites]
    return to_tensor(holes)


@dataclass
class FolderMasks:
    """A :data:`MaskFn` over a folder of real masks: each call picks a random file.

    Use it where a paper trains on a mask dataset, e.g. ``lafin(size, rng, FolderMasks(dir))``
    or ``MASK_KINDS["nvidia"] = FolderMasks(dir)``. Files are read once and cached at
    each requested size.
    """

    folder: str | os.PathLike
    hole_is_white: bool | None = None
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __call__(self, size: int, rng: np.random.Generator) -> np.ndarray:
        if size not in self._cache:
            self._cache[size] = to_array(load_mask_folder(self.folder, size, hole_is_white=self.hole_is_white))
            if self._cache[size].ndim == 2:
                self._cache[size] = self._cache[size][None]
        masks = self._cache[size]
        return masks[int(rng.integers(0, masks.shape[0]))].copy()
