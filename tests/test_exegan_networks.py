"""EXE-GAN networks (issue 15, items 1–3): StyleGAN2 blocks against independent computations
(scipy's upfirdn, per-sample conv loops, numpy, hand-computed values, gradcheck), then the
multi-style generator, mapping network, style mixing, discriminator, style encoder and G_u."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal

from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods.exegan import networks as N
from faceinpaint.methods.exegan import layers as S
from faceinpaint.methods.exegan.config import ExeGANConfig, preset_config


# ============================================================================ helpers
def _scipy_upfirdn_1d(x: np.ndarray, h: np.ndarray, up: int, down: int, p0: int, p1: int, axis: int) -> np.ndarray:
    """StyleGAN's upfirdn along one axis, from scipy's (upsample → full convolution → downsample).

    StyleGAN pads the zero-inserted signal (length L·up) by p0/p1 and keeps the 'valid' part,
    i.e. output[t] = full[t + K − 1 − p0] for t < L·up + p0 + p1 − K + 1 (scipy's full output,
    zero outside its range), then every ``down``-th sample."""
    full = signal.upfirdn(h, x, up=up, down=1, axis=axis)
    full = np.moveaxis(full, axis, -1)
    k, length = len(h), x.shape[axis] * up
    n_out = length + p0 + p1 - k + 1
    idx = np.arange(n_out) + k - 1 - p0
    ok = (idx >= 0) & (idx < full.shape[-1])
    out = np.zeros(full.shape[:-1] + (n_out,))
    out[..., ok] = full[..., idx[ok]]
    return np.moveaxis(out[..., ::down], -1, axis)


def _zero_insert2(x: torch.Tensor) -> torch.Tensor:
    """x[..., p, q] → u[..., 2p, 2q], zeros between (no trailing zero): transposed conv's input."""
    n, c, h, w = x.shape
    u = x.new_zeros(n, c, 2 * h - 1, 2 * w - 1)
    u[:, :, ::2, ::2] = x
    return u


def _blur_np(x: np.ndarray, pad: tuple[int, int], gain: float) -> np.ndarray:
    """[1, 3, 3, 1] FIR on every 2-D map of x (…×H×W) with zero padding, by scipy.convolve2d."""
    k1 = np.array([1.0, 3.0, 3.0, 1.0])
    k2 = np.outer(k1, k1) / np.outer(k1, k1).sum() * gain
    flat = x.reshape(-1, *x.shape[-2:])
    out = [signal.convolve2d(np.pad(m, (pad, pad)), k2, mode="valid") for m in flat]
    return np.stack(out).reshape(*x.shape[:-2], *out[0].shape)


def _set_noise_strength(module: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, S.NoiseInjection):
                m.strength.fill_(value)


@pytest.fixture(scope="module")
def smoke():
    return preset_config("smoke")


@pytest.fixture(scope="module")
def smoke_nets(smoke):
    torch.manual_seed(0)
    return {"G": N.build_generator(smoke).eval(), "D": N.build_discriminator(smoke).eval(),
            "E": N.build_style_encoder(smoke).eval(), "Gu": N.build_unconditional_generator(smoke).eval()}


