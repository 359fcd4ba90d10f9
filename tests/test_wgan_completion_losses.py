"""Vitoria et al.: the weights W of eq. (7), (14), (15), the masked ∇ of eq. (6) and the objectives
of eq. (5)–(8) and (10)–(13)."""
import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d

from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.wgan_completion import (ConditionalConfig, complete, 
                                                 conditional_loss, context_weights, masked_gradient, reference_weights)
from synthetic import faces, square_hole  # tests/synthetic.py
from wgan_helpers import FixedImage, tiny_nets  # tests/wgan_helpers.py


def test_context_weights_hand_computed():
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., 0, 0] = 1  # a corner: the 3×3 window reflects over the image border (SciPy 'symm')
    expected = torch.zeros(4, 4)
    expected[0, 1] = expected[1, 0] = 2 / 9  # (0, 0) seen twice: itself and its reflection
    expected[1, 1] = 1 / 9
    assert torch.allclose(context_weights(hole, window=3)[0, 0], expected)
    w2 = torch.zeros(4, 4)
    w2[0, 0] = 4 / 9  # eq. (15) on the hole pixel: 1 − (fraction known) = 4 of 9 window pixels are holes
    assert torch.allclose(reference_weights(hole, window=3)[0, 0], w2)


def test_context_weights_match_yeh_convolution():
    rng = np.random.default_rng(0)
    hole = (rng.random((20, 17)) < 0.3).astype(np.float64)
    known = 1 - hole
    ref = known * convolve2d(1 - known, np.ones((7, 7)) / 49, mode="same", boundary="symm")
    ours = context_weights(torch.from_numpy(hole).float()[None, None])[0, 0].double().numpy()
    assert np.abs(ours - ref).max() < 1e-6
    ref2 = hole * (1 - convolve2d(known, np.ones((7, 7)) / 49, mode="same", boundary="symm"))
    ours2 = reference_weights(torch.from_numpy(hole).float()[None, None])[0, 0].double().numpy()
    assert np.abs(ours2 - ref2).max() < 1e-6


def test_masked_gradient_hand_computed():
    x = torch.tensor([1.0, 4, 9, 1000, 25, 36, 49, 64]).view(1, 1, 1, 8)
    avail = torch.tensor([1.0, 1, 1, 0, 1, 1, 0, 1]).view(1, 1, 1, 8)
    gx, gy = masked_gradient(x, avail)
    # j=0 forward (image border), j=1 central, j=2 backward (hole on the right), j=3 hole,
    # j=4 forward (hole on the left), j=5 backward, j=6 hole, j=7 isolated: no neighbour
    assert gx.flatten().tolist() == [3.0, 4.0, 5.0, 0.0, 11.0, 11.0, 0.0, 0.0]
    assert torch.count_nonzero(gy) == 0  # one row: no vertical neighbour anywhere
    gx_t, gy_t = masked_gradient(x.transpose(-1, -2), avail.transpose(-1, -2))
    assert torch.equal(gy_t.flatten(), gx.flatten()) and torch.count_nonzero(gx_t) == 0


def test_masked_gradient_reads_only_available_pixels_and_is_exact_on_ramps():
    g = torch.Generator().manual_seed(1)
    hole = (torch.rand(2, 1, 12, 12, generator=g) < 0.3).float()
    avail = 1 - hole
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    ramp = (0.5 * xx - 0.25 * yy).expand(2, 3, 12, 12)
    noisy = ramp + 100 * hole * torch.rand(2, 3, 12, 12, generator=g)  # garbage in the holes
    gx, gy = masked_gradient(noisy, avail)
    has_x = avail * ((F.pad(avail, (1, 0))[..., :-1] + F.pad(avail, (0, 1))[..., 1:]) > 0)
    has_y = avail * ((F.pad(avail, (0, 0, 1, 0))[..., :-1, :] + F.pad(avail, (0, 0, 0, 1))[..., 1:, :]) > 0)
    assert torch.allclose(gx, 0.5 * has_x.expand_as(gx))
    assert torch.allclose(gy, -0.25 * has_y.expand_as(gy))


def test_yeh_objective_has_no_gradient_term():
    G, D, P = tiny_nets()
    res = complete(G, D, P, faces(1), square_hole(1), W.yeh_config(iters=5), generator=torch.Generator().manual_seed(0))
    assert "gradient" not in res.history
    assert torch.allclose(res.history["total"], res.history["context"] + 0.003 * res.history["prior"], atol=1e-4)


def test_conditional_terms_act_on_complementary_regions():
    y1, y2 = faces(1, seed=1), faces(1, seed=2)
    hole = square_hole(1, a=20, b=44)
    _, D, _ = tiny_nets()
    # y₁ on M, y₂ shifted by a constant on 1 − M: same colours as y₁, same structure as y₂
    x = y1 * (1 - hole) + (y2 + 0.3) * hole
    terms = conditional_loss(FixedImage(x), D, y1, hole, y2, ConditionalConfig())(torch.zeros(1, 4))
    for k in ("context", "gradient", "reference"):
        assert terms[k].abs().item() < 1e-4, k
    # change the structure inside the hole only: only the reference term moves
    bumped = x + hole * torch.rand_like(x)
    t2 = conditional_loss(FixedImage(bumped), D, y1, hole, y2, ConditionalConfig())(torch.zeros(1, 4))
    assert t2["reference"].item() > 1.0
    assert t2["context"].abs().item() < 1e-4 and t2["gradient"].abs().item() < 1e-4
    cfg = ConditionalConfig()
    expected = (cfg.alpha1 * t2["context"] + cfg.alpha2 * t2["gradient"] + cfg.alpha3 * t2["reference"]
                + cfg.prior * t2["prior"])
    assert torch.allclose(t2["total"], expected)
