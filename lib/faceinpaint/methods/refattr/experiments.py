"""refattr's experiments at CPU scale: fig. 6's ablation as a table, the extractor's AUCs, and the
measurements behind "attributes steer the completion" (fig. 4's sweeps, reference transfer).

What is measured, and how it differs from the paper
---------------------------------------------------
* **Fig. 6** is qualitative in the paper (with / without MS-SSIM, perceptual + style); here the
  variants (and LBAM alone, without attributes) go through the one protocol of
  :mod:`faceinpaint.evaluate` — hole L1, SSIM, the VGG19 perceptual distance, FID at the
  protocol's size — plus the **NME of the completed faces** (:func:`completed_nme`): dlib's 68
  landmarks re-detected on each completion against dlib's on the ground truth (a structural
  score for the paper's "MS-SSIM preserves facial structure"). FID over a few dozen faces is
  biased upwards: compare rows, not with the paper.
* **Extractor AUC** (:func:`extractor_auc`): Ext's score per attribute on held-out faces against
  their labels, by scikit-learn's ``roc_auc_score`` (the pseudo-labels offline).
* **Steering** (:func:`steering`): the lower face masked (:func:`lower_face_holes`), each face
  completed twice with one attribute at ``high`` and ``low`` (the others: Ext of the face
  itself), each completion measured by a model *independent of G* (:func:`measure_attributes`:
  the expression net's P(happy) for Smiling, the dlib gender net's P(male), the dlib age net for
  Young, the inner-lip gap and lip thickness of dlib landmarks re-detected on the completion);
  the paired differences' mean and standard error (:class:`PairedEffect`).
* **Reference transfer** (:func:`reference_transfer`): the same, with a reference face whose
  label is 1 versus one whose label is 0 (Ext reads them; nothing is given by hand).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ... import data as fdata
from ... import metrics
from ..base import Guide
from .config import ABLATIONS, preset_config, shipped_checkpoint
from .inpainter import RefAttr, build
from .training import default_dataset, lower_face_box

# Fig. 6's rows (and LBAM alone), in table order, with their labels.
VARIANTS: dict[str, str] = {"full": "refattr", "nomsssim": "w/o MS-SSIM", "noperceptual": "w/o perceptual+style",
                            "noattr": "LBAM alone (no attributes)"}
TABLE_METRICS = ("l1_hole", "ssim", "vgg19_perceptual", "fid")
DETECT_SIZE = 256   # dlib's HOG detector misses many 128-px faces; the pseudo-labels were made at 256

# attribute → (score of measure_attributes, sign): the measured quantity that should grow with it
MEASURES: dict[str, tuple[str, float]] = {
    "Smiling": ("p_happy", 1.0),
    "Mouth_Slightly_Open": ("mouth_open_ratio", 1.0),
    "Big_Lips": ("lip_ratio", 1.0),
    "Male": ("p_male", 1.0),
    "Young": ("age", -1.0),          # younger = lower expected age
}


# ============================================================================ models
def load_variants(variants: Sequence[str] = tuple(VARIANTS), scale: str = "cpu", device: str = "cpu",
                  paths: Mapping[str, str] | None = None) -> dict[str, RefAttr]:
    """The shipped (or given) model of each variant, labelled with its table row."""
    out = {}
    for v in variants:
        path = (paths or {}).get(v) or shipped_checkpoint(None if v == "full" else v, scale)
        out[v] = build(path, device=device, label=VARIANTS[v])
    return out


def ablation_presets(scale: str = "cpu") -> dict[str, str]:
    """Variant → the preset that trains it (``cpu``, ``cpu_nomsssim``, …)."""
    return {"full": scale, **{v: f"{scale}_{v}" for v in ABLATIONS}}


# ============================================================================ fig. 6
def ablation_table(models: Mapping[str, RefAttr] | Sequence[RefAttr], images=None, *, bins: Sequence[str] | None = None,
                   n_per_bin: int | None = None, size: int | None = None, fid: bool = True, nme: bool = True,
                   seed: int = 0, out_dir=None, device: str = "cpu", progress: bool = False):
    """Fig. 6 on the evaluation protocol: every variant × every bin (:func:`faceinpaint.evaluate.evaluate`),
    and, with ``nme``, :func:`completed_nme` per (variant, bin). Returns ``(EvalResult, nme table)``."""
    from ...evaluate import evaluate

    ms = list(models.values()) if isinstance(models, Mapping) else list(models)
    result = evaluate(ms, images, bins=bins, n_per_bin=n_per_bin, seed=seed, size=size, fid=fid, device=device,
                      out_dir=out_dir, progress=progress)
    table = completed_nme(result) if nme else {}
    return result, table


def _to_uint8(x: Tensor, size: int = DETECT_SIZE) -> np.ndarray:
    """``N×3×H×W`` in [-1, 1] → ``N×size×size×3`` uint8 (bicubic upscale for dlib and the chips)."""
    if x.shape[-1] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


def detect(images: Tensor | np.ndarray, detector=None, boxes=None) -> np.ndarray:
    """dlib 68 landmarks per image at :data:`DETECT_SIZE` px (NaN rows where no face is found).

    ``boxes`` (:func:`face_boxes` of the ground truth): dlib's shape predictor runs on each image
    inside its given box instead of detecting the face again — the completion's face is where the
    input put it (as landmark benchmarks hand the detector a box), so every face is scored and the
    slow CNN detector is never needed on a completion; NaN where the box is None."""
    from ...landmarks import default_detector

    rgb = _to_uint8(images) if isinstance(images, Tensor) else np.asarray(images)
    det = detector or default_detector()
    out = np.full((len(rgb), 68, 2), np.nan, np.float32)
    if boxes is not None and len(boxes) != len(rgb):
        raise ValueError(f"{len(boxes)} face boxes for {len(rgb)} images")
    for i, im in enumerate(rgb):
        if boxes is not None:
            lm = None if boxes[i] is None else det.landmarks_in_box(im, boxes[i])
        else:
            lm = det.detect(im).landmarks
        if lm is not None:
            out[i] = lm
    return out


def face_boxes(images: Tensor | np.ndarray, detector=None) -> list:
    """dlib's face box of each image at :data:`DETECT_SIZE` px (a ``dlib.rectangle``, or None): HOG,
    then the CNN (MMOD) detector where HOG finds none; the largest face. For :func:`detect`'s ``boxes``."""
    from ...landmarks import default_detector

    rgb = _to_uint8(images) if isinstance(images, Tensor) else np.asarray(images)
    det = detector or default_detector()
    return [det.largest_box(im) for im in rgb]


