"""iBUG-68 facial landmarks: detection (dlib), flips, .pts files, LaFIn's landmark map, alignment.

Convention (DESIGN.md): landmarks are ``…×68×2`` arrays of ``(x, y)`` in pixels of the image
they belong to, iBUG-68 order, with the centre of the top-left pixel at ``(0, 0)`` (dlib's
convention; menpo/iBUG ``.pts`` files are 1-based and are shifted by −1 on reading).

iBUG-68 index groups (0-based)::

    jaw 0–16 · right brow 17–21 · left brow 22–26 · nose bridge 27–30 · nose base 31–35
    right eye 36–41 · left eye 42–47 · outer lips 48–59 · inner lips 60–67

("right"/"left" are the subject's; 36 and 45 are the outer eye corners that normalise the
NME, "normalized mean error by inter-ocular factor", LaFIn Tables 4–5.)
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

N_LANDMARKS = 68
DETECTION_VERSION = 1  # part of the prepared-landmarks cache key: bump when detect() changes its output


# ----------------------------------------------------------------------------- flips
def _flip_permutation() -> np.ndarray:
    """Index ``i`` of a flipped face takes the point ``perm[i]`` of the original."""
    pairs: list[tuple[int, int]] = []
    pairs += [(i, 16 - i) for i in range(8)]                        # jaw, 8 is the chin
    pairs += [(17 + i, 26 - i) for i in range(5)]                   # brows
    pairs += [(31, 35), (32, 34)]                                   # nose wings, 33 tip
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]     # outer lips, 51/57 centre
    pairs += [(60, 64), (61, 63), (65, 67)]                         # inner lips, 62/66 centre
    perm = np.arange(N_LANDMARKS)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


FLIP_PERMUTATION: np.ndarray = _flip_permutation()
FLIP_PERMUTATION.setflags(write=False)


def flip_landmarks(lm, width: int):
    """Landmarks of the horizontally flipped image (``image[..., ::-1]``).

    ``x' = (W − 1) − x`` (pixel centres), then the left/right points swap through
    :data:`FLIP_PERMUTATION` so that, e.g., point 36 is still the subject's right outer eye
    corner (LaFIn trains with flips; without the permutation the landmark map is mirrored
    but mislabelled). Works on numpy arrays and tensors of shape ``…×68×2``.
    """
    if isinstance(lm, torch.Tensor):
        out = lm[..., torch.tensor(FLIP_PERMUTATION.tolist(), device=lm.device), :].clone()
    else:
        out = np.array(np.asarray(lm)[..., FLIP_PERMUTATION, :], copy=True)
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def outer_eye_corners() -> tuple[int, int]:
    """Indices of the outer eye corners (36, 45): the inter-ocular distance of the NME."""
    return 36, 45


# ----------------------------------------------------------------------------- files
def read_pts(path: str | os.PathLike, n_points: int | None = N_LANDMARKS) -> np.ndarray:
    """Read a menpo/iBUG ``.pts`` file (``version: 1``, ``n_points: 68``, ``{ x y … }``).

    The files are 1-based (menpo's importer subtracts 1 too); returns ``n×2`` float32
    ``(x, y)`` in 0-based pixels. ``n_points`` (68 by default; None accepts any) is checked.
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read landmark file ({e.__class__.__name__})") from None
    try:
        start, end = lines.index("{"), lines.index("}")
        pts = np.array([[float(v) for v in ln.split()] for ln in lines[start + 1:end] if ln], dtype=np.float32)
    except ValueError:
        raise DataError(f"{path}: not a .pts file (expected '{{', x y lines, '}}')") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or (n_points is not None and len(pts) != n_points):
        raise DataError(f"{path}: expected {n_points or 'n'} points of (x, y), got shape {pts.shape}")
    return pts - 1.0


# ----------------------------------------------------------------------------- LaFIn map
def landmark_map(lm, size: int) -> torch.Tensor:
    """LaFIn's landmark channel: a zero image with the 68 landmark pixels set to 1.

    It is the 4th input channel of LaFIn's discriminator and inpainter (Tables 7–8, input
    ``256²×4``: image + landmarks, ``G_P(L̂, I^M)`` of §3).
    ``lm`` is ``68×2`` (→ ``1×H×W``) or ``N×68×2`` (→ ``N×1×H×W``), in pixels of a
    ``size×size`` image. As in the authors' ``generate_landmark_map``, coordinates are
    rounded to the nearest pixel and clamped into the image; NaN points (no detection) are
    left out.
    """
    lm_t = torch.as_tensor(np.asarray(lm, dtype=np.float32) if not isinstance(lm, torch.Tensor) else lm).float()
    single = lm_t.dim() == 2
    if single:
        lm_t = lm_t[None]
    if lm_t.shape[-2:] != (N_LANDMARKS, 2):
        raise ValueError(f"landmarks must be [N×]68×2, got {tuple(lm_t.shape)}")
    n = lm_t.shape[0]
    out = torch.zeros(n, 1, size, size, device=lm_t.device)
    ok = torch.isfinite(lm_t).all(-1)
    idx = torch.floor(lm_t + 0.5).clamp(0, size - 1).long()
    b = torch.arange(n, device=lm_t.device)[:, None].expand(n, N_LANDMARKS)
    out[b[ok], 0, idx[..., 1][ok], idx[..., 0][ok]] = 1.0
    return out[0] if single else out


def face_box(lm: np.ndarray, image_hw: tuple[int, int], scale: float = 2.0) -> tuple[int, int, int, int]:
    """A square ``(x0, y0, x1, y1)`` centred on the landmarks, ``scale`` × their extent, inside the image.

    Landmark benchmarks give the detector a face box from the annotation; cropping to this
    box picks the annotated person in a group photo.
    """
    lm = np.asarray(lm, dtype=np.float64)
    lo, hi = np.nanmin(lm, 0), np.nanmax(lm, 0)
    centre, half = (lo + hi) / 2, scale * (hi - lo).max() / 2
    h, w = image_hw
    x0, y0 = np.maximum(np.floor(centre - half), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(centre + half), (w, h)).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


# ----------------------------------------------------------------------------- alignment
def similarity_transform(src: np.ndarray, dst: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Least-squares similarity ``dst ≈ s·R·src + t`` on the visible points (Umeyama 1991).

    With centred point sets ``X = src − μ_src``, ``Y = dst − μ_dst`` and
    ``Σ = Yᵀ X / n = U D Vᵀ``: ``R = U S Vᵀ`` (eq. 40; ``S = diag(1, det(U Vᵀ))`` forbids
    reflections), ``t = μ_dst − s R μ_src`` (eq. 41), ``s = tr(D S) / σ²_src`` (eq. 42).
    Returns the ``2×3`` matrix ``[s·R | t]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    keep = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    if visible is not None:
        keep &= np.asarray(visible, dtype=bool)
    if keep.sum() < 2:
        raise ValueError(f"a similarity transform needs at least 2 visible points, got {int(keep.sum())}")
    x, y = src[keep], dst[keep]
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x = (xc ** 2).sum(1).mean()
    if var_x == 0:
        raise ValueError("the visible source points are all at one place")
    sigma = yc.T @ xc / len(x)
    u, d, vt = np.linalg.svd(sigma)
    s_diag = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ np.diag(s_diag) @ vt
    scale = (d * s_diag).sum() / var_x
    t = my - scale * rot @ mx
    return np.concatenate([scale * rot, t[:, None]], axis=1)


def similarity_align(src_lm: np.ndarray, dst_lm: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Move all 68 ``src_lm`` points by the similarity that best fits them to ``dst_lm``.

    Only ``visible`` points (bool ``68``, e.g. the target's landmarks outside the hole)
    are used for the fit; every point is transformed. Used to carry an exemplar's
    landmarks onto a masked input (LaFIn guided by an exemplar).
    """
    m = similarity_transform(src_lm, dst_lm, visible)
    src = np.asarray(src_lm, dtype=np.float64)
    return (src @ m[:, :2].T + m[:, 2]).astype(np.float32)


# ----------------------------------------------------------------------------- detection (dlib)
@dataclass
class Detection:
    """68 landmarks (or None) and which detector pass found the face."""

    landmarks: np.ndarray | None
    detector: str  # "hog", "cnn", "hog+up1", "cnn+up1" or "none"


class LandmarkDetector:
    """dlib: face detector + 68-point shape predictor (assets ``dlib_landmarks68``, ``dlib_mmod_detector``).

    Passes, stopping at the first face found: HOG (no upsampling), the CNN (MMOD)
    detector, then both again with the image upsampled once (small faces). With several
    faces the largest box is used.
    """

    def __init__(self) -> None:
        import dlib

        from . import assets

        self._dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(assets.path("dlib_landmarks68")))
        self._cnn_path = str(assets.path("dlib_mmod_detector"))
        self._cnn = None  # loaded on first need: most faces are found by HOG

    @property
    def cnn(self):
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(self._cnn_path)
        return self._cnn

    def _boxes(self, rgb: np.ndarray, kind: str, upsample: int) -> list:
        if kind == "hog":
            return list(self.hog(rgb, upsample))
        return [d.rect for d in self.cnn(rgb, upsample)]

    def largest_box(self, rgb: np.ndarray):
        """The largest face box (a ``dlib.rectangle``) that HOG finds without upsampling, else the
        CNN detector, else None: the box a completion is scored in (experiments' ``face_boxes``)."""
        rgb = _check_rgb(rgb)
        found = self._boxes(rgb, "hog", 0) or self._boxes(rgb, "cnn", 0)
        return max(found, key=lambda r: r.width() * r.height()) if found else None

    def landmarks_in_box(self, rgb: np.ndarray, box) -> np.ndarray:
        """The shape predictor's 68 landmarks (``68×2`` float32, pixels of ``rgb``) inside ``box``."""
        return np.array([[p.x, p.y] for p in self.predictor(_check_rgb(rgb), box).parts()], dtype=np.float32)

    def detect_faces(self, rgb: np.ndarray) -> tuple[list[np.ndarray], str]:
        """68 landmarks of every face found by the first pass that finds any, largest box first."""
        rgb = _check_rgb(rgb)
        for upsample in (0, 1):
            for kind in ("hog", "cnn"):
                boxes = sorted(self._boxes(rgb, kind, upsample), key=lambda r: -r.width() * r.height())
                if boxes:
                    faces = [np.array([[p.x, p.y] for p in self.predictor(rgb, box).parts()], dtype=np.float32)
                             for box in boxes]
                    return faces, kind + ("+up1" if upsample else "")
        return [], "none"

    def detect(self, rgb: np.ndarray) -> Detection:
        """The largest face (CelebA-style crops hold one face; a group photo gives its biggest)."""
        faces, how = self.detect_faces(rgb)
        return Detection(faces[0] if faces else None, how)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"detect_landmarks needs an H×W×3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


_DEFAULT: dict[int, LandmarkDetector] = {}
_LOCK = threading.Lock()


def default_detector() -> LandmarkDetector:
    """One detector per process (loading the 99 MB predictor takes about a second)."""
    with _LOCK:
        pid = os.getpid()
        if pid not in _DEFAULT:
            _DEFAULT[pid] = LandmarkDetector()
        return _DEFAULT[pid]


def detect_landmarks(rgb_uint8: np.ndarray, detector: LandmarkDetector | None = None) -> np.ndarray | None:
    """``68×2`` float32 landmarks of the largest face in an ``H×W×3`` uint8 RGB image, or None."""
    return (detector or default_detector()).detect(rgb_uint8).landmarks
