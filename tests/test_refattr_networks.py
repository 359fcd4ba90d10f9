"""refattr's networks (methods/refattr/networks.py) against LBAM's equations and the paper's layout."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faceinpaint.methods.refattr import networks as N


def g_a_reference(x: float, a: float, mu: float, s1: float, s2: float) -> float:
    """LBAM eq. 4 by hand (scalar)."""
    if x < mu:
        return a * math.exp(-s1 * (x - mu) ** 2)
    return 1 + (a - 1) * math.exp(-s2 * (x - mu) ** 2)


def test_gauss_activation_matches_lbam_formula_on_both_sides_of_mu():
    g = N.GaussActivation(2.0, 1.0, 0.7, 1.5)
    xs = [-1.0, 0.0, 0.5, 0.999, 1.0, 1.3, 2.5]
    got = g(torch.tensor(xs, dtype=torch.float64).float()).tolist()
    want = [g_a_reference(x, 2.0, 1.0, 0.7, 1.5) for x in xs]
    assert got == pytest.approx(want, rel=1e-6)
    # continuity at μ: both branches give a there
    assert g(torch.tensor([1.0 - 1e-6]))[0].item() == pytest.approx(g(torch.tensor([1.0]))[0].item(), rel=1e-4)


def test_gauss_activation_ranges_clamp_in_forward_and_project():
    g = N.GaussActivation(9.0, -5.0, 0.1, 7.0)     # every parameter out of range
    x = torch.tensor([-0.3, 4.0])
    want = [g_a_reference(v, N.A_RANGE[1], N.MU_RANGE[0], N.SIGMA_RANGE[0], N.SIGMA_RANGE[1]) for v in x.tolist()]
    assert g(x).tolist() == pytest.approx(want, rel=1e-6)
    g.project_()
    assert [g.a.item(), g.mu.item(), g.sigma1.item(), g.sigma2.item()] == pytest.approx([6.0, 0.1, 0.5, 2.0])
    # LBAM's ranges: a ∈ [1.01, 6], μ ∈ [0.1, 3], σ₁, σ₂ ∈ [0.5, 2]
    assert N.A_RANGE == (1.01, 6.0) and N.MU_RANGE == (0.1, 3.0) and N.SIGMA_RANGE == (0.5, 2.0)


def test_gauss_activation_gradcheck():
    g = N.GaussActivation(1.7, 1.0, 0.8, 1.2).double()
    x = torch.tensor([-0.5, 0.3, 1.6, 2.4], dtype=torch.float64, requires_grad=True)  # away from the kink at μ
    assert torch.autograd.gradcheck(lambda t: g(t), (x,))
    g(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (g.a, g.mu, g.sigma1, g.sigma2))


def test_mask_update_is_relu_pow_08():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    assert N.mask_update(x).tolist() == pytest.approx([0.0, 0.0, 0.5 ** 0.8, 2.0 ** 0.8])


def test_forward_attention_layer_by_hand():
    torch.manual_seed(0)
    layer = N.ForwardAttention(4, 6, 1, bn=True).eval()
    x, m = torch.randn(2, 4, 8, 8), (torch.rand(2, 1, 8, 8) > 0.3).float()
    out, m_new, skip, att = layer(x, m)
    feats = F.conv2d(x, layer.conv.weight, stride=2, padding=1)
    mf = F.conv2d(m, layer.mask_conv.weight, stride=2, padding=1)
    want_att = layer.g_a(mf)
    assert torch.allclose(skip, feats, atol=1e-6) and torch.allclose(att, want_att)
    assert torch.allclose(m_new, F.relu(mf) ** 0.8, atol=1e-6)
    assert torch.allclose(out, F.leaky_relu(layer.bn(feats * want_att), 0.2), atol=1e-6)
    assert out.shape == (2, 6, 4, 4) and layer.conv.bias is None


def test_reverse_attention_layer_by_hand():
    torch.manual_seed(0)
    layer = N.ReverseAttention(6, 3, skip=3).eval()
    skip, dec, maps = torch.randn(1, 3, 8, 8), torch.randn(1, 6, 4, 4), torch.rand(1, 6, 8, 8)
    want = F.leaky_relu(layer.bn(torch.cat([skip, layer.conv(dec)], 1) * maps), 0.2)
    assert torch.allclose(layer(skip, dec, maps), want)


def test_paper_generator_layout_at_256():
    with torch.device("meta"):
        G = N.LBAMGenerator(256, n_attrs=8)
        enc = G.encode(torch.zeros(1, 3, 256, 256), torch.ones(1, 1, 256, 256))
        out = G.decode(enc, torch.zeros(1, 8))
    assert len(G.encoder) == 7 and G.widths == [64, 128, 256, 512, 512, 512, 512]
    assert tuple(enc.bottleneck.shape) == (1, 512, 2, 2)
    assert len(enc.forward_maps) == len(enc.reverse_maps) == 6
    assert [tuple(f.shape[1:]) for f in enc.forward_maps] == [tuple(r.shape[1:]) for r in enc.reverse_maps]
    assert G.encoder[0].conv.in_channels == 4 and G.encoder[0].mask_conv.in_channels == 1  # I_in = [I ⊙ M, M]
    assert G.encoder[0].bn is None and all(layer.bn is not None for layer in G.encoder[1:])
    assert G.decoder[0].conv.in_channels == 512 + 8        # attributes tiled at the bottleneck
    assert tuple(out.shape) == (1, 3, 256, 256)


def small_generator(k=3):
    torch.manual_seed(0)
    return N.LBAMGenerator(32, n_attrs=k, base=4, max_width=8).eval()


def test_generator_two_decodes_share_one_encoding_and_attributes_matter():
    G = small_generator()
    img, known = torch.rand(2, 3, 32, 32) * 2 - 1, torch.ones(2, 1, 32, 32)
    known[:, :, 8:24, 8:24] = 0
    a0, a1 = torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    enc = G.encode(img, known)
    assert torch.equal(G.decode(enc, a0), G(img, known, a0))
    assert not torch.allclose(G.decode(enc, a0), G.decode(enc, a1))
    out = G(img, known, a1)
    assert out.shape == img.shape and out.abs().max() <= 1


def test_generator_never_sees_hole_pixels():
    """Eq. 1: the input is I_gt ⊙ M, so what lies under the hole cannot change the output."""
    G = small_generator()
    img, known = torch.rand(1, 3, 32, 32) * 2 - 1, torch.ones(1, 1, 32, 32)
    known[:, :, 4:20, 10:30] = 0
    other = torch.where(known.bool(), img, torch.rand_like(img))
    a = torch.rand(1, 3)
    assert torch.equal(G(img, known, a), G(other, known, a))


def test_generator_checks_attributes_and_no_attribute_variant():
    G = small_generator()
    x, m = torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    with pytest.raises(ValueError, match="N×3"):
        G(x, m, torch.zeros(1, 2))
    assert small_generator(k=0)(x, m, None).shape == (1, 3, 32, 32)


def test_critic_is_linear_with_spectral_norm():
    torch.manual_seed(0)
    D = N.Critic(64, base=4, max_width=8)
    y = D(torch.randn(3, 3, 64, 64) * 50)
    assert y.shape == (3, 1)
    assert not any(isinstance(m, (nn.Sigmoid, nn.Tanh)) for m in D.modules())
    sn = [m for m in D.modules() if isinstance(m, nn.Conv2d) and hasattr(m, "weight_orig")]
    assert len(sn) == 3  # 4 stride-2 convs at 64 px, all but the first normalised (authors' layout)
    # a linear head: scaling the head's weight and bias scales the score
    D.eval()  # fixed spectral-norm power-iteration vectors
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        base = D(x)
        D.head.weight.mul_(3)
        D.head.bias.mul_(3)
        assert torch.allclose(D(x), 3 * base, atol=1e-5)


def test_auxiliary_extractor_is_conv_only():
    AE = N.AuxiliaryExtractor(64, n_attrs=5, base=4, max_width=8)
    assert not any(isinstance(m, nn.Linear) for m in AE.modules())
    assert AE(torch.randn(2, 3, 64, 64)).shape == (2, 5)


def test_attribute_extractor_has_vgg16_layout():
    E = N.AttributeExtractor(5, width=2, fc=(8, 4))
    convs = [m for m in E.features if isinstance(m, nn.Conv2d)]
    pools = [m for m in E.features if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == 13 and len(pools) == 5
    assert [c.out_channels for c in convs] == [2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 16]
    y = E(torch.randn(3, 3, 64, 64))
    assert y.shape == (3, 5) and (y >= 0).all() and (y <= 1).all()   # the {0, 1} range of A_gt