def _batch(cfg: ExeGANConfig, n: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    image = torch.rand(n, 3, s, s, generator=g) * 2 - 1
    hole = torch.zeros(n, 1, s, s)
    hole[:, :, s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
    return image, hole


# ============================================================================ upfirdn2d
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (1, 3)])
def test_upfirdn_1d_full_matches_scipy(up, down):
    """With pad (K−1, K−up), StyleGAN's upfirdn is exactly scipy.signal.upfirdn (full output)."""
    rng = np.random.default_rng(1)
    x, h = rng.normal(size=11), rng.normal(size=4)          # asymmetric kernel: catches a flip
    ours = S.upfirdn2d(torch.tensor(x).view(1, 1, 1, -1), torch.tensor(h).view(1, -1),
                       up=(up, 1), down=(down, 1), pad=(len(h) - 1, len(h) - up, 0, 0))
    ref = signal.upfirdn(h, x, up=up, down=down)
    np.testing.assert_allclose(ours.view(-1).numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("up,down,p0,p1", [(1, 1, 2, 1), (2, 1, 2, 1), (1, 2, 1, 1), (2, 2, 0, -1), (1, 1, -1, 3)])
def test_upfirdn_1d_padding_matches_scipy(up, down, p0, p1):
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=9), rng.normal(size=4)
    ours = S.upfirdn2d(torch.tensor(x).view(1, 1, 1, -1), torch.tensor(h).view(1, -1),
                       up=(up, 1), down=(down, 1), pad=(p0, p1, 0, 0))
    ref = _scipy_upfirdn_1d(x, h, up, down, p0, p1, axis=0)
    np.testing.assert_allclose(ours.view(-1).numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("up,down,pad", [((2, 2), (1, 1), (2, 1, 2, 1)), ((1, 1), (2, 2), (1, 1, 1, 1)),
                                         ((2, 1), (1, 2), (0, 3, 2, -1)), ((1, 1), (1, 1), (1, 2, 2, 1))])
def test_upfirdn_2d_separable_matches_scipy(up, down, pad):
    """A separable 2-D kernel k_y k_xᵀ = scipy's upfirdn along x, then along y."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 6, 7))
    kx, ky = rng.normal(size=4), rng.normal(size=3)
    ours = S.upfirdn2d(torch.tensor(x), torch.tensor(np.outer(ky, kx)), up=up, down=down, pad=pad)
    ref = _scipy_upfirdn_1d(x, kx, up[0], down[0], pad[0], pad[1], axis=3)
    ref = _scipy_upfirdn_1d(ref, ky, up[1], down[1], pad[2], pad[3], axis=2)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_resampling_modules_sizes_and_constants():
    """Up/Down-sample by exactly 2 and keep a constant image constant away from the borders
    (the kernel sums to 1, ×4 after zero insertion)."""
    x = torch.full((1, 2, 8, 8), 3.0)
    up, down = S.Upsample()(x), S.Downsample()(x)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 3.0))
    torch.testing.assert_close(S.make_kernel([1, 3, 3, 1]), torch.tensor(np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0,
                                                                          dtype=torch.float32))


def test_resampling_modules_match_scipy_and_torgb_skip():
    """Upsample = zero insertion + [1,3,3,1]·2/8 per axis, pad (2, 1); Downsample = [1,3,3,1]/8
    per axis, pad (1, 1), every 2nd sample (scipy, separable); ToRGB adds the upsampled skip."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 6, 6))
    k = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    up_ref = _scipy_upfirdn_1d(_scipy_upfirdn_1d(x, 2 * k, 2, 1, 2, 1, axis=3), 2 * k, 2, 1, 2, 1, axis=2)
    dn_ref = _scipy_upfirdn_1d(_scipy_upfirdn_1d(x, k, 1, 2, 1, 1, axis=3), k, 1, 2, 1, 1, axis=2)
    xt = torch.tensor(x, dtype=torch.float32)
    np.testing.assert_allclose(S.Upsample()(xt).numpy(), up_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(S.Downsample()(xt).numpy(), dn_ref, rtol=1e-5, atol=1e-6)
    to_rgb = S.ToRGB(4, style_dim=3)
    with torch.no_grad():
        to_rgb.conv.weight.zero_()
        to_rgb.bias.fill_(0.25)
    skip = torch.tensor(x[:, :1].repeat(3, 1), dtype=torch.float32)        # 1×3×6×6 RGB
    out = to_rgb(torch.randn(1, 4, 12, 12), torch.randn(1, 3), skip)
    np.testing.assert_allclose(out.detach().numpy(), up_ref[:, :1].repeat(3, 1) + 0.25, rtol=1e-5, atol=1e-6)


def test_upfirdn_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(3, 4, dtype=torch.float64, generator=g)
    for up, down, pad in [(2, 1, (2, 1)), (1, 2, (1, 1)), (2, 2, (1, 2, 0, 1))]:
        assert torch.autograd.gradcheck(lambda t: S.upfirdn2d(t, k, up=up, down=down, pad=pad), (x,))
        assert torch.autograd.gradgradcheck(lambda t: S.upfirdn2d(t, k, up=up, down=down, pad=pad), (x,))


# ============================================================================ activation, equalised lr
def test_bias_leaky_relu_hand_values():
    x = torch.tensor([[-2.0, 0.0, 3.0]]).view(1, 3)
    out = S.bias_leaky_relu(x, torch.tensor([1.0, 1.0, 1.0]))          # x + b = [-1, 1, 4]
    r2 = math.sqrt(2)
    torch.testing.assert_close(out, torch.tensor([[-0.2 * r2, r2, 4 * r2]]))
    act = S.BiasLeakyReLU(2)
    torch.testing.assert_close(act(torch.tensor([[[[-1.0]], [[2.0]]]])), torch.tensor([[[[-0.2 * r2]], [[2 * r2]]]]))


def test_equal_linear_runtime_scaling_hand_values():
    lin = S.EqualLinear(4, 1, bias_init=3.0, lr_mul=0.01)
    assert lin.scale == pytest.approx(0.01 / 2)                        # lr_mul / √in
    with torch.no_grad():
        lin.weight.fill_(1.0)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    out = lin(x)                                                       # 10 · 0.005 + 3 · 0.01
    torch.testing.assert_close(out, torch.tensor([[0.08]]))
    out.sum().backward()                                               # ∂out/∂W = x · scale
    torch.testing.assert_close(lin.weight.grad, x * 0.005)
    torch.testing.assert_close(lin.bias.grad, torch.tensor([0.01]))
    # stored weights ~ N(0, 1/lr_mul²): the used weights have std lr_mul·(1/lr_mul)/√in = 1/√in
    torch.manual_seed(0)
    big = S.EqualLinear(256, 512, lr_mul=0.01)
    assert big.weight.std().item() == pytest.approx(100.0, rel=0.02)
    assert (big.weight * big.scale).std().item() == pytest.approx(1 / 16, rel=0.02)
    act = S.EqualLinear(4, 1, lr_mul=1.0, activation="lrelu")
    with torch.no_grad():
        act.weight.fill_(-1.0)                                         # −10/2 = −5 → −5·0.2·√2
    torch.testing.assert_close(act(x), torch.tensor([[-5 * 0.2 * math.sqrt(2)]]))


def test_equal_conv_runtime_scaling_hand_values():
    conv = S.EqualConv2d(2, 1, 3, padding=1)
    assert conv.scale == pytest.approx(1 / math.sqrt(18))
    with torch.no_grad():
        conv.weight.fill_(1.0)
    out = conv(torch.ones(1, 2, 5, 5))
    assert out[0, 0, 2, 2].item() == pytest.approx(18 / math.sqrt(18))   # 18 taps · 1/√18
    assert out[0, 0, 0, 0].item() == pytest.approx(8 / math.sqrt(18))    # corner: 2·2·2 taps


# ============================================================================ modulated conv
def _reference_modulated(mod: S.ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per-sample loop: s = A(style) by hand, w_b = scale·W·s_b, demodulated by hand; up = zero
    insertion + full convolution + scipy FIR; down = scipy FIR + stride-2 conv."""
    a = mod.modulation
    s = style @ (a.weight * a.scale).T + a.bias * a.lr_mul
    outs = []
    for b in range(x.shape[0]):
        w = mod.weight * mod.scale * s[b].view(1, -1, 1, 1)
        if mod.demodulate:
            w = w / torch.sqrt((w ** 2).sum((1, 2, 3), keepdim=True) + 1e-8)
        xb = x[b:b + 1]
        k = w.shape[-1]
        if mod.up:
            u = F.pad(_zero_insert2(xb), (k - 1,) * 4)
            o = F.conv2d(u, torch.flip(w, (2, 3)))                       # = transposed conv
            o = torch.from_numpy(_blur_np(o.detach().numpy(), (1, 1), gain=4.0))
        elif mod.down:
            xb = torch.from_numpy(_blur_np(xb.detach().numpy(), (2, 2), gain=1.0))
            o = F.conv2d(xb, w, stride=2)
        else:
            o = F.conv2d(xb, w, padding=k // 2)
        outs.append(o)
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("mode", ["same", "up", "down"])
def test_modulated_conv_matches_per_sample_loop(demodulate, mode):
    torch.manual_seed(0)
    mod = S.ModulatedConv2d(3, 4, 3, style_dim=5, demodulate=demodulate, up=mode == "up",
                            down=mode == "down").double()
    with torch.no_grad():
        mod.modulation.bias.normal_()                                 # styles far from 1
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    style = torch.randn(3, 5, dtype=torch.float64)
    out = mod(x, style)
    side = {"same": 8, "up": 16, "down": 4}[mode]
    assert out.shape == (3, 4, side, side)
    torch.testing.assert_close(out, _reference_modulated(mod, x, style), rtol=1e-10, atol=1e-10)


def test_modulated_conv_1x1_and_demodulated_unit_norm():
    """ToRGB's 1×1 path, and eq. (3): each demodulated output filter has unit L2 norm, so for a
    1×1 kernel and a unit-norm input pixel the output is bounded by 1."""
    torch.manual_seed(1)
    mod = S.ModulatedConv2d(6, 2, 1, style_dim=3, demodulate=False).double()
    x, st = torch.randn(2, 6, 4, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    torch.testing.assert_close(mod(x, st), _reference_modulated(mod, x, st), rtol=1e-10, atol=1e-10)
    w = torch.randn(5, 6, 3, 3, dtype=torch.float64)
    s = torch.rand(2, 6, dtype=torch.float64) + 0.5
    wm = w.unsqueeze(0) * s.view(2, 1, 6, 1, 1)
    wd = wm * torch.rsqrt(wm.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
    torch.testing.assert_close(wd.pow(2).sum((2, 3, 4)), torch.ones(2, 5, dtype=torch.float64))


@pytest.mark.parametrize("demodulate,up,down", [(True, False, False), (False, False, False),
                                                (True, True, False), (True, False, True)])
def test_modulated_conv_gradcheck(demodulate, up, down):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    s = (torch.rand(2, 2, dtype=torch.float64, generator=g) + 0.5).requires_grad_()
    blur = S.make_kernel([1, 3, 3, 1]).double()
    fn = lambda x_, w_, s_: S.modulated_conv2d(x_, w_, s_, demodulate=demodulate, up=up, down=down, blur_kernel=blur)
    assert torch.autograd.gradcheck(fn, (x, w, s))


# ============================================================================ minibatch stddev
@pytest.mark.parametrize("n,group,feats", [(8, 4, 1), (8, 4, 2), (6, 4, 1), (3, 4, 1)])
def test_minibatch_stddev_matches_numpy(n, group, feats):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 4, 3, 3))
    ours = S.minibatch_stddev(torch.tensor(x), group, feats).numpy()
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)     # 6 → 3, 3 → 3
    m = n // g
    ref = np.zeros((n, feats, 3, 3))
    cpf = 4 // feats
    for i in range(n):
        members = [i % m + j * m for j in range(g)]                   # reshape(G, −1): strided groups
        for f in range(feats):
            vals = x[members][:, f * cpf:(f + 1) * cpf]
            ref[i, f] = np.sqrt(vals.var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(ours[:, :4], x)
    np.testing.assert_allclose(ours[:, 4:], ref, rtol=1e-10)


# ============================================================================ counts and shapes
def test_paper_generator_counts_on_meta_device():
    """At 256 px: 14 style layers, 13 noise inputs; A_i takes (ŵ_i, c) = 512 + 1024; G_en reads
    4 channels, D 3; 8 FC layers with lr multiplier 0.01 in f."""
    cfg = preset_config("paper")
    assert S.n_style_layers(256) == 14 and S.n_noise_layers(256) == 13
    with torch.device("meta"):
        G, D = N.build_generator(cfg), N.build_discriminator(cfg)
    assert G.n_styles == 14 and G.n_noise == 13
    assert sum(isinstance(m, S.NoiseInjection) for m in G.modules()) == 13
    mods = [m for m in G.decoder.modules() if isinstance(m, S.ModulatedConv2d)]
    assert len(mods) == 13 + 7                                        # 13 styled convs + 7 ToRGB
    assert all(m.modulation.weight.shape[1] == 512 + 1024 for m in mods)
    assert G.encoder.from_rgb[0].weight.shape[1] == 4
    assert D.from_rgb[0].weight.shape[1] == 3
    fcs = [m for m in G.mapping.modules() if isinstance(m, S.EqualLinear)]
    assert len(fcs) == 8 and all(m.lr_mul == 0.01 for m in fcs) and fcs[0].weight.shape == (512, 512)
    assert isinstance(G.mapping.net[0], S.PixelNorm)
    assert S.channel_table(256) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert isinstance(G.encoder.dropout, torch.nn.Dropout) and G.encoder.dropout.p == 0.5


def test_smoke_shapes(smoke, smoke_nets):
    G, D, E, Gu = (smoke_nets[k] for k in ("G", "D", "E", "Gu"))
    image, hole = _batch(smoke, 3)
    L, dim = G.n_styles, smoke.style_dim
    assert L == 10 and G.n_noise == 9
    w = G.stochastic_styles(torch.randn(3, dim))
    assert w.shape == (3, L, dim)
    pred = G(image, hole, w)
    assert pred.shape == (3, 3, 64, 64)
    assert D(pred).shape == (3, 1)
    assert E(image).shape == (3, L, dim)
    assert E(F.interpolate(image, size=(96, 96))).shape == (3, L, dim)      # any input size
    assert Gu(w).shape == (3, 3, 64, 64) and Gu.n_styles == L


def test_every_style_layer_is_used(smoke, smoke_nets):
    """Each of the L per-layer codes reaches the output (no unused or shifted index)."""
    G = smoke_nets["G"]
    image, hole = _batch(smoke)
    w = G.stochastic_styles(torch.randn(2, smoke.style_dim)).detach().requires_grad_()
    G(image, hole, w, noise_mode="const").sum().backward()
    assert (w.grad.abs().sum((0, 2)) > 0).all()


# ============================================================================ generator semantics
def test_composite_and_mask_polarity(smoke, smoke_nets):
    """Eq. (3) with hole = 1: known pixels are the input's, bit for bit; G reads only known pixels
    (changing the hole's content changes nothing); the mask channel is hole − 0.5."""
    G = smoke_nets["G"]
    image, hole = _batch(smoke)
    w = G.stochastic_styles(torch.randn(2, smoke.style_dim))
    out, pred = G.complete(image, hole, w, noise_mode="const")
    known = hole == 0
    assert torch.equal(out[known.expand_as(out)], image[known.expand_as(image)])
    assert torch.equal(out[~known.expand_as(out)], pred[~known.expand_as(pred)])
    scrambled = torch.where(hole.bool(), torch.rand_like(image), image)
    torch.testing.assert_close(G(scrambled, hole, w, noise_mode="const"), pred, rtol=0, atol=0)
    gin = G.encoder_input(image, hole)
    assert torch.equal(gin[:, 3:], hole - 0.5) and torch.equal(gin[:, :3], image * (1 - hole))


def test_same_seed_same_bytes(smoke):
    image, hole = _batch(smoke)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        G = N.build_generator(smoke).eval()
        _set_noise_strength(G, 0.3)
        g = torch.Generator().manual_seed(11)
        z = torch.randn(2, smoke.style_dim, generator=g)
        outs.append(G(image, hole, G.stochastic_styles(z), generator=g))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(8)
    other = N.build_generator(smoke).eval()
    assert not torch.equal(other(image, hole, other.stochastic_styles(z), noise_mode="const"), outs[0])


def test_noise_changes_output_only_when_random(smoke, smoke_nets):
    G = smoke_nets["G"]
    image, hole = _batch(smoke)
    w = G.stochastic_styles(torch.randn(2, smoke.style_dim))
    gen = lambda s: torch.Generator().manual_seed(s)
    # strength 0 (StyleGAN2's init): random noise has no effect at all
    assert torch.equal(G(image, hole, w, generator=gen(1)), G(image, hole, w, noise_mode="none"))
    _set_noise_strength(G, 0.5)
    try:
        const1, const2 = G(image, hole, w, noise_mode="const"), G(image, hole, w, noise_mode="const")
        assert torch.equal(const1, const2)
        r1, r1b, r2 = (G(image, hole, w, generator=gen(s)) for s in (1, 1, 2))
        assert torch.equal(r1, r1b)
        assert (r1 - r2).abs().max() > 1e-3
        assert (r1 - const1).abs().max() > 1e-3
        custom = G.decoder.make_noise(2, generator=gen(1))
        assert torch.equal(G(image, hole, w, noise=custom), r1)         # explicit noise = drawn noise
    finally:
        _set_noise_strength(G, 0.0)


def test_truncation_psi_zero_gives_mean_style(smoke):
    torch.manual_seed(0)
    G = N.build_generator(smoke)
    f = G.mapping
    assert torch.equal(f.w_avg, torch.zeros(smoke.style_dim))
    z = torch.randn(6, smoke.style_dim)
    w = f(z)                                                            # training mode: tracked
    torch.testing.assert_close(f.w_avg, (1 - 0.995) * w.detach().mean(0))
    before = f.w_avg.clone()
    f.eval()
    f(torch.randn(3, smoke.style_dim))
    assert torch.equal(f.w_avg, before)                                 # eval: untouched
    w0 = G.stochastic_styles(torch.randn(4, smoke.style_dim), psi=0.0)
    torch.testing.assert_close(w0, f.w_avg.expand(4, G.n_styles, -1))
    w1 = G.stochastic_styles(z, psi=1.0)
    torch.testing.assert_close(w1, f(z).unsqueeze(1).expand(-1, G.n_styles, -1))
    wh = G.stochastic_styles(z, psi=0.5)
    torch.testing.assert_close(wh, (f.w_avg + 0.5 * (f(z) - f.w_avg)).unsqueeze(1).expand_as(wh))


def test_phi_selects_exemplar_layers(smoke, smoke_nets):
    phi = N.phi_mask(14, 5)
    assert phi.tolist() == [False] * 5 + [True] * 9                     # the paper's default φ
    L, D = 10, 4
    w_exe, w_sto = torch.randn(2, L, D), torch.randn(2, L, D)
    phi = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 1, 0], dtype=torch.bool)
    mixed = N.mix_exemplar_styles(w_exe, w_sto, phi)
    for i in range(L):
        assert torch.equal(mixed[:, i], w_exe[:, i] if phi[i] else w_sto[:, i])
    # through G: the exemplar's code matters on the φ layers only
    G = smoke_nets["G"]
    image, hole = _batch(smoke)
    phi = N.exemplar_phi(smoke)
    w_sto = G.stochastic_styles(torch.randn(2, smoke.style_dim))
    w_exe = torch.randn(2, G.n_styles, smoke.style_dim)
    w_exe_off = w_exe.clone()
    w_exe_off[:, ~phi] += 1.0                                           # change non-φ layers only
    w_exe_on = w_exe.clone()
    w_exe_on[:, phi] += 1.0
    base = G(image, hole, N.mix_exemplar_styles(w_exe, w_sto, phi), noise_mode="const")
    assert torch.equal(base, G(image, hole, N.mix_exemplar_styles(w_exe_off, w_sto, phi), noise_mode="const"))
    assert (base - G(image, hole, N.mix_exemplar_styles(w_exe_on, w_sto, phi), noise_mode="const")).abs().max() > 1e-4


def test_crossover_and_style_mixing(smoke):
    a, b = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    for k in (0, 2, 6):
        m = N.crossover_styles(a, b, k)
        assert torch.equal(m[:, :k], a[:, :k]) and torch.equal(m[:, k:], b[:, k:])
    with pytest.raises(ValueError):
        N.crossover_styles(a, b, 7)
    ks = {N.random_crossover(6, torch.Generator().manual_seed(s)) for s in range(40)}
    assert ks == {1, 2, 3, 4, 5}
    seeded = [N.random_crossover(6, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert seeded[0] == seeded[1]
    torch.manual_seed(0)
    G = N.build_generator(smoke).eval()
    z1, z2 = torch.randn(2, smoke.style_dim), torch.randn(2, smoke.style_dim)
    w = G.stochastic_styles(z1, z2=z2, crossover=4)
    torch.testing.assert_close(w[:, :4], G.mapping(z1).unsqueeze(1).expand(-1, 4, -1))
    torch.testing.assert_close(w[:, 4:], G.mapping(z2).unsqueeze(1).expand(-1, G.n_styles - 4, -1))


def test_dropout_on_global_code_only_in_training(smoke):
    torch.manual_seed(0)
    G = N.build_generator(smoke)
    image, hole = _batch(smoke)
    w = G.stochastic_styles(torch.randn(2, smoke.style_dim)).detach()
    G.train()
    torch.manual_seed(1)
    a = G(image, hole, w, noise_mode="const")
    torch.manual_seed(2)
    b = G(image, hole, w, noise_mode="const")
    assert (a - b).abs().max() > 1e-5                                  # dropout is active
    G.eval()
    assert torch.equal(G(image, hole, w, noise_mode="const"), G(image, hole, w, noise_mode="const"))


# ============================================================================ D, E, G_u
def test_discriminator_gradients_and_batch_sizes(smoke, smoke_nets):
    D = smoke_nets["D"]
    for n in (1, 3, 4):
        x = torch.randn(n, 3, 64, 64, requires_grad=True)
        out = D(x)
        assert out.shape == (n, 1)
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)    # R1 needs double backward
        g.pow(2).sum().backward()
    assert D.final_conv[0].weight.shape[1] == D.blocks[-1].conv2[1].weight.shape[0] + 1   # + stddev map


def test_style_encoder_offset_and_gradients(smoke, smoke_nets):
    E = smoke_nets["E"]
    image, _ = _batch(smoke)
    base = E(image)
    w_avg = torch.randn(smoke.style_dim)
    E.set_w_avg(w_avg)
    try:
        torch.testing.assert_close(E(image), base + w_avg)
    finally:
        E.set_w_avg(torch.zeros(smoke.style_dim))
    assert [E.level_of(i) for i in range(10)] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    # frozen E still passes gradients to its input (eq. 7 trains G through E(I_out))
    for p in E.parameters():
        p.requires_grad_(False)
    try:
        x = image.clone().requires_grad_()
        E(x).square().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
    finally:
        for p in E.parameters():
            p.requires_grad_(True)


def test_unconditional_generator_inverts_shape_and_mixing(smoke, smoke_nets):
    Gu, E = smoke_nets["Gu"], smoke_nets["E"]
    g = torch.Generator().manual_seed(0)
    w = Gu.stochastic_styles(torch.randn(2, smoke.style_dim, generator=g),
                             z2=torch.randn(2, smoke.style_dim, generator=g), crossover=3)
    img = Gu(w, noise_mode="const")
    assert img.shape == (2, 3, 64, 64)
    assert E(img).shape == w.shape                                     # E's target space is G_u's W+
    assert torch.equal(Gu(w, noise_mode="const"), img)


# ============================================================================ config
def test_presets_and_round_trip():
    for name in ("paper", "cpu", "smoke"):
        cfg = preset_config(name)
        assert cfg.preset == name
        assert ExeGANConfig.from_dict(cfg.to_dict()) == cfg
        assert S.n_style_layers(cfg.image_size) > cfg.phi_first_exemplar_layer
    paper = preset_config("paper")
    assert (paper.lambda_id, paper.lambda_lpips, paper.lambda_attr) == (0.1, 0.5, 0.1)
    assert (paper.lr, paper.r1_gamma, paper.d_reg_every, paper.tau, paper.mixing_prob) == (0.002, 10.0, 16, 0.9, 0.5)
    assert (paper.style_dim, paper.n_mlp, paper.lr_mlp, paper.image_size) == (512, 8, 0.01, 256)
    assert preset_config("cpu", batch_size=2).batch_size == 2
    with pytest.raises(FaceInpaintError):
        preset_config("nope")
