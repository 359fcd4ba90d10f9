"""LaFIn's Inpainter: predicted / given / exemplar landmarks, known pixels, variants, errors."""

import numpy as np
import pytest
import torch

from faceinpaint.errors import DataError, FaceInpaintError
from faceinpaint.methods import lafin as L
from faceinpaint.methods.base import Guide
from lafin_helpers import smoke, spread_landmarks, tiny_model  # tests/lafin_helpers.py
from synthetic import faces, square_hole  # tests/synthetic.py


def test_landmarks_change_the_hole_only():
    m = tiny_model()
    x, hole = faces(1), square_hole(1)
    a = m.inpaint(x, hole, Guide(landmarks=spread_landmarks(1, seed=0)))
    b = m.inpaint(x, hole, Guide(landmarks=spread_landmarks(1, seed=5)))
    known = (1 - hole).bool().expand_as(x)
    assert torch.equal(a[known], x[known]) and torch.equal(b[known], x[known])
    assert (a - b)[~known].abs().max() > 1e-4
    assert m.last.source == "given"


def test_inpaint_keeps_known_pixels_at_an_odd_non_square_size():
    m = tiny_model()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 45, 71, generator=g) * 2 - 1
    hole = torch.zeros(2, 1, 45, 71)
    hole[..., 10:30, 20:50] = 1
    out = m.inpaint(x, hole, seed=3)
    assert out.shape == x.shape
    known = (1 - hole).bool().expand_as(x)
    assert torch.equal(out[known], x[known])
    assert m.last.source == "predicted" and m.last.landmarks.shape == (2, 68, 2)
    assert m.last.attention.shape == (2, 256, 256)
    assert torch.equal(out, m.inpaint(x, hole, seed=4))  # deterministic


def test_given_landmarks_are_rescaled_to_the_model():
    m = tiny_model()
    x, hole = faces(1, 128), square_hole(1, 128, 30, 90)
    lm = torch.tensor([[10.0, 20.0]]).expand(68, 2)[None].clone()
    m.inpaint(x, hole, Guide(landmarks=lm))
    assert torch.allclose(m.last.landmarks_model[0, 0], torch.tensor([4.75, 9.75]))   # (x + .5)·64/128 − .5
    assert torch.allclose(m.last.landmarks, lm)
    back = L.from_model_pixels(L.to_model_pixels(lm, (100, 70), 64), (100, 70), 64)
    assert torch.allclose(back, lm, atol=1e-5)


def test_exemplar_landmarks_are_aligned_on_visible_points():
    m = tiny_model()
    target = spread_landmarks(1).clone() * 0.5 + 16     # the input's landmarks
    theta = 0.3
    R = torch.tensor([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], dtype=torch.float32)
    exemplar = (target - 30) @ R.T * 1.4 + torch.tensor([5.0, -3.0])   # a similar face elsewhere
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., :, :32] = 1                                # hides the left half of the points
    wrong = target.clone()
    wrong[0, target[0, :, 0] < 31.5] += torch.tensor([0.0, 7.0])   # hidden points are off: must not count
    aligned, visible = m._align(exemplar, wrong, hole)
    assert 3 <= visible.sum() < 68
    assert torch.allclose(aligned, target, atol=1e-3)


def test_exemplar_guide_runs_and_records_its_landmarks():
    m = tiny_model()
    x, hole = faces(1), square_hole(1)
    out = m.inpaint(x, hole, Guide(exemplar=faces(1, 96, seed=2)))
    assert out.shape == x.shape and m.last.source == "exemplar"
    assert m.last.exemplar_landmarks.shape == (1, 68, 2)


@pytest.mark.parametrize("variant", [{"use_landmarks": False}, {"use_attention": False}])
def test_ablation_variants_build_and_run(data_ready, tmp_path, variant):
    cfg = smoke(lmk_steps=1, steps=1, **variant)
    path = L.fit(cfg, L.default_dataset(cfg, None), tmp_path, progress=False, device="cpu")
    m = L.build(path)
    assert m.use_landmarks == cfg.use_landmarks and m.G.use_attention == cfg.use_attention
    assert (m.P is None) == (not cfg.use_landmarks)
    x, hole = faces(1), square_hole(1)
    out = m.inpaint(x, hole)
    assert torch.equal(out * (1 - hole), x * (1 - hole))
    assert (m.last.attention is None) == (not cfg.use_attention)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FaceInpaintError, match="lafin_cpu.pt"):
        L.build(tmp_path / "lafin_cpu.pt")
    with pytest.raises(DataError, match="landmarks.npy"):
        L.default_dataset(smoke(), tmp_path)
    with pytest.raises(FaceInpaintError, match="unknown preset"):
        L.preset_config("huge")
