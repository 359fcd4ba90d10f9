"""faceinpaint.io on every awkward file (tests/badimages.py), masks, and atomic writes."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from badimages import EXPECTED, H, W, make_bad_images, rgb_pattern
from faceinpaint.errors import BadImageError, FaceInpaintError
from faceinpaint.io import (array_to_tensor, atomic_path, load_image, load_mask, read_rgb_array, save_image,
                            save_mask, tensor_to_array, torch_save, write_json)


@pytest.fixture
def bad(tmp_path):
    return make_bad_images(tmp_path / "bad")


def _one_line_naming(err: Exception, path) -> None:
    msg = str(err)
    assert str(path) in msg, msg
    assert "\n" not in msg, msg
    assert isinstance(err, FaceInpaintError)


def test_bad_image_set_is_complete(bad):
    assert set(bad) == set(EXPECTED)
    assert bad["empty"].stat().st_size == 0
    assert Image.open(bad["gray16"]).mode.startswith("I")
    assert Image.open(bad["cmyk_jpeg"]).mode == "CMYK"
    assert Image.open(bad["palette"]).mode == "P"


@pytest.mark.parametrize("kind", sorted(k for k, v in EXPECTED.items() if v != "ok"))
def test_load_image_refuses_with_one_line(bad, kind):
    with pytest.raises(BadImageError) as e:
        load_image(bad[kind])
    _one_line_naming(e.value, bad[kind])
    assert EXPECTED[kind] in str(e.value)


@pytest.mark.parametrize("kind", sorted(k for k, v in EXPECTED.items() if v == "ok"))
def test_load_image_converts(bad, kind):
    t = load_image(bad[kind])
    assert t.shape == (1, 3, H, W) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1


def test_conversions_give_the_expected_pixels(bad):
    rgb = rgb_pattern()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(read_rgb_array(bad["good"]), rgb)
    np.testing.assert_array_equal(read_rgb_array(bad["rgba_opaque"]), rgb)        # alpha dropped
    np.testing.assert_array_equal(read_rgb_array(bad["grayscale"]), np.repeat(gray[..., None], 3, 2))
    np.testing.assert_array_equal(read_rgb_array(bad["gray16"]), np.repeat(gray[..., None], 3, 2))  # ·255/65535
    pal = Image.open(bad["palette"])
    np.testing.assert_array_equal(read_rgb_array(bad["palette"]), np.asarray(pal.convert("RGB")))
    # CMYK: Pillow's conversion of the decoded CMYK, and close to the original (JPEG is lossy)
    cmyk = read_rgb_array(bad["cmyk_jpeg"])
    np.testing.assert_array_equal(cmyk, np.asarray(Image.open(bad["cmyk_jpeg"]).convert("RGB")))
    assert np.abs(cmyk.astype(int) - rgb).mean() < 12


def test_tensor_round_trip_and_range():
    rgb = rgb_pattern()
    t = array_to_tensor(rgb)
    assert t.shape == (1, 3, H, W)
    assert float(t.min()) >= -1 and float(t.max()) <= 1
    np.testing.assert_array_equal(tensor_to_array(t), rgb)


def test_load_image_resize(bad):
    assert load_image(bad["good"], size=32).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("kind", sorted(k for k, v in EXPECTED.items()
                                        if v in ("not an image", "truncated or corrupt", "empty file", "too small")))
def test_load_mask_refuses_unusable_files(bad, kind):
    with pytest.raises(BadImageError) as e:
        load_mask(bad[kind])
    _one_line_naming(e.value, bad[kind])


def test_missing_file_and_folder(tmp_path):
    for p in (tmp_path / "nope.png", tmp_path):
        with pytest.raises(BadImageError) as e:
            load_image(p)
        _one_line_naming(e.value, p)


# ----------------------------------------------------------------------------- masks
def _mask(tmp_path, arr, name="m.png", mode="L"):
    p = tmp_path / name
    Image.fromarray(arr, mode=mode).save(p)
    return p


def test_mask_white_is_hole_and_threshold(tmp_path):
    arr = np.zeros((20, 24), np.uint8)
    arr[5:10, 3:8] = 255
    arr[0, 0] = 127  # below 128: known
    arr[0, 1] = 128  # ≥ 128: hole (JPEG noise around a binary mask does not matter)
    m = load_mask(_mask(tmp_path, arr))
    assert m.shape == (1, 1, 20, 24) and m.dtype == torch.float32
    expected = (arr >= 128).astype(np.float32)
    np.testing.assert_array_equal(m[0, 0].numpy(), expected)


def test_mask_save_load_round_trip(tmp_path):
    hole = torch.zeros(1, 1, 20, 24)
    hole[..., 4:12, 6:18] = 1
    save_mask(hole, tmp_path / "h.png")
    img = Image.open(tmp_path / "h.png")
    assert img.mode == "L" and set(np.unique(np.asarray(img))) == {0, 255}
    assert torch.equal(load_mask(tmp_path / "h.png"), hole)


def test_mask_size_mismatch(tmp_path):
    arr = np.zeros((20, 24), np.uint8)
    arr[:5] = 255
    p = _mask(tmp_path, arr)
    assert load_mask(p, size=(20, 24)).shape == (1, 1, 20, 24)
    with pytest.raises(BadImageError) as e:
        load_mask(p, size=(24, 20))
    _one_line_naming(e.value, p)
    assert "24×20" in str(e.value) and "20×24" in str(e.value)


def test_empty_and_full_masks(tmp_path):
    empty = _mask(tmp_path, np.zeros((20, 20), np.uint8), "empty.png")
    with pytest.raises(BadImageError) as e:
        load_mask(empty)
    _one_line_naming(e.value, empty)
    assert "empty mask" in str(e.value)
    assert load_mask(empty, allow_empty=True).sum() == 0
    full = _mask(tmp_path, np.full((20, 20), 255, np.uint8), "full.png")
    with pytest.raises(BadImageError) as e:
        load_mask(full)
    _one_line_naming(e.value, full)
    assert "whole image" in str(e.value)


def test_mask_other_modes(bad):
    """A grayscale, 16-bit, RGB or opaque RGBA mask reads the same holes (gray ≥ 128)."""
    ref = load_mask(bad["grayscale"])
    for kind in ("good", "rgba_opaque", "gray16"):
        np.testing.assert_array_equal(load_mask(bad[kind]).numpy(), ref.numpy())


# ----------------------------------------------------------------------------- atomic writes
def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_path_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a new fi")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_without_old_file(tmp_path):
    target = tmp_path / "sub" / "new.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"\x89PNG partial")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []


def test_torch_save_failure_keeps_old_checkpoint(tmp_path):
    target = tmp_path / "ckpt.pt"
    torch_save({"step": 1}, target)
    with pytest.raises(Exception):
        torch_save({"step": 2, "bad": lambda x: x}, target)  # lambdas cannot be pickled
    assert torch.load(target)["step"] == 1
    assert _leftovers(tmp_path) == []


def test_save_image_failure_keeps_old_image(tmp_path):
    target = tmp_path / "img.png"
    save_image(array_to_tensor(rgb_pattern()), target)
    before = target.read_bytes()
    with pytest.raises(ValueError):
        save_image(torch.zeros(2, 3, 20, 20), target)  # a batch is refused before anything is written
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_success_and_permissions(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": float("nan"), "b": np.float32(1.5)})
    assert target.read_text().strip().startswith("{")
    assert '"a": null' in target.read_text() and '"b": 1.5' in target.read_text()
    assert _leftovers(tmp_path) == []
    # an atomically written file gets the usual permissions, not mkstemp's private 0600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    # and replacing a file keeps that file's permissions
    os.chmod(target, 0o640)
    write_json(target, {"a": 2})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
