"""Vitoria et al.: the residual generator and the two layer-norm critics (section 3.1)."""
import torch
import torch.nn.functional as F
from torch import nn

from faceinpaint.methods.wgan_completion.networks import GlobalCritic, Generator, LayerNorm2d, PatchCritic
from wgan_helpers import tiny_nets  # tests/wgan_helpers.py


def test_shapes_and_paper_widths():
    G = Generator()                                   # paper: z ∈ R^128, 64 px
    D, P = GlobalCritic(), PatchCritic()
    z = torch.randn(2, 128)
    with torch.no_grad():
        x = G(z)
        assert x.shape == (2, 3, 64, 64) and x.abs().max() <= 1  # tanh output
        assert D(x).shape == (2,)
        assert P.patch_map(x).shape == (2, 1, 8, 8)
        assert torch.allclose(P(x), P.patch_map(x).mean(dim=(1, 2, 3)))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in [*D.modules(), *P.modules()])
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


def test_layer_norm_matches_functional_layer_norm():
    ln = LayerNorm2d(5)
    x = torch.randn(3, 5, 6, 7)
    ref = F.layer_norm(x, x.shape[1:], eps=ln.eps)
    assert torch.allclose(ln(x), ref, atol=1e-5)


def test_critic_scores_do_not_depend_on_the_batch():
    _, D, P = tiny_nets()
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for critic in (D, P):
            assert torch.allclose(critic(x)[:1], critic(x[:1]), atol=1e-5)
