"""EXE-GAN's experiments at CPU scale: table V's ablation, and the measures behind the issue's
acceptance (the exemplar steers the completion; diversity is real and controlled by ψ), plus the
probes showing that the style encoder's codes carry the face.

What is measured, and how it differs from the paper
---------------------------------------------------
* **Table V** (:func:`ablation_table`): the full model and its four variants — (A) without the
  SVGL attribute loss, (B) without the SVGL LPIPS loss, (C) the standard attribute loss, (D) the
  standard LPIPS loss — on the one protocol (:func:`faceinpaint.evaluate.evaluate`: fixed seeded
  masks, another test face as exemplar), with FID, U-IDS and P-IDS per bin from the TF-FID
  Inception features (:func:`faceinpaint.metrics.fid`, :func:`~faceinpaint.metrics.ids_scores`).
  The paper averages 5 runs on 2000 faces; here one run on the ≤ 100 test faces, where FID is
  biased upwards and the SVM of U-/P-IDS separates small sets easily: compare rows, not with
  the paper.
* **Identity steering** (:func:`identity_steering`): each face completed with another face's
  exemplar; the face-recognition cosine (dlib ResNet stand-in for ArcFace) between the completion
  and **its own** exemplar versus **another** face's exemplar, paired per face, mean ± SE.
* **Smile steering** (:func:`smile_steering`): the same faces completed with a Smiling = 1 and a
  Smiling = 0 exemplar; the completion's P(happy) from the face-api expression net (a model
  independent of G), paired difference ± SE.
* **Diversity** (:func:`diversity_vs_psi`): for one input and exemplar, hole fills over several
  seeds; the mean pairwise VGG19 distance (:class:`faceinpaint.metrics.PerceptualDistance`,
  LPIPS-form, unit weights — not LPIPS) per truncation ψ.
* **Style codes carry the face** (:func:`encoder_attribute_auc`, :func:`encoder_olivetti_auc`):
  a cross-validated logistic-regression probe on E's codes of held-out faces predicts their
  pseudo-attributes (ROC AUC); on Olivetti, same-person pairs are closer (cosine of E's codes)
  than different-person pairs (verification AUC).
"""
from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ... import metrics
from ...paths import checkpoints_dir
from ..base import Guide
from .config import ABLATIONS, TABLE_V_ROWS, inference_name
from .inpainter import ExeGAN, build

# Table V's rows in the paper's order, with their labels.
VARIANTS: dict[str, str] = {"nosvglattr": "A: w/o SVGL-attr", "nosvgllpips": "B: w/o SVGL-LPIPS",
                            "stdattr": "C: standard attr", "stdlpips": "D: standard LPIPS", "full": "Ours"}
TABLE_BINS = ("bin_50_60", "centre")          # "large-scale facial inpainting" (table V)


# ============================================================================ table V
def variant_checkpoint(variant: str, scale: str = "cpu"):
    """The shipped file of a variant: ``checkpoints/exegan_cpu.pt`` (``full``) or
    ``checkpoints/exegan_<variant>_cpu.pt``."""
    if variant != "full" and variant not in ABLATIONS:
        raise ValueError(f"variant must be 'full' or one of {list(ABLATIONS)}, got {variant!r}")
    return checkpoints_dir() / inference_name(scale if variant == "full" else f"{scale}_{variant}")


def load_variants(variants: Sequence[str] = tuple(VARIANTS), scale: str = "cpu", device: str = "cpu") -> dict[str, ExeGAN]:
    """Each variant's Inpainter from its shipped file (all share the full model's E), labelled."""
    return {VARIANTS[v]: build(variant_checkpoint(v, scale), device, label=VARIANTS[v]) for v in variants}


set_scores = metrics.set_scores   # FID, U-IDS, P-IDS of paired composites (one Inception pass)


