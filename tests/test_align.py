"""Faces in the wild (issue 17): detect on the known pixels, align to the template, inpaint, paste back.

* the template is the mean of the train split's landmarks, per resolution, stored beside the data;
* geometry: a warp into the crop samples the image where the similarity says; the hole never
  shrinks; a face warped by a known similarity is aligned back to within 1 px of the template
  (exact landmarks: 1e-3 px; real dlib on the warped photo: < 1 px);
* paste-back: an oracle method (returns its input crop: the ground truth) pasted back lands
  the ground truth in the hole; two faces with a hole each are both filled; known pixels are
  bit-identical in every mode; no face → the whole-image path and one line;
* registry and CLI: ``methods.get(..., align=...)``, ``--align``, ``--face-box`` and its errors;
* acceptance (slow): on the in-the-wild set, hole L1 with align auto vs off for LaFIn and
  wgan_completion (shipped checkpoints), paired per completion, and dlib's face counts.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from acceptance_helpers import in_ci  # tests/acceptance_helpers.py
from faceinpaint import align, methods
from faceinpaint.errors import FaceInpaintError
from faceinpaint.io import array_to_tensor, save_image, save_mask, tensor_to_array


# ----------------------------------------------------------------------------- helpers
def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def _inverse(m: np.ndarray) -> np.ndarray:
    a = np.linalg.inv(m[:, :2])
    return np.concatenate([a, (-a @ m[:, 2])[:, None]], 1)


def _test_face(k: int = 0, size: int = 256):
    """A held-out CelebA face (uint8 H×W×3) and its dlib landmarks at ``size``."""
    from faceinpaint.data import FaceDataset

    ds = FaceDataset("celeba999", split="test", size=size, require_landmarks=True)
    item = ds[k]
    return tensor_to_array(item["image"][None]), item["landmarks"].numpy()


def _most_frontal_test_face(rank: int = 0) -> int:
    """The held-out face whose nose tip is nearest the middle of its outer eye corners (dlib's
    68 points fit frontal faces best; a profile's prepared landmarks are themselves off)."""
    from faceinpaint.data import FaceDataset

    ds = FaceDataset("celeba999", split="test", size=256, require_landmarks=True)
    lm = np.stack([ds[i]["landmarks"].numpy() for i in range(len(ds))])
    asym = np.abs(lm[:, 30, 0] - (lm[:, 36, 0] + lm[:, 45, 0]) / 2) / np.linalg.norm(lm[:, 45] - lm[:, 36], axis=1)
    return int(np.argsort(asym, kind="stable")[rank])


def _place(canvas: np.ndarray, face: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``face`` warped by ``m`` (face pixel → canvas pixel) over ``canvas`` (bicubic)."""
    import cv2

    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpAffine(np.ones(face.shape[:2], np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    return np.where(cover[..., None] > 0.999, warped, canvas).astype(np.uint8)


def _background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth, face-free background (low-frequency colour noise)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 200, size=(4, 6, 3)).astype(np.float32)
    return np.asarray(F.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], size=(h, w), mode="bicubic",
                                    align_corners=False)[0].permute(1, 2, 0).clamp(0, 255).numpy(), np.uint8)


class Oracle:
    """An 'inpainter' that returns its input crop: the ground truth the aligner passed in (tests only)."""

    name = "oracle"

    def __init__(self, size: int):
        self.size = size
        self.calls = []

    def inpaint(self, image, hole, guide=None, *, seed=None):
        self.calls.append((image.shape, float(hole.mean())))
        return image.clone()


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class ExactDetector:
    """A detector whose 'dlib' answers are exact: boxes and float landmarks given by the test."""

    def __init__(self, faces: list[np.ndarray]):
        import dlib

        self.faces = faces
        self.rects = [dlib.rectangle(*(int(v) for v in (f[:, 0].min(), f[:, 1].min(), f[:, 0].max(), f[:, 1].max())))
                      for f in faces]

    def hog(self, rgb, upsample):
        return list(self.rects)

    def cnn(self, rgb, upsample):
        return []

    def predictor(self, rgb, rect):
        i = next(i for i, r in enumerate(self.rects) if r == rect)

        class Shape:
            def parts(_):
                return [Point(float(x), float(y)) for x, y in self.faces[i]]

        return Shape()


# ----------------------------------------------------------------------------- template
def test_template_is_the_train_mean_per_resolution(data_ready):
    from faceinpaint.data import rescale_landmarks

    names = json.loads((data_ready / "names.json").read_text())
    train = set(json.loads((data_ready / "split.json").read_text())["train"])
    lm = np.load(data_ready / "landmarks_256.npy")[[i for i, n in enumerate(names) if n in train]]
    mean256 = lm[np.isfinite(lm).all(axis=(1, 2))].astype(np.float64).mean(0)
    for size in (256, 64):
        t = align.template(size)
        assert t.shape == (68, 2) and t.dtype == np.float32
        np.testing.assert_allclose(t, rescale_landmarks(mean256, 256, size), atol=1e-4)
    rec = json.loads((data_ready / align.TEMPLATE_FILE).read_text())   # stored with the data
    assert {"64", "256"} <= set(rec["sizes"]) and rec["split"] == "train" and rec["n_faces"] > 800
    # the eyes of the mean face are level and the nose is between them (a sane, upright template)
    t = align.template(64)
    assert abs(t[36, 1] - t[45, 1]) < 1.0 and t[36, 0] < t[30, 0] < t[45, 0]


# ----------------------------------------------------------------------------- geometry
def test_warp_into_crop_samples_where_the_similarity_says():
    """A smooth image: the crop's pixel q holds the image at M⁻¹(q), both when enlarging and shrinking."""
    h, w = 300, 400
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = lambda x, y: np.stack([np.sin(x / 37.0), np.cos(y / 29.0), np.sin((x + y) / 53.0)], -1)  # noqa: E731
    image = f(xx, yy).astype(np.float32)
    for scale in (0.4, 1.7):
        m = _similarity(25, scale, 30, -40) if scale > 1 else _similarity(-15, scale, 20, 10)
        crop, crop_hole = align.warp_into_crop(image, np.zeros((h, w), np.float32), m, 64)
        q = np.stack(np.meshgrid(np.arange(64), np.arange(64)), -1).reshape(-1, 2).astype(np.float64)
        p = _apply(_inverse(m), q)
        inside = (p[:, 0] > 3) & (p[:, 0] < w - 4) & (p[:, 1] > 3) & (p[:, 1] < h - 4)
        assert inside.sum() > 1000
        expected = f(p[inside, 0], p[inside, 1])
        # shrinking averages over the footprint: a smooth image still agrees closely
        assert np.abs(crop.reshape(-1, 3)[inside] - expected).max() < (0.02 if scale > 1 else 0.06), scale
        # crop pixels sampled outside the image are unknown: hole (OpenCV's bilinear weights are
        # quantised to 1/32 px, hence the margin)
        outside = (p < -0.05).any(1) | (p[:, 0] > w - 0.95) | (p[:, 1] > h - 0.95)
        assert outside.sum() > 0 and (crop_hole.reshape(-1)[outside] == 1).all()
        assert (crop_hole.reshape(-1)[inside] == 0).all()


def test_the_hole_never_shrinks_in_the_crop():
    """Every hole pixel whose centre maps into the crop lands on a hole pixel of the crop."""
    rng = np.random.default_rng(0)
    h, w = 240, 320
    hole = np.zeros((h, w), np.float32)
    for _ in range(40):  # isolated pixels and thin strokes: the hardest holes to keep
        x, y = rng.integers(20, w - 20), rng.integers(20, h - 20)
        hole[y, x:x + rng.integers(1, 4)] = 1
    image = np.zeros((h, w, 3), np.float32)
    for angle, scale in ((33, 0.2), (-20, 1.3), (0, 0.5), (90, 0.37)):
        m = _similarity(angle, scale, 0, 0)
        m[:, 2] = 31.5 - m[:, :2] @ np.array([w / 2, h / 2])        # the image's centre → the crop's
        _, crop_hole = align.warp_into_crop(image, hole, m, 64)
        ys, xs = np.nonzero(hole)
        q = np.floor(_apply(m, np.stack([xs, ys], 1)) + 0.5).astype(int)
        ok = ((q >= 0) & (q < 64)).all(1)
        assert ok.sum() >= 5
        assert (crop_hole[q[ok, 1], q[ok, 0]] == 1).all()
        assert (crop_hole == 0).any()                   # and the pixels around the strokes stay known


def test_warp_back_inverts_warp_in():
    rng = np.random.default_rng(1)
    small = rng.uniform(-1, 1, size=(6, 8, 3)).astype(np.float32)
    image = np.asarray(F.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], size=(200, 260),
                                     mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()).clip(-1, 1)
    m = _similarity(12, 1.1, -30, 5)                    # crop 128 px of a 200×260 image
    crop, _ = align.warp_into_crop(image, np.zeros(image.shape[:2], np.float32), m, 128)
    back, (x0, y0, x1, y1) = align.warp_from_crop(crop, m, image.shape[:2])
    wgt, _ = align.warp_from_crop(align.feather(128), m, image.shape[:2])
    inner = wgt > 0.999                                 # well inside the crop
    assert inner.sum() > 5000
    assert np.abs(back[inner] - image[y0:y1, x0:x1][inner]).max() < 0.02


def test_face_warped_by_a_known_similarity_aligns_back_within_1px(data_ready):
    """A held-out face put into a photo by a known similarity T; the aligner's M must undo it:
    M(T(p)) within 1 px of the template point p (here the face's own landmarks are the template).

    With exact landmarks (a detector double) the error is the numerics' (< 1e-3 px); with real
    dlib on the rotated, resampled photo it stays below 1 px at 256 px."""
    face, lm0 = _test_face(_most_frontal_test_face(), 256)
    T = _similarity(20, 1.3, 200, -40)                  # face pixel → photo pixel
    photo = _place(_background(460, 560), face, T)
    hole = np.zeros(photo.shape[:2], np.float32)
    mouth = _apply(T, lm0[48:60])
    x0, y0 = np.floor(mouth.min(0)).astype(int)
    x1, y1 = np.ceil(mouth.max(0)).astype(int)
    hole[y0:y1, x0:x1] = 1
    exact = ExactDetector([_apply(T, lm0).astype(np.float32)])
    for det, tol in ((exact, 1e-3), (None, 1.0)):
        faces, tried = align.find_faces(photo, hole, 256, lm0, detector=det)
        assert len(faces) == 1 and (det is None or tried == ["hog"])   # real dlib: HOG misses 20°, the CNN finds it
        err = np.linalg.norm(_apply(faces[0].matrix, _apply(T, lm0)) - lm0, axis=1)
        assert err.max() < tol, (det, err.max())


def test_oracle_paste_back_puts_the_ground_truth_in_the_hole(data_ready):
    """An oracle method (returns its crop: the ground truth warped) → the hole gets the ground truth back."""
    face, lm0 = _test_face(_most_frontal_test_face(1), 256)
    T = _similarity(-10, 0.9, 120, 90)
    photo = _place(_background(420, 480, 1), face, T)
    image = array_to_tensor(photo)
    hole = torch.zeros_like(image[:, :1])
    mouth = _apply(T, lm0[48:68])                       # the mouth and what is around it
    x0, y0 = np.floor(mouth.min(0)).astype(int) - 8
    x1, y1 = np.ceil(mouth.max(0)).astype(int) + 8
    hole[..., y0:y1, x0:x1] = 1
    oracle = Oracle(256)
    wrapped = align.AlignedInpainter(oracle, template_landmarks=align.template(256))
    out = wrapped.inpaint(image, hole)
    known = (hole < 0.5).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert len(oracle.calls) == 1 and oracle.calls[0][0] == (1, 3, 256, 256)
    err = float(((out - image).abs() * hole).sum() / hole.sum() / 3 / 2)
    telea = methods.get("telea").inpaint(image, hole)
    err_telea = float(((telea - image).abs() * hole).sum() / hole.sum() / 3 / 2)
    assert err < 0.012 and err < err_telea / 3, (err, err_telea)
    rep = wrapped.last[0]
    assert rep.note is None and len(rep.faces) == 1


# ----------------------------------------------------------------------------- the wrapper
@pytest.fixture(scope="module")
def two_faces():
    return _two_faces()


def _two_faces():
    """A 330×600 photo with two held-out faces (one tilted) and a hole on each face."""
    canvas = _background(330, 600, 2)
    boxes = []
    for k, m in ((0, _similarity(0, 0.95, 20, 40)), (3, _similarity(12, 0.9, 330, 20))):
        face, lm = _test_face(_most_frontal_test_face(k), 256)
        canvas = _place(canvas, face, m)
        boxes.append(_apply(m, lm))
    image = array_to_tensor(canvas)
    hole = torch.zeros_like(image[:, :1])
    for lm in boxes:
        c = lm[[33, 51, 57]].mean(0).astype(int)             # nose tip to lower lip
        hole[..., c[1] - 30:c[1] + 30, c[0] - 35:c[0] + 35] = 1
    return image, hole, boxes


def test_two_faces_with_a_hole_each_are_both_filled(data_ready, two_faces):
    image, hole, lms = two_faces
    oracle = Oracle(64)
    wrapped = align.AlignedInpainter(oracle)
    out = wrapped.inpaint(image, hole)
    rep = wrapped.last[0]
    assert len(rep.faces) == 2 and len(oracle.calls) == 2
    telea = methods.get("telea").inpaint(image, hole)
    for lm in lms:  # each face's hole is filled from its own crop (near the truth), not by Telea
        x0, y0 = lm.min(0).astype(int)
        x1, y1 = lm.max(0).astype(int)
        h = torch.zeros_like(hole)
        h[..., y0:y1, x0:x1] = hole[..., y0:y1, x0:x1]
        e = float(((out - image).abs() * h).sum() / h.sum())
        et = float(((telea - image).abs() * h).sum() / h.sum())
        assert e < et * 0.7, (e, et)
    known = (hole < 0.5).expand_as(image)
    assert torch.equal(out[known], image[known])


def test_known_pixels_bit_identical_in_every_mode(data_ready, two_faces):
    image, hole, _ = two_faces
    lafin = methods.get("lafin")
    no_face = array_to_tensor(_background(150, 210, 3))
    nf_hole = torch.zeros_like(no_face[:, :1])
    nf_hole[..., 40:90, 60:130] = 1
    cases = {
        "off": (methods.get("lafin", align="off"), image, hole),
        "auto": (methods.get("lafin", align="auto"), image, hole),
        "auto, no face": (methods.get("lafin", align="auto"), no_face, nf_hole),
        "auto, user box": (methods.get("lafin", align="auto", face_box=(30, 20, 100, 100)), no_face, nf_hole),
        "auto, classical": (methods.get("telea", align="auto"), image, hole),
        "auto, batch of 2": (align.AlignedInpainter(lafin), torch.cat([image, image.flip(-1)]),
                             torch.cat([hole, hole.flip(-1)])),
    }
    for name, (m, img, h) in cases.items():
        out = m.inpaint(img, h, seed=0)
        known = (h < 0.5).expand_as(img)
        assert out.shape == img.shape and torch.equal(out[known], img[known]), name
        assert torch.isfinite(out).all() and not torch.equal(out, img), name


def test_no_face_runs_the_whole_image_path_and_says_so(data_ready, caplog):
    import logging

    img = array_to_tensor(_background(150, 210, 4))
    hole = torch.zeros_like(img[:, :1])
    hole[..., 50:100, 80:150] = 1
    inner = methods.get("lafin")
    wrapped = methods.get("lafin", align="auto")
    with caplog.at_level(logging.INFO, logger="faceinpaint.align"):
        out = wrapped.inpaint(img, hole)
    assert torch.equal(out, inner.inpaint(img, hole))        # exactly today's path
    [note] = wrapped.notes
    assert "no face found" in note and "\n" not in note and "whole image" in note
    assert note in caplog.text


def test_a_user_box_is_the_last_resort(data_ready):
    """dlib finds nothing (a detector double with the real predictor): the box is used, and said so."""
    from faceinpaint.landmarks import default_detector

    real = default_detector()

    class Blind:
        hog = staticmethod(lambda rgb, up: [])
        cnn = staticmethod(lambda rgb, up: [])
        predictor = real.predictor

    face, lm = _test_face(_most_frontal_test_face(4), 256)
    m = _similarity(0, 0.8, 60, 30)
    photo = array_to_tensor(_place(_background(300, 340, 5), face, m))
    hole = torch.zeros_like(photo[:, :1])
    hole[..., 120:190, 120:200] = 1
    pts = _apply(m, lm)
    x0, y0 = pts.min(0).astype(int)
    x1, y1 = pts.max(0).astype(int)
    box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    wrapped = align.AlignedInpainter(methods.get("lafin"), detector=Blind(), face_box=box)
    out = wrapped.inpaint(photo, hole)
    rep = wrapped.last[0]
    assert rep.tried == ["hog", "hog+up1", "cnn", "box"] and [f.source for f in rep.faces] == ["box"]
    assert torch.equal(out[(hole < 0.5).expand_as(photo)], photo[(hole < 0.5).expand_as(photo)])
    wrapped_nobox = align.AlignedInpainter(methods.get("lafin"), detector=Blind())
    wrapped_nobox.inpaint(photo, hole)
    assert wrapped_nobox.last[0].faces == [] and "no --face-box" in wrapped_nobox.notes[0]


def test_registry_align_switch():
    lafin = methods.get("lafin", align="auto")
    assert isinstance(lafin, align.AlignedInpainter) and lafin.size == lafin.inner.size == 64
    assert lafin.name == "lafin"
    assert not isinstance(methods.get("lafin"), align.AlignedInpainter)     # library default: off
    assert methods.default_align("lafin") == "auto" and methods.default_align("wgan_completion") == "auto"
    assert methods.default_align("telea") == "off"
    assert methods.get("telea", align="auto").size == align.DEFAULT_CROP
    with pytest.raises(FaceInpaintError, match="align='sideways'"):
        methods.get("lafin", align="sideways")
    with pytest.raises(FaceInpaintError, match="face box"):
        methods.get("lafin", face_box=(0, 0, 10, 10))


def test_parse_face_box():
    assert align.parse_face_box("10, 20,30,40") == (10, 20, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4", "1,2,3,4,5", ""):
        with pytest.raises(FaceInpaintError, match="--face-box"):
            align.parse_face_box(bad)


# ----------------------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    from faceinpaint.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, two_faces):
    image, hole, _ = two_faces
    d = tmp_path_factory.mktemp("photo")
    save_image(image, d / "photo.png")
    save_mask(hole[0, 0].numpy(), d / "hole.png")
    bg = array_to_tensor(_background(150, 210, 6))
    save_image(bg, d / "noface.png")
    h = np.zeros((150, 210), np.float32)
    h[50:100, 80:150] = 1
    save_mask(h, d / "noface_hole.png")
    return d


def test_cli_align_default_auto_for_learned_off_for_classical(capsys, photo_files, data_ready):
    from faceinpaint.io import load_image

    d = photo_files
    code, out, err = _cli(capsys, "inpaint", "--method", "lafin", "--image", d / "photo.png", "--mask",
                          d / "hole.png", "--out", d / "auto.png")
    assert code == 0, err
    assert "aligned 2 faces" in out and err == ""
    code, out, err = _cli(capsys, "inpaint", "--method", "lafin", "--align", "off", "--image", d / "photo.png",
                          "--mask", d / "hole.png", "--out", d / "off.png")
    assert code == 0 and "aligned" not in out
    a, o = load_image(d / "auto.png"), load_image(d / "off.png")
    assert not torch.equal(a, o)
    code, out, err = _cli(capsys, "inpaint", "--method", "telea", "--image", d / "photo.png", "--mask",
                          d / "hole.png", "--out", d / "telea.png")
    assert code == 0 and "aligned" not in out


def test_cli_no_face_prints_one_line_and_writes_the_result(capsys, photo_files, data_ready):
    d = photo_files
    code, out, err = _cli(capsys, "inpaint", "--method", "lafin", "--image", d / "noface.png", "--mask",
                          d / "noface_hole.png", "--out", d / "nf.png")
    assert code == 0 and (d / "nf.png").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "noface.png" in lines[0] and "no face found" in lines[0]


@pytest.mark.parametrize("args, expect", [
    (["--face-box", "1,2,3"], "--face-box 1,2,3: expected x,y,w,h"),
    (["--face-box", "10,10,0,5"], "width and height must be > 0"),
    (["--face-box", "5000,10,50,50"], "lies outside the 210×150 image"),
    (["--face-box", "10,10,50,50", "--align", "off"], "needs --align auto"),
    (["--align", "sideways"], "--align"),
])
def test_cli_bad_face_box_and_align_are_one_line(capsys, photo_files, args, expect):
    d = photo_files
    code, out, err = _cli(capsys, "inpaint", "--method", "lafin", "--image", d / "noface.png", "--mask",
                          d / "noface_hole.png", "--out", d / "bad.png", *args)
    assert code == 1 and not (d / "bad.png").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceinpaint: error:") and expect in lines[0], err
    if "outside" in expect:
        assert "noface.png" in lines[0]


def test_cli_face_box_with_a_classical_method_needs_align_auto(capsys, photo_files):
    d = photo_files
    code, _, err = _cli(capsys, "inpaint", "--method", "telea", "--image", d / "noface.png", "--mask",
                        d / "noface_hole.png", "--face-box", "10,10,50,50", "--out", d / "bad.png")
    assert code == 1 and "add --align auto" in err


# ----------------------------------------------------------------------------- in the wild
def test_wild_set_is_prepared_with_boxes(data_ready):
    from faceinpaint.data import load_wild

    photos = load_wild()
    assert [p["name"] for p in photos] == [f"sample{i}" for i in range(1, 7)] + ["breakingbad", "einstein", "takeo"]
    n = sum(len(p["faces"]) for p in photos)
    assert 20 <= n <= 30
    for p in photos:
        h, w = p["image"].shape[:2]
        assert p["faces"] and p["licence"]
        for f in p["faces"]:
            x, y, bw, bh = f["box"]
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 50
            assert f["landmarks"].shape == (68, 2)


def test_wild_masks_follow_the_protocol(data_ready):
    from faceinpaint import evaluate as ev

    comps = ev.wild_completions(seed=0, limit=7)
    assert [c.bin for c in comps] == [ev.BINS[k % 6] for k in range(7)]
    for c in comps:
        x, y, w, h = c.box
        inside = c.hole[..., y:y + h, x:x + w]
        assert float(c.hole.sum()) == float(inside.sum()) > 0          # the hole lies on the face's box
        if c.bin.startswith("bin_"):
            lo, hi = (int(v) / 100 for v in c.bin[4:].split("_"))
            assert lo - 0.03 <= float(inside.mean()) <= hi + 0.03, c.bin


def test_cli_evaluate_wild(capsys, tmp_path, data_ready):
    code, out, err = _cli(capsys, "evaluate", "--method", "lafin", "--wild", "--limit", "2", "--out", tmp_path / "w")
    assert code == 0, err
    rec = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert rec["methods"] == ["lafin-off", "lafin-auto"] and len(rec["per_image"]) == 4
    assert "paired" in out and "dlib finds the face" in out
    assert (tmp_path / "w" / "images" / "lafin-auto" / "wild" / "sample1_f0.png").exists()


# Every learned method with its shipped checkpoint, and how it is built for the wild set.
# wgan_completion runs a 50-iteration latent search (its checkpoint's own setting is 1000) to keep
# `make test` inside its 20 minutes: measured 2026-12-02, off 0.1380 → auto 0.1052, paired
# −0.0328 ± 0.0062 (z 5.3; at 100 iterations −0.0338 ± 0.0062), 279 s on a free core. refattr and exegan
# get no exemplar: refattr's attributes come from the face itself, exegan's style from z alone.
WILD_METHODS = {"lafin": {}, "wgan_completion": {"iters": 50, "progress": False}, "refattr": {}, "exegan": {}}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WILD_METHODS))
def test_acceptance_align_auto_beats_off_in_the_wild(data_ready, name):
    """Issue 17's acceptance, measured per learned method on its shipped checkpoint: hole L1 auto <
    off beyond 2 SE (paired per completion), and dlib finds the face on at least as many
    completions with auto. A missing checkpoint skips locally and fails in CI."""
    from faceinpaint import evaluate as ev

    try:
        contender = methods.get(name, **WILD_METHODS[name])
    except FaceInpaintError as e:
        if in_ci():
            raise
        pytest.skip(f"{name}: {e}")
    result = ev.evaluate_wild([contender], seed=0, progress=False, keep_images=False)
    acc = ev.wild_acceptance(result)
    summary = ev.format_wild_acceptance(acc)
    print(summary)
    [(label, a)] = acc.items()
    assert a["n"] >= 20, summary
    assert a["diff_mean"] + 2 * a["diff_se"] < 0, f"{label}: {summary}"
    assert a["faces_found_auto"] >= a["faces_found_off"], f"{label}: {summary}"
