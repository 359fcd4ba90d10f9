"""Faces in the wild: detect on the known pixels, align to the training template, inpaint, paste back.

Every learned method here is trained on CelebA's aligned crops; a user's photo (shoulders,
background, a tilted or off-centre face, several people) is not one. This module does what
face-restoration tools do (facexlib's detect → align → restore → paste back, used by GFPGAN
and CodeFormer), for inpainting and for every method, through one wrapper:
:class:`AlignedInpainter` (``methods.get(name, align="auto")``).

For each image of the batch:

1. **Pre-fill.** The hole is filled by Telea (``methods.get("telea")``). The detectors and the
   shape predictor then see only the known pixels and a smooth guess, never the hole's
   (possibly ground-truth) pixels.
2. **Detect** (:func:`find_faces`): dlib HOG on the whole pre-filled image (also upsampled once
   when the image is at most :data:`HOG_UPSAMPLE_MAX_SIDE` px); when no HOG face meets the
   hole, dlib's CNN (MMOD) detector on a window around the hole (shrunk to at most
   :data:`CNN_MAX_SIDE` px: the CNN costs seconds per megapixel on a CPU); when neither finds
   a face that meets the hole, the user's box (``--face-box x,y,w,h``). Holes that cover most
   of a face are the normal case: the pre-fill keeps the face's outline for the detectors.
3. **Landmarks**: dlib's 68-point predictor on the face's box (pre-filled image).
4. **Align**: the least-squares similarity (Umeyama, :func:`faceinpaint.landmarks.similarity_transform`)
   from the face's landmarks onto the training data's mean landmark template at the model's
   resolution (:func:`template`), fitted on the landmarks outside the hole when at least
   :data:`MIN_VISIBLE` are (the predictor's points inside the hole are guesses), else on all 68.
5. **Warp** image and hole into the ``S×S`` crop (:func:`warp_into_crop`): area-averaged first
   when the face is larger than the crop (as the training crops were antialiased), then
   bilinear. The hole is warped as a float and thresholded ``> 0``: a crop pixel that touches
   any hole pixel is hole, so the hole never shrinks; crop pixels outside the photo are hole too.
6. **Inpaint** the crop with the method (it is already at the method's resolution).
7. **Paste back** (:func:`warp_from_crop`, bicubic): the crop's result, weighted by a feather that
   rises from 0 at the crop's border to 1 at :data:`FEATHER` × S inside it, is blended over the
   Telea fill — on hole pixels only. The final composite ``image ⊙ known + pred ⊙ hole`` keeps
   every known pixel bit-identical; hole pixels the crop does not cover keep the Telea fill.

Several faces: each face whose crop meets the hole is done in turn (the face with the most hole
pixels in its box first); a later face sees the hole pixels an earlier face filled completely as
known. No face: the inner method runs on the whole image as it is (today's path), and
``.last[i].note`` says so in one line (the CLI prints it to stderr; it is also logged at INFO on
the ``faceinpaint.align`` logger).

The template (:func:`template`) is the mean of the dlib landmarks of the prepared CelebA-999
**train** split (``landmarks_256.npy``, faces with landmarks), rescaled to each model resolution
with the pixel-centre convention. It is written to ``data/prepared/celeba999/landmark_template.json``
by ``faceinpaint data prepare`` for the prepared sizes, and lazily (atomically) on first use for
any other size or when the prepared landmarks changed since it was written.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from .errors import DataError, FaceInpaintError
from .landmarks import N_LANDMARKS, similarity_transform
from .methods.base import Guide, check_inputs, composite

log = logging.getLogger(__name__)

MODES = ("auto", "off")
TEMPLATE_FILE = "landmark_template.json"
TEMPLATE_VERSION = 1
DEFAULT_CROP = 256            # crop side for an inner method without ``.size`` (classical baselines)
FEATHER = 1 / 8               # feather width, as a fraction of the crop side
MIN_VISIBLE = 17              # landmarks outside the hole needed to fit the similarity on them alone
HOG_UPSAMPLE_MAX_SIDE = 1024  # HOG also upsampled ×2 (faces < 80 px) only up to this image side
CNN_MAX_SIDE = 640            # the CNN window is shrunk to at most this side
NO_FACE = "no face found on the known pixels ({tried}); inpainted the whole image as it is (no alignment)"


# ----------------------------------------------------------------------------- the template
_TEMPLATE_CACHE: dict[tuple, np.ndarray] = {}
_TEMPLATE_LOCK = threading.Lock()


def mean_landmarks(landmarks_256: np.ndarray, indices: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Mean of the finite ``landmarks_256[indices]`` (68×2 at 256 px) rescaled to ``size``: (template, n faces)."""
    from .data import rescale_landmarks

    lm = np.asarray(landmarks_256, dtype=np.float64)[np.asarray(indices, dtype=np.int64)]
    ok = np.isfinite(lm).all(axis=(1, 2))
    if not ok.any():
        raise DataError("no training face has landmarks: cannot build the alignment template")
    # the resize map is affine, so the mean of rescaled points = the rescaled mean
    return rescale_landmarks(lm[ok].mean(0).astype(np.float32), 256, size), int(ok.sum())