def completed_nme(result) -> dict[str, dict[str, dict[str, float]]]:
    """Per (method, bin): NME (eye-corner normalised, :func:`faceinpaint.metrics.nme`) between dlib
    on each composite and dlib on its ground truth; ``{"mean", "se", "n", "n_failed"}``. Faces
    where dlib finds no face in either image are left out and counted."""
    gt = None
    table: dict[str, dict[str, dict[str, float]]] = {}
    for (m, b), comps in result.composites.items():
        arr = np.stack(comps)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8) if arr.max() <= 1.0 else arr.astype(np.uint8)
        t = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1
        lm = detect(t)
        if gt is None:
            gt = detect(_real_images(result, t.shape[-1]))
        ok = np.isfinite(lm).all((1, 2)) & np.isfinite(gt).all((1, 2))
        vals = metrics.nme(torch.from_numpy(lm[ok]), torch.from_numpy(gt[ok])).numpy() if ok.any() else np.array([])
        table.setdefault(m, {})[b] = {"mean": float(vals.mean()) if len(vals) else math.nan,
                                      "se": float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan,
                                      "n": int(ok.sum()), "n_failed": int((~ok).sum())}
    return table


def _real_images(result, size: int) -> Tensor:
    from ...evaluate import load_images

    src = result.config.get("source", "")
    faces = load_images(None, size=size, limit=result.config["n_images"]) if "test split" in src else None
    if faces is None:
        raise ValueError("completed_nme needs the protocol's own test split (pass images=None to ablation_table)")
    return faces.images


def ablation_markdown(result, nme: Mapping | None = None, metrics_: Sequence[str] = TABLE_METRICS) -> str:
    """One block per metric (rows = variants, columns = bins; mean ± std), NME last."""
    summary = result.summary()
    lines = []
    for k in list(metrics_) + (["nme"] if nme else []):
        lines += [f"**{k}**", "", "| variant | " + " | ".join(result.bins) + " |",
                  "|---|" + "---|" * len(result.bins)]
        for m in result.methods:
            cells = []
            for b in result.bins:
                if k == "nme":
                    c = (nme or {}).get(m, {}).get(b)
                    cells.append("—" if not c or math.isnan(c["mean"]) else f"{c['mean']:.4f} ± {c['se']:.4f}")
                else:
                    c = summary[m][b].get(k)
                    if not c:
                        cells.append("—")
                    elif c["std"] is None:
                        cells.append(f"{c['mean']:.4g}")
                    else:
                        cells.append(f"{c['mean']:.4f} ± {c['std']:.4f}")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ============================================================================ extractor AUC
