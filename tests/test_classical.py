"""Classical baselines (methods/classical.py) and the method registry (methods/__init__.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from faceinpaint import methods
from faceinpaint.errors import FaceInpaintError
from faceinpaint.io import array_to_tensor, tensor_to_array
from faceinpaint.methods import classical
from faceinpaint.methods.base import Guide, Inpainter

CLASSICAL = ["telea", "navier_stokes", "biharmonic"]


def _random_image(n=2, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _square_hole(n=2, size=48, a=14, b=34):
    hole = torch.zeros(n, 1, size, size)
    hole[..., a:b, a:b] = 1
    return hole


def _gradient_image(size=48):
    """A smooth ramp: R along x, G along y, B along the diagonal — every channel is linear."""
    yy, xx = torch.meshgrid(torch.linspace(-0.8, 0.8, size), torch.linspace(-0.8, 0.8, size), indexing="ij")
    return torch.stack([xx, yy, (xx + yy) / 2])[None]


@pytest.mark.parametrize("name", CLASSICAL)
def test_registry_builds_an_inpainter(name):
    m = methods.get(name)
    assert isinstance(m, Inpainter)
    assert m.name == name
    assert name in methods.available()
    assert name not in methods.trainable()


@pytest.mark.parametrize("name", CLASSICAL)
def test_known_pixels_are_bit_exact(name):
    image, hole = _random_image(), _square_hole()
    out = methods.get(name).inpaint(image, hole)
    assert out.shape == image.shape and out.dtype == torch.float32
    known = hole == 0
    assert torch.equal(out.expand_as(image)[known.expand_as(image)], image[known.expand_as(image)])
    # the hole really is filled (not left as the input's noise)
    assert not torch.equal(out[hole.expand_as(out) == 1], image[hole.expand_as(image) == 1])


@pytest.mark.parametrize("name, tol", [("telea", 0.08), ("navier_stokes", 0.07), ("biharmonic", 1e-5)])
def test_fills_a_smooth_gradient_close_to_the_truth(name, tol):
    image, hole = _gradient_image(), _square_hole(1)
    out = methods.get(name).inpaint(image, hole)
    err = (out - image).abs()[hole.expand_as(out) == 1]
    # A linear ramp is biharmonic, so the biharmonic fill recovers it up to float error
    # (measured 2e-8). Telea and Navier–Stokes only extrapolate from a band around the
    # hole and flatten towards its centre (measured mean errors 0.069 and 0.054 on a
    # 20×20 hole, range [-1, 1]), on top of uint8 quantisation.
    assert err.mean() < tol, f"{name}: mean abs error {err.mean():.4f} in the hole"
    # and much better than a flat fill with the image mean (error 0.151)
    flat = (image.mean() - image).abs()[hole.expand_as(out) == 1].mean()
    assert err.mean() < 0.6 * flat


@pytest.mark.parametrize("name, flag", [("telea", cv2.INPAINT_TELEA), ("navier_stokes", cv2.INPAINT_NS)])
def test_opencv_agrees_with_direct_call(name, flag):
    rng = np.random.default_rng(1)
    arr = cv2.GaussianBlur((rng.random((40, 52, 3)) * 255).astype(np.uint8), (0, 0), 2)
    mask = np.zeros((40, 52), np.uint8)
    mask[10:25, 5:30] = 255
    mask[30:33, 40:50] = 255
    direct = cv2.inpaint(arr, mask, 3, flag)
    image = array_to_tensor(arr)
    hole = torch.from_numpy(mask > 0).float()[None, None]
    ours = tensor_to_array(methods.get(name).inpaint(image, hole))
    np.testing.assert_array_equal(ours, direct)  # holes from cv2, known pixels = arr = direct's known pixels


@pytest.mark.parametrize("flag", [cv2.INPAINT_TELEA, cv2.INPAINT_NS])
def test_opencv_is_channel_order_agnostic(flag):
    """We pass RGB where OpenCV usually gets BGR: both algorithms treat channels independently."""
    rng = np.random.default_rng(2)
    arr = cv2.GaussianBlur((rng.random((32, 32, 3)) * 255).astype(np.uint8), (0, 0), 2)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:24] = 255
    rgb = cv2.inpaint(arr, mask, 3, flag)
    bgr = cv2.inpaint(np.ascontiguousarray(arr[..., ::-1]), mask, 3, flag)[..., ::-1]
    np.testing.assert_array_equal(rgb, bgr)


def test_biharmonic_agrees_with_direct_call():
    image, hole = _random_image(1, 32, seed=3), _square_hole(1, 32, 8, 20)
    arr = ((image[0].permute(1, 2, 0).double().numpy()) + 1) / 2
    direct = inpaint_biharmonic(arr, hole[0, 0].numpy().astype(bool), channel_axis=-1)
    expected = torch.from_numpy(np.clip(direct, 0, 1) * 2 - 1).permute(2, 0, 1).float()[None]
    ours = methods.get("biharmonic").inpaint(image, hole)
    assert torch.allclose(ours * hole, expected * hole, atol=1e-6)


def test_guide_and_seed_do_not_change_classical_output():
    image, hole = _random_image(1), _square_hole(1)
    m = methods.get("telea")
    a = m.inpaint(image, hole)
    b = m.inpaint(image, hole, Guide(exemplar=_random_image(1, seed=9)), seed=123)
    assert torch.equal(a, b)


def test_radius_is_passed_to_opencv():
    m = methods.get("telea", radius=7)
    assert m.radius == 7
    rng = np.random.default_rng(4)
    arr = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 255
    ours = tensor_to_array(m.inpaint(array_to_tensor(arr), torch.from_numpy(mask > 0).float()[None, None]))
    np.testing.assert_array_equal(ours, cv2.inpaint(arr, mask, 7, cv2.INPAINT_TELEA))


def test_hole_is_not_dilated():
    """A one-pixel hole changes one pixel only."""
    image = _random_image(1, 24)
    hole = torch.zeros(1, 1, 24, 24)
    hole[..., 12, 12] = 1
    for name in CLASSICAL:
        out = methods.get(name).inpaint(image, hole)
        changed = (out != image).any(dim=1)[0]
        assert changed.sum() <= 1 and not changed[hole[0, 0] == 0].any()


# ----------------------------------------------------------------------------- registry
def test_unknown_method_is_a_clear_error():
    with pytest.raises(FaceInpaintError, match="unknown method 'nope'"):
        methods.get("nope")


def test_missing_module_is_not_implemented_yet(monkeypatch):
    monkeypatch.setitem(methods.SPECS, "ghost", methods.MethodSpec("ghost", "faceinpaint.methods.ghost_xyz",
                                                                   checkpoint_stem="ghost"))
    assert "ghost" not in methods.available()
    with pytest.raises(FaceInpaintError, match="method 'ghost' is not implemented yet"):
        methods.get("ghost")


def test_classical_takes_no_checkpoint(tmp_path):
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"")
    with pytest.raises(FaceInpaintError, match="takes no checkpoint"):
        methods.get("telea", checkpoint=ck)


def test_classical_has_nothing_to_train(tmp_path):
    with pytest.raises(FaceInpaintError, match="nothing to train"):
        methods.train("telea", "cpu", None, str(tmp_path))


def test_missing_shipped_checkpoint_names_file_and_command(monkeypatch, tmp_path):
    """A learned method without --checkpoint needs checkpoints/<method>_cpu.pt."""
    mod = type("M", (), {})()
    built = {}
    mod.build = lambda checkpoint=None, device="cpu", **kw: built.setdefault("ck", checkpoint)
    monkeypatch.setattr(methods, "_module", lambda spec: mod)
    monkeypatch.setattr(methods, "checkpoints_dir", lambda: tmp_path)
    with pytest.raises(FaceInpaintError) as e:
        methods.get("lafin")
    msg = str(e.value)
    assert str(tmp_path / "lafin_cpu.pt") in msg and "faceinpaint train --method lafin" in msg
    assert "\n" not in msg
    (tmp_path / "lafin_cpu.pt").write_bytes(b"x")
    methods.get("lafin")
    assert built["ck"] == tmp_path / "lafin_cpu.pt"
    with pytest.raises(FaceInpaintError, match="missing.pt: checkpoint for method 'lafin' not found"):
        methods.get("lafin", checkpoint=tmp_path / "missing.pt")


def test_yeh_uses_the_wgan_prior_checkpoint():
    assert methods.default_checkpoint("yeh") == methods.default_checkpoint("wgan_completion")
    assert methods.default_checkpoint("telea") is None
