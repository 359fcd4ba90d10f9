"""Mask protocols (faceinpaint.masks): values, shapes, seeds, bins, fixed geometries, files, folders."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceinpaint import masks as M
from faceinpaint.errors import BadImageError, FaceInpaintError
from faceinpaint.io import load_mask

KINDS = sorted(M.MASK_KINDS)


# ----------------------------------------------------------------------------- every kind
@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("kind", KINDS)
def test_kind_binary_shape_nonempty_not_full(kind, size):
    m = M.generate(kind, size, 6, seed=3)
    assert m.shape == (6, 1, size, size) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    per_mask = m.flatten(1).sum(1)
    assert (per_mask > 0).all(), f"{kind}: an empty mask"
    assert (per_mask < size * size).all(), f"{kind}: a full mask"


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes_different_seed_differs(kind):
    a, b = M.generate(kind, 64, 4, seed=11), M.generate(kind, 64, 4, seed=11)
    assert a.numpy().tobytes() == b.numpy().tobytes()
    if kind in ("centre", "wgan_central", "wgan_three_squares"):  # fixed geometries: no randomness
        assert torch.equal(a, M.generate(kind, 64, 4, seed=12))
    else:
        assert not torch.equal(a, M.generate(kind, 64, 4, seed=12))


def test_mask_i_does_not_depend_on_n_and_kinds_have_own_streams():
    assert torch.equal(M.generate("exegan", 64, 3, seed=5), M.generate("exegan", 64, 8, seed=5)[:3])
    assert not torch.equal(M.generate("free_form", 64, 3, seed=5), M.generate("bin_20_30", 64, 3, seed=5))


def test_generator_functions_are_deterministic_given_rng():
    for kind, fn in M.MASK_KINDS.items():
        a = fn(128, np.random.default_rng(7))
        b = fn(128, np.random.default_rng(7))
        assert a.dtype == np.float32 and a.shape == (128, 128)
        assert a.tobytes() == b.tobytes(), kind


def test_unknown_kind_and_bad_arguments_are_one_line_user_errors():
    for call in (lambda: M.generate("nope", 64, 1), lambda: M.generate("centre", 8, 1),
                 lambda: M.generate("centre", 64, 0), lambda: M.mask_in_bin("bin_0_5", 64, np.random.default_rng())):
        with pytest.raises(FaceInpaintError) as e:
            call()
        assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- conversions and ratio
def test_tensor_array_round_trip_and_hole_ratio():
    a = np.zeros((32, 32), np.float32)
    a[:8] = 1
    t = M.to_tensor(a)
    assert t.shape == (1, 1, 32, 32)
    assert np.array_equal(M.to_array(t), a)
    batch = M.to_tensor([a, 1 - a])
    assert batch.shape == (2, 1, 32, 32) and M.to_array(batch).shape == (2, 32, 32)
    assert M.hole_ratio(a) == pytest.approx(0.25)
    np.testing.assert_allclose(M.hole_ratio(batch), [0.25, 0.75])
    assert isinstance(M.hole_ratio(a), float)


# ----------------------------------------------------------------------------- bins
@pytest.mark.parametrize("size", [64, 128, 256])
def test_fixed_test_set_ratios_lie_in_their_bins(size):
    n = 8 if size < 256 else 4
    sets = M.test_masks(size, n, seed=0)
    assert list(sets) == M.BIN_NAMES
    for (lo, hi), name in zip(M.RATIO_BINS, M.BIN_NAMES):
        r = M.hole_ratio(sets[name])
        assert sets[name].shape == (n, 1, size, size)
        assert ((r >= lo) & (r < hi)).all(), f"{name} at {size}: ratios {r}"
    assert np.all(M.hole_ratio(sets["centre"]) == 0.25)


def test_mask_in_bin_accepts_tuples_names_and_spreads_over_the_bin():
    rng = np.random.default_rng(0)
    ratios = [M.hole_ratio(M.mask_in_bin((0.3, 0.4), 128, rng)) for _ in range(40)]
    assert all(0.3 <= r < 0.4 for r in ratios)
    assert max(ratios) - min(ratios) > 0.04  # not all piled up at one edge
    assert 0.1 <= M.hole_ratio(M.mask_in_bin("bin_10_20", 64, rng)) < 0.2
    assert M.hole_ratio(M.mask_in_bin("centre", 64, rng)) == 0.25


def test_test_masks_are_stable_across_runs_and_machines():
    """A checksum of the evaluation masks: if it changes, every published number changes."""
    sets = M.test_masks(64, 2, seed=0)
    h = hashlib.sha256()
    for name in M.BIN_NAMES:
        h.update(name.encode())
        h.update(sets[name].numpy().astype(np.uint8).tobytes())
    assert h.hexdigest() == "9c749c8ad1f69715c16a335b9616af0da81ed4fa02f3d1a08643c17af6c967aa"


# ----------------------------------------------------------------------------- fixed geometries
@pytest.mark.parametrize("size", [64, 65, 256])
def test_centre_square_geometry_exact(size):
    m = M.centre(size)
    side, off = size // 2, (size - size // 2) // 2
    expected = np.zeros((size, size), np.float32)
    expected[off:off + side, off:off + side] = 1
    assert np.array_equal(m, expected)
    if size % 2 == 0:
        assert M.hole_ratio(m) == 0.25
        assert np.array_equal(m, m[::-1]) and np.array_equal(m, m[:, ::-1])  # centred


def test_wgan_masks_at_64():
    assert np.array_equal(M.wgan_central(64), M.centre(64))
    assert M.centre(64)[16:48, 16:48].all() and M.centre(64).sum() == 32 * 32
    three = M.wgan_three_squares(64)
    assert three.sum() == 3 * 16 * 16  # three disjoint 16×16 squares
    for x, y, s in M.THREE_SQUARES_64:
        assert three[y:y + s, x:x + s].all()
    assert M.wgan_three_squares(256).sum() == 3 * 64 * 64  # scaled exactly


def test_square_and_block_sizes():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        sq = M.square85(256, rng)
        ys, xs = np.nonzero(sq)
        assert sq.sum() == 85 * 85 and np.ptp(ys) == 84 and np.ptp(xs) == 84  # one 85×85 square, inside
        blk = M.block128(256, rng)
        ys, xs = np.nonzero(blk)
        assert blk.sum() == 128 * 128 and np.ptp(ys) == 127 and np.ptp(xs) == 127
    assert M.square85(128, np.random.default_rng(0)).sum() == 42 * 42  # round(85/2)


def test_refattr_contains_an_85_square_and_exegan_contains_its_strokes():
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    ref = M.refattr(256, rng_a)
    strokes = M.quickdraw(256, rng_b)
    square = M.square85(256, rng_b)
    assert np.array_equal(ref, np.maximum(strokes, square))
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert (M.exegan(256, rng_a) >= M.free_form(256, rng_b)).all()


def test_free_form_scales_with_size():
    big = np.mean([M.hole_ratio(M.generate("free_form", 256, 60, seed=1))])
    small = np.mean([M.hole_ratio(M.generate("free_form", 64, 60, seed=1))])
    assert abs(big - small) < 0.08  # same protocol, same coverage at any size


def test_irregular_spreads_hole_ratios_over_the_six_nvidia_bins():
    """The NVIDIA stand-in: every mask in one of Liu et al.'s six bins, each bin ≈ 1/6 of masks."""
    ratios = M.hole_ratio(M.generate("irregular", 64, 600, seed=0))
    counts = [sum(M.in_bin(r, b) for r in ratios) for b in M.NVIDIA_RATIO_BINS]
    assert sum(counts) == len(ratios)
    assert all(60 <= c <= 140 for c in counts), counts                  # 100 expected per bin
    plain = M.hole_ratio(M.generate("free_form", 64, 600, seed=0))     # why not the plain brush
    assert np.mean(plain >= 0.4) < 0.5 * np.mean(ratios >= 0.4)