def template_path(root=None) -> Path:
    from .data import prepared_dir

    return prepared_dir(root) / TEMPLATE_FILE


def template(size: int, root=None) -> np.ndarray:
    """The training data's mean landmark template at ``size`` px (``68×2`` float32), computed once.

    Read from ``landmark_template.json`` beside the prepared data; computed and written
    (atomically) when absent, when ``size`` is new, or when ``landmarks_256.npy`` / ``split.json``
    changed since (their sha256 is the file's key).
    """
    from .assets import sha256_file
    from .data import PREPARE_HINT, prepared_dir
    from .io import write_json

    folder = prepared_dir(root)
    lm_file, split_file, names_file = folder / "landmarks_256.npy", folder / "split.json", folder / "names.json"
    for f in (lm_file, split_file, names_file):
        if not f.exists():
            raise DataError(f"{f}: prepared data missing (the alignment template is built from it); {PREPARE_HINT}")
    stat = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in (lm_file, split_file))
    ck = (str(folder), int(size), stat)
    with _TEMPLATE_LOCK:
        if ck in _TEMPLATE_CACHE:
            return _TEMPLATE_CACHE[ck].copy()
        key = {"landmarks_256": sha256_file(lm_file), "split": sha256_file(split_file), "v": TEMPLATE_VERSION}
        path = folder / TEMPLATE_FILE
        rec = {}
        if path.exists():
            try:
                rec = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                rec = {}
        if rec.get("key") != key:
            rec = {"key": key, "sizes": {}}
        if str(int(size)) not in rec["sizes"]:
            names = json.loads(names_file.read_text())
            train = set(json.loads(split_file.read_text())["train"])
            idx = np.array([i for i, n in enumerate(names) if n in train], dtype=np.int64)
            tmpl, n = mean_landmarks(np.load(lm_file), idx, int(size))
            rec["sizes"][str(int(size))] = tmpl.tolist()
            rec.update(n_faces=n, split="train", source="mean of dlib landmarks_256.npy, rescaled (pixel centres)")
            write_json(path, rec)
        out = np.asarray(rec["sizes"][str(int(size))], dtype=np.float32).reshape(N_LANDMARKS, 2)
        _TEMPLATE_CACHE[ck] = out
        return out.copy()


# ----------------------------------------------------------------------------- geometry
def crop_corners_in_image(matrix: np.ndarray, size: int) -> np.ndarray:
    """The crop's four outer corners (pixel edges) in image pixels: ``4×2``."""
    a, t = matrix[:, :2], matrix[:, 2]
    c = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    return (c - t) @ np.linalg.inv(a).T