def extractor_auc(extract, faces: Tensor, labels: Tensor | np.ndarray, names: Sequence[str],
                  batch_size: int = 32) -> dict[str, float]:
    """ROC AUC of ``extract(faces)`` (``N×K`` scores; e.g. :meth:`RefAttr.extract`) against the
    0/1 ``labels`` per attribute (scikit-learn); NaN for a column with one class or unknown labels."""
    from sklearn.metrics import roc_auc_score

    with torch.no_grad():
        scores = torch.cat([extract(faces[i:i + batch_size]).float().cpu()
                            for i in range(0, len(faces), batch_size)]).numpy()
    labels = np.asarray(labels, dtype=np.float64)
    out = {}
    for j, n in enumerate(names):
        ok = np.isfinite(labels[:, j])
        y = labels[ok, j]
        out[n] = float(roc_auc_score(y, scores[ok, j])) if len(np.unique(y)) == 2 else math.nan
    return out


def held_out_faces(cfg_or_preset="cpu", limit: int | None = None, data=None) -> tuple[Tensor, Tensor, Tensor, list[str]]:
    """The test split at the preset's size with known attributes: ``(images, attributes,
    landmarks, names)`` (landmarks in pixels at that size, NaN rows when unknown)."""
    cfg = preset_config(cfg_or_preset) if isinstance(cfg_or_preset, str) else cfg_or_preset
    ds = default_dataset(cfg if cfg.use_attributes else preset_config("cpu"), data, split="test")
    images, attributes, landmarks = fdata.stack_faces(ds, limit)
    return images, attributes, landmarks, list(ds.names)


# ============================================================================ independent measures
def lower_face_holes(landmarks: Tensor | np.ndarray | None, size: int, n: int | None = None) -> Tensor:
    """``N×1×S×S`` holes over the lower face (nose tip to below the chin, jaw to jaw) of each face
    (:func:`~.training.lower_face_box`, no jitter; the mean template where landmarks are NaN)."""
    if landmarks is None:
        n = n or 1
        return torch.from_numpy(np.stack([lower_face_box(None, size)] * n))[:, None]
    lm = np.asarray(landmarks, dtype=np.float64)
    return torch.from_numpy(np.stack([lower_face_box(lm[i], size) for i in range(len(lm))]))[:, None]


def measure_attributes(images: Tensor, landmarks: Tensor | np.ndarray, *, detector=None, boxes=None
                       ) -> dict[str, np.ndarray]:
    """Scores independent of G for ``N×3×S×S`` completions: ``p_happy`` (face-api expression
    net), ``p_male`` and ``age`` (dlib's ONNX nets) on crops placed by ``landmarks`` (the
    ground truth's, ``N×68×2`` pixels at S — the face is where the input put it), and
    ``mouth_open_ratio`` / ``lip_ratio`` (:mod:`faceinpaint.attributes`) from dlib landmarks
    **re-detected on the completion** (NaN where dlib finds no face). The same models and rules
    as the pseudo-labels, at the same 256 px. ``boxes``: the ground truth's :func:`face_boxes` —
    the shape predictor re-detects the landmarks inside them (:func:`detect`)."""
    from ...attributes import attribute_scores, lip_thickness_ratio, mouth_open_ratio

    size = images.shape[-1]
    rgb = _to_uint8(images)
    lm = np.asarray(landmarks, dtype=np.float64)
    lm256 = (lm + 0.5) * (DETECT_SIZE / size) - 0.5
    s = attribute_scores(rgb, lm256.astype(np.float32), progress=False)
    det = detect(rgb, detector, boxes)
    ok = np.isfinite(det).all((1, 2))
    mouth = np.full(len(rgb), np.nan)
    lips = np.full(len(rgb), np.nan)
    if ok.any():
        mouth[ok] = mouth_open_ratio(det[ok])
        lips[ok] = lip_thickness_ratio(det[ok])
    return {"p_happy": s["p_happy"], "p_male": s["p_male"], "age": s["age"], "mouth_open_ratio": mouth,
            "lip_ratio": lips}


@dataclass
class PairedEffect(metrics.PairedEffect):
    """:class:`faceinpaint.metrics.PairedEffect` of ``high − low`` per face, named by the attribute
    and the independent measure it was scored with."""

    attribute: str = ""
    measure: str = ""

    @property
    def high_mean(self) -> float:
        return self.a_mean

    @property
    def low_mean(self) -> float:
        return self.b_mean


def paired_effect(high: np.ndarray, low: np.ndarray, attribute: str = "", measure: str = "",
                  sign: float = 1.0) -> PairedEffect:
    """:class:`PairedEffect` of ``sign·(high − low)`` over the pairs where both are finite
    (:func:`faceinpaint.metrics.paired_effect`)."""
    e = metrics.paired_effect(high, low, f"{attribute} via {measure}", sign)
    return PairedEffect(e.mean, e.se, e.n, e.a_mean, e.b_mean, e.name, attribute, measure)