def test_lafin_is_half_blocks():
    masks = M.generate("lafin", 64, 200, seed=0)
    is_block = [(m.sum() == 32 * 32 and M.hole_ratio(m) == 0.25) for m in masks[:, 0].numpy()]
    assert 0.4 < np.mean(is_block) < 0.6


# ----------------------------------------------------------------------------- files
def test_write_masks_binary_pngs_readable_by_load_mask(tmp_path):
    paths = M.write_masks("bin_20_30", 64, 5, seed=2, out_dir=tmp_path / "m")
    assert [p.name for p in paths] == [f"{i:05d}.png" for i in range(5)]
    expected = M.generate("bin_20_30", 64, 5, seed=2)
    for i, p in enumerate(paths):
        img = Image.open(p)
        assert img.mode == "L"
        assert set(np.unique(np.asarray(img)).tolist()) <= {0, 255}
        assert torch.equal(load_mask(p, size=(64, 64)), expected[i:i + 1])
    meta = json.loads((tmp_path / "m" / "masks.json").read_text())
    assert meta["kind"] == "bin_20_30" and meta["seed"] == 2 and len(meta["hole_ratio"]) == 5
    assert all(0.2 <= r < 0.3 for r in meta["hole_ratio"].values())


# ----------------------------------------------------------------------------- real mask folders
def _write_folder(folder, holes, hole_is_white, size=96):
    folder.mkdir()
    for i, h in enumerate(holes):
        arr = (h if hole_is_white else 1 - h).astype(np.uint8) * 255
        Image.fromarray(arr, mode="L").resize((size, size), Image.NEAREST).save(folder / f"{i:03d}.png")