def _footprint_bbox(matrix: np.ndarray, size: int, hw: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """Integer ``(x0, y0, x1, y1)`` of the crop's footprint in the image, padded, clipped (may be empty)."""
    pts = crop_corners_in_image(matrix, size)
    h, w = hw
    x0, y0 = np.floor(pts.min(0) - pad).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def _scale(matrix: np.ndarray) -> float:
    return float(math.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def warp_into_crop(image: np.ndarray, hole: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``H×W×3`` float32 and hole ``H×W`` (1 = missing) → the ``S×S`` crop ``matrix`` maps onto.

    ``matrix`` (2×3) maps image pixel centres to crop pixel centres. Where the crop is smaller
    than the face (scale < 1) the footprint is first area-averaged by the scale (the training
    crops were antialiased resizes), then sampled bilinearly. The hole is warped as a float and
    thresholded ``> 0`` — a crop pixel touched by any hole pixel is hole: never shrink — and
    crop pixels that fall (even partly) outside the image are hole too.
    """
    h, w = hole.shape
    s = _scale(matrix)
    x0, y0, x1, y1 = _footprint_bbox(matrix, size, (h, w), pad=2.0 / min(s, 1.0) + 2)
    if x1 <= x0 or y1 <= y0:  # the crop lies outside the image: nothing known
        return np.zeros((size, size, 3), np.float32), np.ones((size, size), np.float32)
    sub_img = np.ascontiguousarray(image[y0:y1, x0:x1], dtype=np.float32)
    sub_aux = np.ascontiguousarray(np.stack([hole[y0:y1, x0:x1], np.ones((y1 - y0, x1 - x0))], -1), dtype=np.float32)
    # small pixel (u, v) of a resize by (fx, fy) sits at ((u + .5)/fx − .5 + x0, (v + .5)/fy − .5 + y0)
    fx = fy = 1.0
    if s < 1.0:
        nw, nh = max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s)))
        fx, fy = nw / (x1 - x0), nh / (y1 - y0)
        sub_img = cv2.resize(sub_img, (nw, nh), interpolation=cv2.INTER_AREA)
        sub_aux = cv2.resize(sub_aux, (nw, nh), interpolation=cv2.INTER_AREA)
    small_to_image = np.array([[1 / fx, 0, 0.5 / fx - 0.5 + x0], [0, 1 / fy, 0.5 / fy - 0.5 + y0]])
    m = matrix[:, :2] @ small_to_image[:, :2]
    t = matrix[:, :2] @ small_to_image[:, 2] + matrix[:, 2]
    mm = np.concatenate([m, t[:, None]], 1)
    crop = cv2.warpAffine(sub_img, mm, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    aux = cv2.warpAffine(sub_aux, mm, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    crop_hole = ((aux[..., 0] > 0) | (aux[..., 1] < 1 - 1e-4)).astype(np.float32)
    # bilinear > 0 misses a hole pixel that falls between two samples' footprints (area + bilinear
    # weights reach only ~1 px); splatting each hole pixel's centre onto its nearest crop pixel
    # closes that gap, so every hole pixel that lands in the crop lands on hole
    ys, xs = np.nonzero(hole[y0:y1, x0:x1] >= 0.5)
    if len(xs):
        q = np.floor(_transform_points(np.stack([xs + x0, ys + y0], 1), matrix) + 0.5).astype(np.int64)
        q = q[((q >= 0) & (q < size)).all(1)]
        crop_hole[q[:, 1], q[:, 0]] = 1.0
    return np.clip(crop, -1, 1), crop_hole


def warp_from_crop(crop: np.ndarray, matrix: np.ndarray, hw: tuple[int, int]
                   ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A crop ``S×S×C`` back into image pixels (bicubic) over the footprint's box: (values, (x0, y0, x1, y1))."""
    size = crop.shape[0]
    x0, y0, x1, y1 = _footprint_bbox(matrix, size, hw, pad=2.0)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0) + crop.shape[2:], np.float32), (x0, y0, x0, y0)
    # region pixel p ↦ image pixel p + (x0, y0) ↦ crop A(p + o) + t
    t = matrix[:, 2] + matrix[:, :2] @ np.array([x0, y0], np.float64)
    mm = np.concatenate([matrix[:, :2], t[:, None]], 1)
    out = cv2.warpAffine(np.ascontiguousarray(crop, dtype=np.float32), mm, (x1 - x0, y1 - y0),
                         flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, (x0, y0, x1, y1)


def feather(size: int, width: float | None = None) -> np.ndarray:
    """``S×S`` weight: 0 outside the crop, rising linearly over ``width`` px (default FEATHER·S) to 1 inside."""
    width = max(2.0, FEATHER * size) if width is None else float(width)
    i = np.arange(size, dtype=np.float32)
    d = np.minimum(i + 0.5, size - 0.5 - i)              # distance of a pixel centre to the crop's edge
    edge = np.minimum(d[:, None], d[None, :])
    return np.clip(edge / width, 0.0, 1.0).astype(np.float32)


def _transform_points(pts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _hole_in_crop(hole: np.ndarray, matrix: np.ndarray, size: int) -> int:
    """How many hole pixels of the image map inside the crop."""
    ys, xs = np.nonzero(hole >= 0.5)
    if len(xs) == 0:
        return 0
    p = _transform_points(np.stack([xs, ys], 1), matrix)
    return int(((p >= -0.5) & (p <= size - 0.5)).all(1).sum())


# ----------------------------------------------------------------------------- detection
@dataclass
class FaceAlignment:
    """One face: its box ``(x, y, w, h)``, who found it, its 68 landmarks, the image → crop similarity."""

    box: tuple[int, int, int, int]
    source: str                      # "hog", "hog+up1", "cnn" or "box" (the user's)
    landmarks: np.ndarray            # 68×2, image pixels
    matrix: np.ndarray               # 2×3, image pixel → crop pixel
    visible: np.ndarray              # 68 bool: landmark outside the hole (fit on these when ≥ MIN_VISIBLE)
    size: int                        # the crop's side
    hole_pixels: int = 0             # hole pixels inside the crop
    crop: Tensor | None = field(default=None, repr=False)         # 1×3×S×S what the method got
    crop_hole: Tensor | None = field(default=None, repr=False)    # 1×1×S×S
    crop_result: Tensor | None = field(default=None, repr=False)  # 1×3×S×S what it returned

    @property
    def corners(self) -> np.ndarray:
        """The crop's outline in image pixels (``4×2``) — what the notebook draws."""
        return crop_corners_in_image(self.matrix, self.size)


def parse_face_box(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` → four ints (``w, h > 0``); a one-line FaceInpaintError otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise FaceInpaintError(f"--face-box {text}: expected x,y,w,h (four integers, e.g. 120,80,200,200)") from None
    if w <= 0 or h <= 0:
        raise FaceInpaintError(f"--face-box {text}: width and height must be > 0")
    return x, y, w, h


def check_face_box(box: tuple[int, int, int, int], hw: tuple[int, int], where: str = "image") -> None:
    """The box must overlap the image (a one-line error naming ``where`` otherwise)."""
    x, y, w, h = box
    H, W = hw
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise FaceInpaintError(f"{where}: --face-box {x},{y},{w},{h} lies outside the {W}×{H} image")


def _rect(dlib, box) -> object:
    x, y, w, h = (int(v) for v in box)
    return dlib.rectangle(x, y, x + w - 1, y + h - 1)


def _align_face(rgb, hole, rect, source, detector, tmpl, size) -> FaceAlignment:
    lm = np.array([[p.x, p.y] for p in detector.predictor(rgb, rect).parts()], dtype=np.float32)
    h, w = hole.shape
    idx = np.floor(lm + 0.5).astype(int)
    inside = (idx[:, 0] >= 0) & (idx[:, 0] < w) & (idx[:, 1] >= 0) & (idx[:, 1] < h)
    visible = inside.copy()
    visible[inside] = hole[idx[inside, 1], idx[inside, 0]] < 0.5
    matrix = similarity_transform(lm, tmpl, visible if visible.sum() >= MIN_VISIBLE else None)
    box = (rect.left(), rect.top(), rect.width(), rect.height())
    return FaceAlignment(box, source, lm, matrix, visible, size, _hole_in_crop(hole, matrix, size))


def _box_hole(hole: np.ndarray, box) -> int:
    x, y, w, h = box
    return int((hole[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] >= 0.5).sum())


_FOUND: "OrderedDict[tuple, tuple[list[FaceAlignment], list[str]]]" = OrderedDict()
_FOUND_MAX = 8


def find_faces(rgb: np.ndarray, hole: np.ndarray, size: int, tmpl: np.ndarray, *, face_box=None,
               detector=None) -> tuple[list[FaceAlignment], list[str]]:
    """The faces whose ``size``-px aligned crop meets the hole, on the pre-filled ``rgb`` (uint8 H×W×3).

    Detector passes in order: HOG (whole image; also ×2 upsampled for images ≤
    HOG_UPSAMPLE_MAX_SIDE), the CNN on a window around the hole, ``face_box``; a pass runs only
    while some hole pixel lies in no found face's crop (so the CNN, seconds on a CPU, runs only
    when HOG left part of the hole without a face), and a box that overlaps an earlier face
    (IoU > 0.3) is the same face. Returns the faces (most hole pixels in the box first) and the passes tried.
    The last few answers are remembered (keyed by the bytes of image, hole and template), so two
    methods evaluated on the same photo and hole detect once.
    """
    key = (hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest(),
           hashlib.sha1(np.ascontiguousarray(hole >= 0.5).tobytes()).hexdigest(), hole.shape, int(size),
           np.asarray(tmpl, np.float32).tobytes(), None if face_box is None else tuple(face_box), id(detector))
    if key in _FOUND:
        faces, tried = _FOUND[key]
        return [copy.copy(f) for f in faces], list(tried)
    faces, tried = _find_faces(rgb, hole, size, tmpl, face_box=face_box, detector=detector)
    _FOUND[key] = ([copy.copy(f) for f in faces], list(tried))
    while len(_FOUND) > _FOUND_MAX:
        _FOUND.popitem(last=False)
    return faces, tried


def _find_faces(rgb, hole, size, tmpl, *, face_box=None, detector=None):
    import dlib

    from .landmarks import default_detector

    det = detector or default_detector()
    rgb = np.ascontiguousarray(rgb)
    H, W = hole.shape
    tried: list[str] = []

    faces: list[FaceAlignment] = []
    covered = np.zeros(hole.shape, bool)

    def add(rects, source):
        for r in rects:
            box = (r.left(), r.top(), r.width(), r.height())
            if any(_iou_xywh(box, f.box) > 0.3 for f in faces):  # the same face from an earlier pass
                continue
            f = _align_face(rgb, hole, r, source, det, tmpl, size)
            if f.hole_pixels > 0:
                faces.append(f)
                covered[_crop_mask(f.matrix, size, hole.shape)] = True

    passes = [("hog", lambda: list(det.hog(rgb, 0)))]
    if max(H, W) <= HOG_UPSAMPLE_MAX_SIDE:
        passes.append(("hog+up1", lambda: list(det.hog(rgb, 1))))
    passes.append(("cnn", lambda: _cnn_near_hole(det, dlib, rgb, hole)))
    if face_box is not None:
        passes.append(("box", lambda: [_rect(dlib, face_box)]))
    for source, run in passes:
        if faces and not (hole >= 0.5)[~covered].any():  # every hole pixel lies in some face's crop
            break
        tried.append(source)
        add(run(), source)
    faces.sort(key=lambda f: (-_box_hole(hole, f.box), -f.hole_pixels))
    return faces, tried


def _crop_mask(matrix: np.ndarray, size: int, hw: tuple[int, int]) -> np.ndarray:
    """Bool ``H×W``: the image pixels whose centres map inside the crop."""
    x0, y0, x1, y1 = _footprint_bbox(matrix, size, hw, pad=1.0)
    out = np.zeros(hw, bool)
    if x1 > x0 and y1 > y0:
        ys, xs = np.mgrid[y0:y1, x0:x1]
        p = _transform_points(np.stack([xs.ravel(), ys.ravel()], 1), matrix)
        out[y0:y1, x0:x1] = ((p >= -0.5) & (p <= size - 0.5)).all(1).reshape(y1 - y0, x1 - x0)
    return out


def _iou_xywh(a, b) -> float:
    return _iou(np.array([a[0], a[1], a[0] + a[2], a[1] + a[3]], float),
                np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], float))


def _cnn_near_hole(det, dlib, rgb: np.ndarray, hole: np.ndarray) -> list:
    """dlib's CNN (MMOD) on the hole's box grown by max(its side, ¼ of the image's short side) per side."""
    ys, xs = np.nonzero(hole >= 0.5)
    H, W = hole.shape
    side = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    grow = max(side, min(H, W) // 4)
    x0, x1 = max(xs.min() - grow, 0), min(xs.max() + 1 + grow, W)
    y0, y1 = max(ys.min() - grow, 0), min(ys.max() + 1 + grow, H)
    win = rgb[y0:y1, x0:x1]
    f = min(1.0, CNN_MAX_SIDE / max(win.shape[:2]))
    if f < 1.0:
        win = cv2.resize(win, (max(1, round(win.shape[1] * f)), max(1, round(win.shape[0] * f))),
                         interpolation=cv2.INTER_AREA)
    out = []
    for d in det.cnn(np.ascontiguousarray(win), 0):
        r = d.rect
        out.append(hog_like(dlib, r.left() / f + x0, r.top() / f + y0, (r.right() + 1) / f + x0,
                            (r.bottom() + 1) / f + y0))
    return out


# dlib's 68-point predictor was trained on HOG boxes; an MMOD box sits a little higher. Measured on
# 82 CelebA-999 faces (every 12th) that both detectors find once: the HOG box's centre is the CNN
# box's + (0.029, 0.072)·w and its side 1.026·w (stds 0.06, 0.07, 0.12).
CNN_TO_HOG = (0.029, 0.072, 1.026)


def hog_like(dlib, x0: float, y0: float, x1: float, y1: float):
    """A CNN (MMOD) box ``[x0, x1) × [y0, y1)`` moved to where HOG would put it (:data:`CNN_TO_HOG`)."""
    w = x1 - x0
    cx, cy = (x0 + x1) / 2 + CNN_TO_HOG[0] * w, (y0 + y1) / 2 + CNN_TO_HOG[1] * w
    half = CNN_TO_HOG[2] * w / 2
    return dlib.rectangle(int(round(cx - half)), int(round(cy - half)), int(round(cx + half)) - 1,
                          int(round(cy + half)) - 1)


# ----------------------------------------------------------------------------- the wrapper
@dataclass
class AlignReport:
    """What :class:`AlignedInpainter` did for one image: the faces it aligned, or the one-line note."""

    faces: list[FaceAlignment]
    tried: list[str]
    note: str | None = None
    size: int = 0


def _to_hwc(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu()[0].permute(1, 2, 0).numpy().astype(np.float32)


def _from_hwc(a: np.ndarray, device) -> Tensor:
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float().to(device)


class AlignedInpainter:
    """Any Inpainter, run on aligned face crops and pasted back (module docstring, steps 1–7).

    ``inner``: the method; its ``.size`` is the crop side (:data:`DEFAULT_CROP` without one).
    ``face_box``: ``(x, y, w, h)``, the face to use when the detectors find none meeting the hole.
    ``template_landmarks``: ``68×2`` at ``size`` (default: :func:`template` of the prepared data).
    ``detector``: a :class:`~faceinpaint.landmarks.LandmarkDetector` (default: the shared one).
    ``.last``: one :class:`AlignReport` per image of the last call.
    """

    def __init__(self, inner, *, size: int | None = None, face_box=None, template_landmarks=None,
                 detector=None, root=None):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.size = int(size or getattr(inner, "size", None) or DEFAULT_CROP)
        self.face_box = None if face_box is None else tuple(int(v) for v in face_box)
        self._template = None if template_landmarks is None else np.asarray(template_landmarks, np.float32)
        self._detector, self._root = detector, root
        self._telea = None
        self.last: list[AlignReport] = []

    @property
    def template(self) -> np.ndarray:
        if self._template is None:
            self._template = template(self.size, self._root)
        return self._template

    @property
    def notes(self) -> list[str]:
        """The one-line notes of the last call (images inpainted without alignment)."""
        return [r.note for r in self.last if r.note]

    def _classical(self, image: Tensor, hole: Tensor) -> Tensor:
        if self._telea is None:
            from .methods import get

            self._telea = get("telea")
        return self._telea.inpaint(image, hole)

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        check_inputs(image, hole)
        outs, self.last = [], []
        for i in range(image.shape[0]):
            g = _guide_row(guide, i, image.shape[0])
            out, rep = self._one(image[i:i + 1], hole[i:i + 1], g, seed)
            outs.append(out)
            self.last.append(rep)
        return torch.cat(outs)

    def _one(self, image: Tensor, hole: Tensor, guide: Guide | None, seed) -> tuple[Tensor, AlignReport]:
        from .io import tensor_to_array

        hw = tuple(image.shape[-2:])
        hole_np = (hole[0, 0].detach().float().cpu().numpy() >= 0.5).astype(np.float32)
        if not hole_np.any():
            return image.clone(), AlignReport([], [], "the hole is empty: nothing to inpaint", self.size)
        if self.face_box is not None:
            check_face_box(self.face_box, hw)
        prefill = self._classical(image, hole)
        faces, tried = find_faces(tensor_to_array(prefill), hole_np, self.size, self.template,
                                  face_box=self.face_box, detector=self._detector)
        if not faces:
            what = ", ".join(tried) + ("" if self.face_box is not None else "; no --face-box given")
            note = f"align: {NO_FACE.format(tried=what)}"
            log.info(note)
            out = self.inner.inpaint(image, hole, guide, seed=seed)
            return out, AlignReport([], tried, note, self.size)
        img_np = _to_hwc(image)
        pred = _to_hwc(prefill)                     # Telea everywhere the crops will not cover
        claimed = np.zeros(hw, np.float32)          # how much of each pixel a face's crop has filled
        wcrop = feather(self.size)
        done = []
        for face in faces:
            rem = hole_np * (claimed < 1.0)          # hole pixels not fully filled by an earlier face
            if _hole_in_crop(rem, face.matrix, self.size) == 0:
                continue
            # the method sees the known pixels, earlier faces' complete fills as known, and the
            # remaining hole's own pixels as the whole-image path would (it must not look there)
            src = np.where(((hole_np > 0) & (rem == 0))[..., None], pred, img_np)
            crop, crop_hole = warp_into_crop(src, rem, face.matrix, self.size)
            crop_t, crop_hole_t = _from_hwc(crop, image.device), _from_hwc(crop_hole, image.device)
            g = self._crop_guide(guide, face.matrix, hw, image.device)
            res = self.inner.inpaint(crop_t, crop_hole_t, g, seed=seed)
            face.crop, face.crop_hole, face.crop_result = crop_t.cpu(), crop_hole_t.cpu(), res.detach().float().cpu()
            fill, (x0, y0, x1, y1) = warp_from_crop(_to_hwc(face.crop_result), face.matrix, hw)
            wgt, _ = warp_from_crop(wcrop, face.matrix, hw)
            wgt = np.clip(wgt, 0.0, 1.0) * rem[y0:y1, x0:x1]   # blend on the remaining hole only
            region = pred[y0:y1, x0:x1]
            pred[y0:y1, x0:x1] = wgt[..., None] * np.clip(fill, -1, 1) + (1 - wgt[..., None]) * region
            claimed[y0:y1, x0:x1] = np.maximum(claimed[y0:y1, x0:x1], wgt)
            done.append(face)
        out = composite(image, _from_hwc(pred, image.device).to(image.dtype), hole)
        return out, AlignReport(done, tried, None, self.size)

    def _crop_guide(self, guide: Guide | None, matrix: np.ndarray, hw, device) -> Guide | None:
        """The guide in crop coordinates: landmarks moved by the similarity; an exemplar aligned on its own face."""
        if guide is None:
            return None
        lm = None
        if guide.landmarks is not None:
            pts = torch.as_tensor(guide.landmarks).float().reshape(-1, N_LANDMARKS, 2)[:1].cpu().numpy()[0]
            lm = torch.from_numpy(_transform_points(pts, matrix).astype(np.float32))[None].to(device)
        ex = None if guide.exemplar is None else self._align_exemplar(guide.exemplar[:1], device)
        return Guide(exemplar=ex, landmarks=lm, attributes=guide.attributes)

    def _align_exemplar(self, exemplar: Tensor, device) -> Tensor:
        """An exemplar face aligned like the input (its own largest face), or resized whole when dlib finds none."""
        import torch.nn.functional as F

        from .io import tensor_to_array
        from .landmarks import default_detector

        det = self._detector or default_detector()
        faces, _ = det.detect_faces(tensor_to_array(exemplar.cpu()))
        if not faces:
            return F.interpolate(exemplar.float(), size=(self.size, self.size), mode="bicubic", align_corners=False,
                                 antialias=True).clamp(-1, 1).to(device)
        m = similarity_transform(faces[0], self.template)
        hw = exemplar.shape[-2:]
        crop, _ = warp_into_crop(_to_hwc(exemplar), np.zeros(tuple(hw), np.float32), m, self.size)
        return _from_hwc(crop, device)


def _guide_row(guide: Guide | None, i: int, n: int) -> Guide | None:
    if guide is None:
        return None

    def row(t):
        if t is None:
            return None
        t = torch.as_tensor(t)
        return t[i:i + 1] if t.shape[0] == n else t[:1]

    return Guide(exemplar=row(guide.exemplar), landmarks=row(guide.landmarks), attributes=row(guide.attributes))


def wrap(inner, align: str = "off", **kw):
    """``inner`` itself (``align="off"``) or :class:`AlignedInpainter` around it (``"auto"``; ``kw`` go to it)."""
    if align not in MODES:
        raise FaceInpaintError(f"--align {align}: choose auto or off")
    return inner if align == "off" else AlignedInpainter(inner, **kw)


# ----------------------------------------------------------------------------- checking a completion
def face_found(result_rgb: np.ndarray, box, detector=None, side: int = 160, min_iou: float = 0.3) -> bool:
    """Whether dlib (HOG, then the CNN) finds a face at ``box`` ``(x, y, w, h)`` in a completed photo.

    The face's neighbourhood (the box grown to twice its side) is resized so the box is ``side``
    px (HOG finds faces ≥ 80 px) and searched; a detection counts when its IoU with the box is at
    least ``min_iou``. The acceptance count of issue 17.
    """
    from .landmarks import default_detector

    det = detector or default_detector()
    x, y, w, h = box
    H, W = result_rgb.shape[:2]
    cx, cy, half = x + w / 2, y + h / 2, max(w, h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, W)), int(min(cy + half, H))
    f = side / max(w, h)
    win = cv2.resize(np.ascontiguousarray(result_rgb[y0:y1, x0:x1]),
                     (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    target = np.array([(x - x0) * f, (y - y0) * f, (x - x0 + w) * f, (y - y0 + h) * f])
    for kind in ("hog", "cnn"):
        rects = list(det.hog(win, 0)) if kind == "hog" else [d.rect for d in det.cnn(win, 0)]
        for r in rects:
            if _iou(target, np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1])) >= min_iou:
                return True
    return False


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0

