"""EXE-GAN's own losses (issue 15, item 4): eq. (6)–(8) through SVGL (eq. 10–12), each against a
hand computation; the generator gets a gradient from every term; StyleGAN2's path length."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from exegan_helpers import TinyEmbed
from faceinpaint import losses as shared
from faceinpaint.methods.exegan import losses as L
from faceinpaint.methods.exegan import networks as N
from faceinpaint.methods.exegan.config import preset_config


def _hole(n=2, size=32):
    h = torch.zeros(n, 1, size, size)
    h[0, :, 8:24, 6:20] = 1
    h[1:, :, 4:16, 10:30] = 1
    return h


def _sq_dist(x, y):
    """A differentiable per-image distance with a known gradient: Σ (x − y)²."""
    return (x - y).pow(2).flatten(1).sum(1)


class _LinearCodes(nn.Module):
    """E stand-in with a known Jacobian: W+ codes = A · flatten(x), N×L×D."""

    def __init__(self, size=32, n_styles=4, dim=3):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = nn.Parameter(torch.randn(n_styles * dim, 3 * size * size, generator=g) / size)
        self.n_styles, self.dim = n_styles, dim

    def forward(self, x):
        return (x.flatten(1) @ self.A.t()).view(-1, self.n_styles, self.dim)


# ============================================================================ eq. (11)-(12)
def test_svgl_maps_are_eq11_and_eq12():
    cfg = preset_config("smoke")
    hole = _hole()
    mw, mbar = L.svgl_maps(hole, cfg)
    # eq. (11) iterated by hand with the shared blur (t passes from M_w⁰ = 0)
    k1 = shared.gaussian_kernel1d(cfg.svgl_kernel, cfg.svgl_sigma)
    ref = torch.zeros_like(hole)
    for _ in range(cfg.svgl_iterations):
        ref = shared._blur_same(1 - hole + ref, k1) * hole
    assert torch.allclose(mw, ref, atol=1e-6)
    assert torch.allclose(mbar, (1 - mw) * hole, atol=1e-7)         # eq. (12)
    assert float(mw[hole == 0].abs().max()) == 0 and float(mbar[hole == 0].abs().max()) == 0
    # M_w largest at the hole border, M̄_w at its centre (fig. 4)
    assert mw[0, 0, 8, 12] > mw[0, 0, 16, 12] and mbar[0, 0, 16, 12] > mbar[0, 0, 8, 12]


# ============================================================================ eq. (6)
def test_lpips_term_value_and_svgl_gradient():
    torch.manual_seed(0)
    hole = _hole()
    out = torch.randn(2, 3, 32, 32, requires_grad=True)
    gt = torch.randn(2, 3, 32, 32)
    mw, _ = L.svgl_maps(hole, preset_config("smoke"))
    v = L.lpips_term(out, gt, _sq_dist, mw)
    assert torch.allclose(v, _sq_dist(out, gt).mean())             # SVGL leaves the forward value alone
    (g,) = torch.autograd.grad(v, out)
    expected = 2 * (out.detach() - gt) / 2 * mw                    # d/dx mean_n Σ(x−y)² = 2(x−y)/N, × M_w (eq. 10)
    assert torch.allclose(g, expected, atol=1e-6)
    (g_std,) = torch.autograd.grad(L.lpips_term(out, gt, _sq_dist, None), out)   # table V (D): standard loss
    assert torch.allclose(g_std, 2 * (out.detach() - gt) / 2, atol=1e-6)


# ============================================================================ eq. (7)
def test_attribute_term_is_eq7_with_a_frozen_encoder_and_svgl():
    torch.manual_seed(1)
    E = _LinearCodes().requires_grad_(False)
    hole = _hole()
    _, mbar = L.svgl_maps(hole, preset_config("smoke"))
    out = torch.randn(2, 3, 32, 32, requires_grad=True)
    w_hat = torch.randn(2, 4, 3)
    phi = torch.tensor([False, True, True, False])
    v = L.attribute_term(out, w_hat, E, phi, mbar)
    w_bar = E(out.detach())
    by_hand = sum((w_bar[n, i] - w_hat[n, i]).norm() for n in range(2) for i in (1, 2)) / (2 * 2)  # 1/‖φ‖₁, batch mean
    assert math.isclose(float(v.detach()), float(by_hand), rel_tol=1e-5)
    (g,) = torch.autograd.grad(v, out)
    (g_std,) = torch.autograd.grad(L.attribute_term(out, w_hat, E, phi, None), out)
    assert torch.allclose(g, g_std * mbar, atol=1e-7)               # SVGL P(·, M̄_w): gradient × M̄_w
    assert g.abs().sum() > 0 and E.A.grad is None                  # through E to I_out; E itself untouched


def test_attribute_term_gradient_matches_the_analytic_one():
    E = _LinearCodes(size=8, n_styles=3, dim=2).requires_grad_(False)
    out = torch.randn(1, 3, 8, 8, requires_grad=True)
    w_hat = torch.randn(1, 3, 2)
    phi = torch.tensor([True, False, True])
    (g,) = torch.autograd.grad(L.attribute_term(out, w_hat, E, phi, None), out)
    d = (E(out.detach()) - w_hat)[0]                                # L×D
    unit = d / d.norm(dim=1, keepdim=True)                          # ∂‖d_i‖/∂d_i
    grad_codes = (unit * phi[:, None].float() / phi.sum()).flatten()
    assert torch.allclose(g.flatten(), grad_codes @ E.A, atol=1e-6)


# ============================================================================ eq. (8)
def _objective(weights, is_self=True, seed=0):
    torch.manual_seed(seed)
    cfg = preset_config("smoke")
    G, D, E = N.build_generator(cfg), N.build_discriminator(cfg), N.build_style_encoder(cfg)
    E.requires_grad_(False)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    hole = torch.zeros(2, 1, 64, 64)
    hole[:, :, 16:48, 12:52] = 1
    exemplar = image if is_self else image.roll(1, 0)
    phi = N.exemplar_phi(cfg)
    with torch.no_grad():
        w_exe = E(exemplar)
    w_hat = N.mix_exemplar_styles(w_exe, G.stochastic_styles(torch.randn(2, cfg.style_dim)), phi)
    out, _ = G.complete(image, hole, w_hat, noise_mode="const")
    D.requires_grad_(False)
    terms = L.generator_objective(D(out), out, image, exemplar, is_self, w_hat, phi, L.svgl_maps(hole, cfg),
                                  identity=TinyEmbed(), encoder=E, perceptual=_sq_dist, weights=weights)
    return G, terms


def test_generator_objective_is_the_weighted_sum_of_eq8():
    w = L.ObjectiveWeights(lambda_id=0.1, lambda_lpips=0.5, lambda_attr=0.1)
    _, t = _objective(w)
    assert torch.allclose(t["total"], t["adv"] + 0.1 * t["id"] + 0.5 * t["lpips"] + 0.1 * t["attr"])
    assert float(t["lpips"]) > 0 and float(t["attr"]) > 0 and float(t["id"]) > 0
    _, t_other = _objective(w, is_self=False)
    assert float(t_other["lpips"]) == 0                             # eq. (6): only when I_exe = I_gt
    _, t_off = _objective(L.ObjectiveWeights(use_attr=False, use_lpips=False))     # table V (A), (B)
    assert float(t_off["attr"]) == 0 and float(t_off["lpips"]) == 0
    assert torch.allclose(t_off["total"], t_off["adv"] + 0.1 * t_off["id"])


@pytest.mark.parametrize("term", ["adv", "id", "lpips", "attr"])
def test_the_generator_gets_a_gradient_from_each_term(term):
    G, t = _objective(L.ObjectiveWeights())
    t[term].backward()
    grads = [p.grad for p in G.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # the mapping network f is trained by eq. (8) too (eq. 9: θ_g and θ_f): through the
    # stochastic layers for every term that reaches I_pred
    f_grad = sum(float(p.grad.abs().sum()) for p in G.mapping.parameters() if p.grad is not None)
    assert f_grad > 0


# ============================================================================ path length (StyleGAN2 eq. 4)
def test_path_length_penalty_against_a_linear_generator():
    torch.manual_seed(2)
    A = torch.randn(3 * 4 * 4, 5 * 6)                               # images = A · w (flattened)
    w = torch.randn(3, 5, 6, requires_grad=True)
    images = (w.flatten(1) @ A.t()).view(3, 3, 4, 4)
    y = torch.randn(3, 3, 4, 4)
    pen, new_mean, lengths = L.path_length_penalty(images, w, 0.5, decay=0.1, noise=y)
    jty = ((y / 4.0).flatten(1) @ A).view(3, 5, 6)                  # J_wᵀ y with y scaled by 1/√(H·W)
    ref_len = jty.pow(2).sum(2).mean(1).sqrt()
    assert torch.allclose(lengths, ref_len, atol=1e-5)
    ref_mean = 0.5 + 0.1 * (ref_len.mean() - 0.5)
    assert math.isclose(float(new_mean), float(ref_mean), rel_tol=1e-6)
    assert math.isclose(float(pen), float((ref_len - ref_mean).pow(2).mean()), rel_tol=1e-5)


def test_path_length_penalty_keeps_the_graph_for_the_generator():
    lin = nn.Linear(6, 3 * 4 * 4)
    w = torch.randn(2, 5, 6, requires_grad=True)
    images = torch.tanh(lin(w).mean(1)).view(2, 3, 4, 4)           # J depends on the weights and on w
    pen, _, _ = L.path_length_penalty(images, w, 0.0)
    pen.backward()
    assert lin.weight.grad is not None and float(lin.weight.grad.abs().sum()) > 0


def test_perceptual_term_never_calls_vgg_lpips():
    from faceinpaint import metrics

    if metrics.lpips_available("vgg"):
        pytest.skip("the LPIPS weights are present here")
    with pytest.warns(UserWarning, match="not LPIPS"):
        p = L.PerceptualTerm("auto")
    assert p.kind == "vgg19" and "vgg19_perceptual" in p.source and "LPIPS v0.1" not in p.source
    with pytest.raises(metrics.LPIPSUnavailable):
        L.PerceptualTerm("lpips")