def ablation_table(models: Mapping[str, ExeGAN] | Sequence[ExeGAN], images=None, *,
                   bins: Sequence[str] = TABLE_BINS, n_per_bin: int | None = None, seed: int = 0,
                   device: str = "cpu", progress: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """Table V: ``{method: {bin: {"fid", "u_ids", "p_ids"}}}`` on the protocol (default: the
    prepared test split at the models' size, another test face as each exemplar)."""
    from ... import evaluate as ev

    ms = list(models.values()) if isinstance(models, Mapping) else list(models)
    if images is None:
        images = ev.load_test_split(ms[0].size)
    res = ev.evaluate(ms, images, bins=bins, n_per_bin=n_per_bin, seed=seed, device=device, keep_images=True,
                      progress=progress)
    real = images.images if isinstance(images, ev.Faces) else images
    table: dict[str, dict[str, dict[str, float]]] = {}
    for m in res.methods:
        table[m] = {}
        for b in res.bins:
            fake = torch.cat([torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1
                              for a in res.composites[(m, b)]])
            table[m][b] = set_scores(real, fake, device)
    return table


def ablation_markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Table V's layout: one row per method, FID↓ / U-IDS↑ / P-IDS↑ per bin."""
    bins = list(next(iter(table.values())))
    head = "| method | " + " | ".join(f"{b} FID↓ | {b} U-IDS↑ | {b} P-IDS↑" for b in bins) + " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(bins))]
    for m, row in table.items():
        cells = []
        for b in bins:
            c = row[b]
            cells += [f"{c['fid']:.2f}", f"{100 * c['u_ids']:.2f}%", f"{100 * c['p_ids']:.2f}%"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ============================================================================ steering
# The paired mean ± SE of the acceptance claims (shared with the other papers' experiments).
PairedEffect, paired_effect = metrics.PairedEffect, metrics.paired_effect


def held_out_faces(size: int = 64, limit: int | None = None, data=None) -> tuple[Tensor, Tensor, Tensor, list[str]]:
    """The prepared test split at ``size``: ``(images, pseudo-attributes, landmarks, attribute names)``
    (landmarks in pixels at ``size``; NaN where unknown)."""
    from ... import data as fdata

    ds = fdata.FaceDataset("celeba999", split="test", size=size, root=data)
    images, attributes, landmarks = fdata.stack_faces(ds, limit)
    return images, attributes, landmarks, ds.attribute_names


def protocol_holes(n: int, size: int, bin: str = "centre", seed: int = 0) -> Tensor:
    """``n`` holes of the protocol's ``bin`` (``"centre"``: the centred half-side square; ``"bin_50_60"``:
    seeded free-form masks with 50–60 % of the pixels; :func:`faceinpaint.evaluate.protocol_masks`)."""
    from ...evaluate import protocol_masks

    return protocol_masks(size, n, seed=seed, bins=[bin])[bin]


def complete(model: ExeGAN, images: Tensor, holes: Tensor, exemplars: Tensor, *, seed: int = 0,
             batch_size: int = 16, **kw) -> Tensor:
    """Composites of ``images`` with ``exemplars[i]`` for face i, in batches (seed per batch)."""
    outs = []
    for k, i in enumerate(range(0, len(images), batch_size)):
        sl = slice(i, i + batch_size)
        outs.append(model.inpaint(images[sl], holes[sl], Guide(exemplar=exemplars[sl]), seed=seed + k, **kw))
    return torch.cat(outs)


def identity_steering(model: ExeGAN, images: Tensor, holes: Tensor, *, shift: int = 1, seed: int = 0,
                      identity_net=None) -> PairedEffect:
    """Face i completed with exemplar ``e_i = images[i + shift]``; per face the identity cosine
    ``cos(R(out_i), R(e_i)) − cos(R(out_i), R(e_{i+1}))`` (its own exemplar vs another face's).
    ``R``: :func:`faceinpaint.identity.load_identity_net` (the name says which network)."""
    ex = images.roll(-shift, 0)
    other = images.roll(-shift - 1, 0)
    out = complete(model, images, holes, ex, seed=seed)
    own = metrics.identity_similarity(out, ex, identity_net).numpy()
    oth = metrics.identity_similarity(out, other, identity_net).numpy()
    return paired_effect(own, oth, "identity: own exemplar − other exemplar")


def smile_scores(images: Tensor, landmarks: Tensor | np.ndarray, size: int = 256) -> np.ndarray:
    """P(happy) of the face-api expression net (the model behind the pseudo-label Smiling) on
    crops placed by ``landmarks`` (pixels of ``images``; NaN rows give NaN). Images are resized
    to ``size`` first, the size the pseudo-labels were made at."""
    from ...attributes import attribute_scores
    from ..base import resize_face

    s = images.shape[-1]
    big = resize_face(images.float(), size)
    rgb = ((big.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    lm = (np.asarray(landmarks, np.float64) + 0.5) * (size / s) - 0.5
    return attribute_scores(rgb, lm.astype(np.float32), progress=False)["p_happy"]


def smile_steering(model: ExeGAN, images: Tensor, landmarks: Tensor, holes: Tensor, smiling: Tensor,
                   neutral: Tensor, *, seed: int = 0) -> PairedEffect:
    """Each face completed twice (same seed) with a Smiling = 1 exemplar (``smiling[i]``) and a
    Smiling = 0 one (``neutral[i]``); the paired difference of the completions' P(happy)."""
    hi = smile_scores(complete(model, images, holes, smiling, seed=seed), landmarks)
    lo = smile_scores(complete(model, images, holes, neutral, seed=seed), landmarks)
    return paired_effect(hi, lo, "P(happy): smiling − neutral exemplar")


def attribute_pairs(labels: np.ndarray, column: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For faces 0 … n−1: indices of an exemplar with the attribute at 1 and one at 0, cycling
    through each group, never the face itself when avoidable."""
    lab = np.asarray(labels, np.float64)[:, column]
    pos, neg = np.flatnonzero(lab == 1), np.flatnonzero(lab == 0)
    if not len(pos) or not len(neg):
        raise ValueError("attribute pairs need exemplars with the attribute at 1 and at 0")

    def pick(group: np.ndarray, i: int) -> int:
        j = int(group[i % len(group)])
        return int(group[(i + 1) % len(group)]) if j == i and len(group) > 1 else j

    return np.array([pick(pos, i) for i in range(n)]), np.array([pick(neg, i) for i in range(n)])


# ============================================================================ diversity
def hole_fills(model: ExeGAN, image: Tensor, hole: Tensor, exemplar: Tensor | None, seeds: Sequence[int],
               psi: float) -> Tensor:
    """Composites of one input (1×3×H×W) for each seed at truncation ψ: S×3×H×W."""
    guide = None if exemplar is None else Guide(exemplar=exemplar)
    return torch.cat([model.inpaint(image, hole, guide, seed=s, psi=psi) for s in seeds])


def mean_pairwise_distance(images: Tensor, net: metrics.PerceptualDistance | None = None) -> float:
    """Mean VGG19 distance (LPIPS form, unit weights; :class:`~faceinpaint.metrics.PerceptualDistance`)
    over all unordered pairs. The composites differ only in the hole: this is the hole fills' diversity."""
    pairs = list(itertools.combinations(range(len(images)), 2))
    if not pairs:
        raise ValueError("diversity needs at least two samples")
    a = images[[i for i, _ in pairs]]
    b = images[[j for _, j in pairs]]
    return float(metrics.perceptual_distance(a, b, net).mean())


def diversity_vs_psi(model: ExeGAN, image: Tensor, hole: Tensor, exemplar: Tensor | None = None, *,
                     seeds: Sequence[int] = tuple(range(6)), psis: Sequence[float] = (1.0, 0.7, 0.4, 0.0),
                     net: metrics.PerceptualDistance | None = None) -> dict[float, float]:
    """ψ → mean pairwise VGG19 distance of the hole fills over ``seeds`` (§ IV-E-1, fig. 8).
    At ψ = 0 the stochastic code is f's mean for every seed: only the per-pixel noise differs."""
    return {float(p): mean_pairwise_distance(hole_fills(model, image, hole, exemplar, seeds, p), net) for p in psis}


# ============================================================================ E's codes carry the face
def encoder_attribute_auc(model: ExeGAN, faces: Tensor, labels: np.ndarray, names: Sequence[str], *,
                          folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Per attribute: ROC AUC of a logistic-regression probe on E's flattened W+ codes, scored
    out of fold (``folds``-fold stratified cross-validation, so every score is on held-out faces);
    NaN where a column has too few faces of one class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    codes = torch.cat([model.encode(faces[i:i + 32]) for i in range(0, len(faces), 32)]).flatten(1).double().numpy()
    labels = np.asarray(labels, np.float64)
    out = {}
    for j, name in enumerate(names):
        ok = np.isfinite(labels[:, j])
        y = labels[ok, j].astype(int)
        counts = np.bincount(y, minlength=2)
        if counts.min() < folds:
            out[name] = math.nan
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        p = cross_val_predict(probe, codes[ok], y, cv=cv, method="predict_proba")[:, 1]
        out[name] = float(roc_auc_score(y, p))
    return out


def encoder_olivetti_auc(model: ExeGAN) -> float:
    """Verification AUC of E's codes on Olivetti (40 people × 10): "same person" scored by the
    cosine of the flattened W+ codes over all pairs (:func:`faceinpaint.identity.verification_auc`)."""
    from ...data import load_olivetti
    from ...identity import verification_auc

    imgs, people = load_olivetti()
    x = torch.from_numpy(imgs).float().mul(2).sub(1)[:, None].repeat(1, 3, 1, 1)
    codes = torch.cat([model.encode(x[i:i + 50]) for i in range(0, len(x), 50)]).flatten(1)
    return verification_auc(codes, people)


__all__ = ["VARIANTS", "TABLE_BINS", "TABLE_V_ROWS", "variant_checkpoint", "load_variants", "set_scores",
           "ablation_table", "ablation_markdown", "PairedEffect", "paired_effect", "held_out_faces", "protocol_holes",
           "complete", "identity_steering",
           "smile_scores", "smile_steering", "attribute_pairs", "hole_fills", "mean_pairwise_distance",
           "diversity_vs_psi", "encoder_attribute_auc", "encoder_olivetti_auc"]