@pytest.mark.parametrize("hole_is_white", [True, False])
def test_load_mask_folder_both_polarities(tmp_path, hole_is_white):
    holes = [M.generate("bin_10_20", 48, 1, seed=s)[0, 0].numpy() for s in range(4)]
    _write_folder(tmp_path / "f", holes, hole_is_white, size=96)  # stored at 96: loader resizes back to 48
    expected = M.to_tensor(holes)
    auto = M.load_mask_folder(tmp_path / "f", 48)
    explicit = M.load_mask_folder(tmp_path / "f", 48, hole_is_white=hole_is_white)
    assert torch.equal(auto, expected) and torch.equal(explicit, expected)
    wrong = M.load_mask_folder(tmp_path / "f", 48, hole_is_white=not hole_is_white)
    assert torch.equal(wrong, 1 - expected)
    assert M.load_mask_folder(tmp_path / "f", 48, limit=2).shape == (2, 1, 48, 48)


def test_load_mask_folder_binarises_gray_rgb_and_resizes_nearest(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[:, :10] = 200  # light gray = white after binarisation
    arr[:, 10:20] = 100  # dark gray = black
    Image.fromarray(arr).save(folder / "a.png")
    m = M.load_mask_folder(folder, 20, hole_is_white=True)
    assert m.shape == (1, 1, 20, 20) and set(torch.unique(m).tolist()) == {0.0, 1.0}
    assert m[0, 0, :, :5].all() and not m[0, 0, :, 5:].any()


def test_folder_masks_sampler_and_errors(tmp_path):
    holes = [M.generate("block128", 32, 1, seed=s)[0, 0].numpy() for s in range(3)]
    _write_folder(tmp_path / "f", holes, hole_is_white=False, size=32)
    sampler = M.FolderMasks(tmp_path / "f")
    draws = [sampler(32, np.random.default_rng(s)) for s in range(10)]
    assert all(any(np.array_equal(d, h) for h in holes) for d in draws)
    assert M.lafin(32, np.random.default_rng(1), irregular_masks=sampler).shape == (32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadImageError, match="no mask images"):
        M.load_mask_folder(tmp_path / "empty", 32)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(BadImageError, match="x.png"):
        M.load_mask_folder(tmp_path / "bad", 32)
