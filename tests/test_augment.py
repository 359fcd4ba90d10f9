"""faceinpaint.augment: the warp moves landmarks with their pixels; colour jitter = torchvision's."""
import math

import pytest
import torch

from faceinpaint.augment import Jitter, adjust_colour, jitter_batch, random_similarity, warp


def _blobs(centres: torch.Tensor, size: int, sigma: float = 1.5) -> torch.Tensor:
    """One Gaussian blob per sample at ``centres`` (N×2, pixels), as N×1×S×S."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    d2 = (xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma ** 2))[:, None]


def _centroid(img: torch.Tensor) -> torch.Tensor:
    n, _, h, w = img.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij")
    m = img[:, 0]
    return torch.stack([(m * xx).sum((1, 2)) / m.sum((1, 2)), (m * yy).sum((1, 2)) / m.sum((1, 2))], 1)


def test_identity_transform_changes_nothing():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    lm = torch.rand(2, 68, 2) * 15
    theta = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    y, lm2 = warp(x, lm, theta)
    assert torch.allclose(y, x, atol=1e-6) and torch.allclose(lm2, lm, atol=1e-5)
    assert jitter_batch(x, lm, Jitter()) == (x, lm)


def test_landmarks_follow_their_pixels():
    torch.manual_seed(0)
    size, n = 64, 6
    centres = 20 + torch.rand(n, 2, dtype=torch.float64) * 24          # away from the borders
    theta = random_similarity(n, Jitter(rotate=15, scale=0.1, shift=0.05)).double()
    lm = centres[:, None].expand(n, 68, 2).clone()
    out, lm_out = warp(_blobs(centres, size), lm, theta)
    assert torch.allclose(_centroid(out), lm_out[:, 0], atol=0.05)   # bilinear resampling of a smooth blob


def test_known_rotation_about_the_centre():
    # 90° about the image centre: pixel (x, y) of a 9×9 image goes to (8 − y, x) (content rotates counter-clockwise
    # in x-right/y-down coordinates for a positive angle, as the matrix R(a) acting on (x, y))
    size = 9
    a = math.radians(90)
    A = torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    theta = torch.cat([A, torch.zeros(2, 1)], 1)[None]
    x = torch.zeros(1, 1, size, size)
    x[0, 0, 2, 7] = 1.0                                                # (x=7, y=2)
    out, lm = warp(x, torch.tensor([[[7.0, 2.0]]]).expand(1, 68, 2), theta)
    yx = (out[0, 0] == out.max()).nonzero()[0]
    assert out.max() > 0.99 and (int(yx[1]), int(yx[0])) == (6, 7)
    assert torch.allclose(lm[0, 0], torch.tensor([6.0, 7.0]), atol=1e-5)


def test_colour_matches_torchvision():
    tvf = pytest.importorskip("torchvision.transforms.functional")
    torch.manual_seed(1)
    x = torch.rand(3, 3, 12, 12)
    b, c, s = torch.tensor([0.8, 1.0, 1.2]), torch.tensor([1.1, 0.7, 1.0]), torch.tensor([0.9, 1.3, 0.5])
    ours = (adjust_colour(x * 2 - 1, b, c, s) + 1) / 2
    for i in range(3):
        ref = tvf.adjust_saturation(tvf.adjust_contrast(tvf.adjust_brightness(x[i], float(b[i])), float(c[i])),
                                    float(s[i]))
        assert torch.allclose(ours[i], ref, atol=1e-5)


def test_jitter_is_reproducible_from_the_seed_and_stays_in_range():
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    lm = torch.rand(4, 68, 2) * 31
    j = Jitter(rotate=10, scale=0.05, shift=0.04, colour=0.1)
    torch.manual_seed(3)
    a = jitter_batch(x, lm, j)
    torch.manual_seed(3)
    b = jitter_batch(x, lm, j)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].min() >= -1 and a[0].max() <= 1 and not torch.equal(a[0], x)


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="rotate"):
        Jitter(rotate=-1)
    with pytest.raises(ValueError, match="scale"):
        Jitter(scale=1.0)