def _complete(model: RefAttr, images: Tensor, holes: Tensor, guides: list[Guide], batch_size: int) -> Tensor:
    return torch.cat([model.inpaint(images[i:i + batch_size], holes[i:i + batch_size], guides[i // batch_size])
                      for i in range(0, len(images), batch_size)])


def steering(model: RefAttr, images: Tensor, landmarks: Tensor, attribute: str, *, high: float = 1.0,
             low: float = 0.0, batch_size: int = 16, detector=None, boxes=None) -> PairedEffect:
    """Completions of the masked lower face with ``attribute = high`` vs ``= low`` (the other
    attributes: Ext of the face itself), measured by :data:`MEASURES`' independent model."""
    measure, sign = MEASURES[attribute]
    holes = lower_face_holes(landmarks, images.shape[-1])
    outs = {}
    for v in (high, low):
        guides = [Guide(exemplar=images[i:i + batch_size], attributes={attribute: v})
                  for i in range(0, len(images), batch_size)]
        outs[v] = measure_attributes(_complete(model, images, holes, guides, batch_size), landmarks,
                                     detector=detector, boxes=boxes)[measure]
    return paired_effect(outs[high], outs[low], attribute, measure, sign)


def reference_pairs(labels: Tensor | np.ndarray, column: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For faces ``0 … n−1``: the index of a reference whose label is 1 and of one whose label is
    0 (cycling through each group in order, never the face itself when avoidable)."""
    lab = np.asarray(labels, dtype=np.float64)[:, column]
    pos, neg = np.flatnonzero(lab == 1), np.flatnonzero(lab == 0)
    if not len(pos) or not len(neg):
        raise ValueError("reference transfer needs references with the attribute at 1 and at 0")

    def pick(group: np.ndarray, i: int) -> int:
        j = group[i % len(group)]
        return int(group[(i + 1) % len(group)]) if j == i and len(group) > 1 else int(j)

    return np.array([pick(pos, i) for i in range(n)]), np.array([pick(neg, i) for i in range(n)])


def reference_transfer(model: RefAttr, images: Tensor, landmarks: Tensor, references: Tensor, labels: Tensor,
                       attribute: str, *, batch_size: int = 16, detector=None, boxes=None) -> PairedEffect:
    """Lower face completed with ``Guide(exemplar=ref)``, a reference labelled 1 vs one labelled 0
    (:func:`reference_pairs`), measured independently; paired per face."""
    measure, sign = MEASURES[attribute]
    col = model.attribute_names.index(attribute)
    pos, neg = reference_pairs(labels, col, len(images))
    holes = lower_face_holes(landmarks, images.shape[-1])
    outs = []
    for idx in (pos, neg):
        refs = references[torch.from_numpy(idx)]
        guides = [Guide(exemplar=refs[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        outs.append(measure_attributes(_complete(model, images, holes, guides, batch_size), landmarks,
                                       detector=detector, boxes=boxes)[measure])
    return paired_effect(outs[0], outs[1], attribute, measure, sign)


def sweep_measure(model: RefAttr, images: Tensor, landmarks: Tensor, attribute: str,
                  values: Sequence[float] = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0), *, batch_size: int = 16,
                  detector=None, boxes=None) -> dict[float, float]:
    """Fig. 4 measured: the mean independent measure (signed as in :data:`MEASURES`) of the
    lower-face completions at each value of ``attribute`` (others: Ext of the face)."""
    measure, sign = MEASURES[attribute]
    holes = lower_face_holes(landmarks, images.shape[-1])
    out = {}
    for v in values:
        guides = [Guide(exemplar=images[i:i + batch_size], attributes={attribute: float(v)})
                  for i in range(0, len(images), batch_size)]
        m = measure_attributes(_complete(model, images, holes, guides, batch_size), landmarks,
                               detector=detector, boxes=boxes)[measure]
        out[float(v)] = float(sign * np.nanmean(m))
    return out


def is_monotone(curve: Mapping[float, float]) -> bool:
    """Non-decreasing in the swept value."""
    ys = [curve[k] for k in sorted(curve)]
    return all(b >= a for a, b in zip(ys, ys[1:]))


__all__ = [
    "VARIANTS", "TABLE_METRICS", "MEASURES", "load_variants", "ablation_presets", "ablation_table",
    "completed_nme", "ablation_markdown", "detect", "face_boxes", "extractor_auc", "held_out_faces", "lower_face_holes",
    "measure_attributes", "PairedEffect", "paired_effect", "steering", "reference_pairs", "reference_transfer",
    "sweep_measure", "is_monotone",
]
