"""LaFIn networks (tables 6–8), the short+long-term attention block and the networks' inputs."""

import pytest
import torch
from torch.nn.utils import parametrize

from faceinpaint.methods import lafin as L
from faceinpaint.methods.lafin import networks as N
from lafin_helpers import smoke, spread_landmarks  # tests/lafin_helpers.py
from synthetic import faces, square_hole  # tests/synthetic.py


def test_shapes_of_the_three_networks():
    cfg = smoke()
    G, D, P = L.build_generator(cfg), L.build_discriminator(cfg), L.build_predictor(cfg)
    x, hole = faces(2), square_hole(2)
    with torch.no_grad():
        out, attn = G(torch.cat([x, torch.zeros(2, 1, 64, 64)], 1), hole)
        assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1          # tanh = (tanh+1)/2 in [-1, 1]
        assert attn.shape == (2, 16 * 16, 16 * 16)                             # attention at 1/4 resolution
        assert torch.allclose(attn.sum(-1), torch.ones(2, 256), atol=1e-5)    # softmax rows
        assert D(torch.cat([x, torch.zeros(2, 1, 64, 64)], 1)).shape == (2, 1, 6, 6)
        for s in (64, 128):
            assert P.eval()(faces(2, s)).shape == (2, 68, 2)


def test_paper_widths_of_tables_6_to_8():
    cfg = L.preset_config("paper")
    P = L.build_predictor(cfg)
    assert P.features[-1].conv[-2].out_channels == 320 and P.last_block[0].out_channels == 1280   # C1, C2
    assert (P.tap1.out_channels, P.tap2.out_channels, P.tap3.out_channels) == (128, 128, 64)      # S1, S2, S3
    assert P.fc.in_features == 320 and P.fc.out_features == 136
    G = L.build_generator(cfg)
    assert [G.enc1[1].out_channels, G.enc2[0].out_channels, G.enc3[0].out_channels] == [64, 128, 256]
    assert len(G.middle) == 7 and G.middle[0].block[1].dilation == (2, 2)
    assert G.enc1[1].in_channels == 4                                   # RGB + landmark channel, no mask
    assert G.fuse1[0].kernel_size == (1, 1) and G.fuse2[0].kernel_size == (1, 1)
    D = L.build_discriminator(cfg)
    assert [c.out_channels for c in D.convs()] == [64, 128, 256, 512, 1]
    assert [c.stride for c in D.convs()] == [(2, 2)] * 3 + [(1, 1)] * 2
    with torch.no_grad():
        assert D(torch.zeros(1, 4, 256, 256)).shape == (1, 1, 30, 30)   # table 7: 30²×1


def test_discriminator_has_spectral_norm_on_its_convs():
    D = L.build_discriminator(smoke())
    for conv in D.convs():
        assert parametrize.is_parametrized(conv, "weight")
    D.train()
    x = torch.randn(2, 4, 64, 64)
    with torch.no_grad():
        for _ in range(30):  # power iterations converge in train mode
            D(x)
    D.eval()
    for conv in D.convs():
        w = conv.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, 2).item() == pytest.approx(1.0, abs=0.05)
    out = D(x)
    assert ((out > 0) & (out < 1)).all()  # sigmoid


def test_attention_gates_start_at_zero_so_the_block_is_identity():
    torch.manual_seed(0)
    block = N.ShortLongTermAttention(8, long_term=False)
    assert block.gamma.item() == 0
    x = torch.randn(2, 8, 5, 6)
    out, attn = block(x)
    assert torch.equal(out, x)
    long = N.ShortLongTermAttention(8)
    assert long.gamma.item() == 0 and long.alpha.item() == 0
    e, hole = torch.randn(2, 8, 5, 6), torch.zeros(2, 1, 5, 6)
    hole[..., 1:4, 2:5] = 1
    ref, _ = long(x, e, hole)
    with torch.no_grad():
        long.query.weight.normal_()  # another attention pattern: no effect while γ = α = 0
    same, _ = long(x, e, hole)
    assert torch.allclose(ref, same, atol=1e-6)
    with torch.no_grad():
        long.alpha.fill_(1.0)
    assert not torch.allclose(long(x, e, hole)[0], ref, atol=1e-4)


def test_attention_matches_a_direct_computation():
    torch.manual_seed(1)
    block = N.ShortLongTermAttention(8)
    with torch.no_grad():
        block.gamma.fill_(0.7)
        block.alpha.fill_(0.3)
    x, e = torch.randn(1, 8, 3, 4), torch.randn(1, 8, 3, 4)
    hole = torch.zeros(1, 1, 3, 4)
    hole[..., 1:, 1:3] = 1
    out, attn = block(x, e, hole)
    q = block.query(x)[0].flatten(1).double().detach()                  # C'×P
    xs, es = x[0].flatten(1).double(), e[0].flatten(1).double()
    P = xs.shape[1]
    A = torch.zeros(P, P, dtype=torch.float64)
    for i in range(P):
        energy = torch.tensor([float(q[:, i] @ q[:, j]) for j in range(P)], dtype=torch.float64)
        A[i] = torch.exp(energy - energy.max()) / torch.exp(energy - energy.max()).sum()
    y = 0.7 * xs @ A.T + xs                                     # y_i = γ Σ_j A_ij x_j + x_i
    m = hole[0].flatten(1).double()
    c = 0.3 * m * (es @ A.T) + (1 - m) * es                     # hole: α·attended encoder; known: encoder
    expected = block.fuse(torch.cat([y, c]).view(1, 16, 3, 4).float())
    assert torch.allclose(attn[0].double(), A, atol=1e-5)
    assert torch.allclose(out, expected, atol=1e-5)


def test_masked_input_fills_holes_with_white():
    x, hole = faces(1), square_hole(1)
    m = L.masked_input(x, hole)
    assert (m[..., 16:48, 16:48] == 1).all()
    assert torch.equal(m * (1 - hole), x * (1 - hole))


def test_landmark_channel_has_one_pixel_per_landmark():
    lm = spread_landmarks(2)
    ch = L.landmark_channel(lm, 64, 2, "cpu")
    assert ch.shape == (2, 1, 64, 64) and set(ch.unique().tolist()) == {0.0, 1.0}
    assert ch.sum((1, 2, 3)).tolist() == [68.0, 68.0]
    lm2 = lm.clone()
    lm2[:, 1] = lm2[:, 0] + 0.2   # rounds to the same pixel as point 0
    assert L.landmark_channel(lm2, 64, 2, "cpu").sum().item() == 2 * 67
    assert L.landmark_channel(lm, 64, 2, "cpu", use_landmarks=False).abs().sum() == 0   # "w/o LMK"
