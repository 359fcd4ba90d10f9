"""Each loss in faceinpaint.losses against its equation: hand-computed values on tiny
tensors, pytorch_msssim for MS-SSIM, direct 2-D convolution for the confidence maps,
torch.autograd.gradcheck for SVGL."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faceinpaint import losses as L


# ----------------------------------------------------------------------------- helpers
class LinearCritic(nn.Module):
    """D(x) = w·vec(x) + b: ∇_x D = w everywhere, so ‖∇D‖ = ‖w‖ (hand-computable GP / R1)."""

    def __init__(self, w: torch.Tensor, b: float = 0.5):
        super().__init__()
        self.lin = nn.Linear(w.numel(), 1)
        with torch.no_grad():
            self.lin.weight.copy_(w.view(1, -1))
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x.flatten(1))


def quadratic_critic(x):
    """D(x) = ½‖x‖² per sample: ∇_x D = x."""
    return 0.5 * x.flatten(1).pow(2).sum(1)


W = torch.tensor([1.0, 2.0, 0.0, 2.0])  # ‖w‖ = 3
REAL = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]).view(2, 1, 2, 2)
FAKE = torch.tensor([[0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]).view(2, 1, 2, 2)


# ----------------------------------------------------------------------------- reconstruction
def test_hole_valid_l1_hand_computed():
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).view(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    hole = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    # hole pixels 0 and 3: channel 0 → 1, 4; channel 1 → 5, 8; sum 18 over 8 elements
    assert L.hole_l1(pred, target, hole).item() == pytest.approx(18 / 8)
    # known pixels 1, 2: 2, 3, 6, 7 → 18 / 8
    assert L.valid_l1(pred, target, hole).item() == pytest.approx(18 / 8)
    assert L.refattr_reconstruction_loss(pred, target, hole).item() == pytest.approx(6 * 18 / 8 + 18 / 8)
    # LaFIn eq. 2: Σ|Î−I| over the whole image = 36, C·N_m = 2·2 → 9
    assert L.l1_per_hole_area(pred, target, hole).item() == pytest.approx(36 / 4)


def test_l1_per_hole_area_matches_authors_form_and_empty_hole():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)
    hole = (torch.rand(3, 1, 8, 8, generator=g) > 0.6).float()
    # LaFIn's code: nn.L1Loss()(out, img) / torch.mean(mask) (mask N×1×H×W)
    authors = F.l1_loss(pred, target) / hole.mean()
    assert L.l1_per_hole_area(pred, target, hole).item() == pytest.approx(authors.item(), rel=1e-5)
    empty = torch.zeros(3, 1, 8, 8)
    assert torch.isfinite(L.l1_per_hole_area(pred, target, empty))


# ----------------------------------------------------------------------------- feature losses
def identity_features(x):
    return {"f": x}


def test_gram_matrix_hand_computed():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # φφᵀ / (C·H·W)
    assert torch.allclose(L.gram_matrix(f)[0], expected)


def test_style_and_perceptual_hand_computed():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    y = torch.zeros_like(x)
    # style: mean |G(x) − 0| = (5 + 11 + 11 + 25) / 4 / 4
    assert L.style_loss(x, y, identity_features).item() == pytest.approx(52 / 16)
    assert L.style_loss(x, y, identity_features, distance="mse").item() == pytest.approx(
        (25 + 121 + 121 + 625) / 16 / 4)
    assert L.perceptual_loss(x, y, identity_features).item() == pytest.approx(2.5)
    assert L.perceptual_loss(x, y, identity_features, distance="mse").item() == pytest.approx(30 / 4)


def test_layer_selection_weights_and_lists():
    x = torch.tensor([1.0, -1.0]).view(1, 1, 1, 2)
    y = torch.zeros_like(x)
    two = lambda t: {"a": t, "b": 3 * t}  # noqa: E731
    assert L.perceptual_loss(x, y, two).item() == pytest.approx(1 + 3)
    assert L.perceptual_loss(x, y, two, layers=["b"]).item() == pytest.approx(3)
    assert L.perceptual_loss(x, y, two, layer_weights=[0.5, 2.0]).item() == pytest.approx(0.5 + 6)
    as_list = lambda t: [t, 3 * t]  # noqa: E731
    assert L.perceptual_loss(x, y, as_list).item() == pytest.approx(4)
    with pytest.raises(KeyError):
        L.perceptual_loss(x, y, two, layers=["c"])
    with pytest.raises(ValueError):
        L.perceptual_loss(x, y, two, layer_weights=[1.0])


class TinyTrunk(nn.Module):
    """A stand-in feature extractor: two conv stages, dict output like VGGFeatures."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 5, 3, padding=1, stride=2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        a = F.relu(self.c1(x))
        return {"relu1": a, "relu2": F.relu(self.c2(a))}


def test_feature_losses_with_stand_in_trunk_match_direct_computation():
    net = TinyTrunk()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    y = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    fx, fy = net(x), net(y)
    perc = sum(F.l1_loss(fx[k], fy[k]) for k in fx)
    def gram(f):
        n, c, h, w = f.shape
        m = f.reshape(n, c, h * w)
        return m @ m.transpose(1, 2) / (c * h * w)
    sty = sum(F.l1_loss(gram(fx[k]), gram(fy[k])) for k in fx)
    assert L.perceptual_loss(x, y, net).item() == pytest.approx(perc.item(), rel=1e-5)
    assert L.style_loss(x, y, net).item() == pytest.approx(sty.item(), rel=1e-5)
    assert L.perceptual_loss(x, x, net).item() == 0.0
    # gradients reach the prediction, not the (ground-truth) target
    xr = x.clone().requires_grad_(True)
    (L.perceptual_loss(xr, y, net) + L.style_loss(xr, y, net)).backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0


def test_perceptual_with_real_vgg_grows_with_blur():
    from faceinpaint.pretrained.vgg import VGGFeatures

    net = VGGFeatures(layers=("relu1_1", "relu2_1"))
    assert "vgg" in net.source
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 32, 32, generator=g) * 2 - 1)
    k = torch.ones(3, 1, 3, 3) / 9
    blur1 = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    blur2 = F.conv2d(F.pad(blur1, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    d1, d2 = L.perceptual_loss(blur1, x, net), L.perceptual_loss(blur2, x, net)
    assert L.perceptual_loss(x, x, net).item() == 0.0
    assert 0 < d1.item() < d2.item()


# ----------------------------------------------------------------------------- image losses
def test_tv_hand_computed():
    img = torch.tensor([[0.0, 1.0], [3.0, 5.0]]).view(1, 1, 2, 2)
    # vertical |3−0|, |5−1| → mean 3.5; horizontal |1−0|, |5−3| → mean 1.5
    assert L.tv_loss(img).item() == pytest.approx(5.0)
    assert L.tv_loss(torch.full((2, 3, 5, 5), 0.3)).item() == 0.0


def test_ms_ssim_loss_matches_pytorch_msssim():
    from pytorch_msssim import ms_ssim

    g = torch.Generator().manual_seed(0)
    base = F.interpolate(torch.rand(2, 3, 12, 12, generator=g), size=(192, 192), mode="bilinear",
                         align_corners=False) * 2 - 1
    noisy = (base + 0.2 * torch.randn(base.shape, generator=g)).clamp(-1, 1)
    expected = 1 - ms_ssim((noisy + 1) / 2, (base + 1) / 2, data_range=1.0, win_size=11)
    got = L.ms_ssim_loss(noisy, base)
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)
    assert 0.0 < got.item() < 1.0
    assert L.ms_ssim_loss(base, base).item() == pytest.approx(0.0, abs=1e-5)
    # small images: smaller window, same library
    small, small_n = base[..., :64, :64], noisy[..., :64, :64]
    exp_small = 1 - ms_ssim((small_n + 1) / 2, (small + 1) / 2, data_range=1.0, win_size=3)
    assert L.ms_ssim_loss(small_n, small).item() == pytest.approx(exp_small.item(), abs=1e-6)


def test_ms_ssim_window_sizes():
    assert L.ms_ssim_window(256) == 11
    assert L.ms_ssim_window(161) == 11
    assert L.ms_ssim_window(160) == 9
    assert L.ms_ssim_window(128) == 7
    assert L.ms_ssim_window(64) == 3
    with pytest.raises(ValueError):
        L.ms_ssim_window(32)


def test_identity_loss_hand_computed():
    embed = lambda x: x.flatten(1)[:, :2]  # noqa: E731
    a = torch.tensor([1.0, 0.0, 9.0]).view(1, 3, 1, 1)
    b = torch.tensor([2.0, 2.0, -4.0]).view(1, 3, 1, 1)
    assert L.identity_loss(a, b, embed).item() == pytest.approx(1 - 1 / math.sqrt(2))
    assert L.identity_loss(a, a, embed).item() == pytest.approx(0.0, abs=1e-7)
    assert L.identity_loss(a, -a, embed).item() == pytest.approx(2.0)


def test_style_code_loss_hand_computed():
    w_out = torch.tensor([[[3.0, 4.0], [7.0, 7.0], [1.0, 0.0]]])
    w_exe = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    # layer distances 5, √98, 1; φ = (1, 0, 1) → (5 + 1) / 2
    assert L.style_code_loss(w_out, w_exe, [1, 0, 1]).item() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        L.style_code_loss(w_out, w_exe, [0, 0, 0])


# ----------------------------------------------------------------------------- adversarial
def test_wgan_gp_linear_critic_hand_computed():
    critic = LinearCritic(W, b=0.5)
    d_real, d_fake = critic(REAL), critic(FAKE)
    # D(real) = [1, 2] + 0.5, D(fake) = [2, 3] + 0.5
    assert d_real.flatten().tolist() == pytest.approx([1.5, 2.5])
    assert d_fake.flatten().tolist() == pytest.approx([2.5, 3.5])
    assert L.wgan_d_loss(d_real, d_fake).item() == pytest.approx(3.0 - 2.0)
    assert L.wgan_g_loss(d_fake).item() == pytest.approx(-3.0)
    gp = L.gradient_penalty(critic, REAL, FAKE, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((3.0 - 1.0) ** 2)
    # λ·GP trains the critic: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖
    critic.zero_grad()
    gp.backward()
    assert torch.allclose(critic.lin.weight.grad.flatten(), 2 * 2 * W / 3, atol=1e-6)


def test_gradient_penalty_interpolates_per_sample():
    real = torch.tensor([[3.0, 4.0], [0.0, 2.0]]).view(2, 1, 1, 2)
    fake = torch.zeros_like(real)
    eps = torch.rand(2, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    # ∇(½‖x‖²) = x̂ = ε·real → ‖·‖ = ε_i·‖real_i‖ with ‖real‖ = (5, 2)
    norms = eps.flatten() * torch.tensor([5.0, 2.0])
    expected = ((norms - 1) ** 2).mean()
    got = L.gradient_penalty(quadratic_critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    again = L.gradient_penalty(quadratic_critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert got.item() == again.item()


def test_lsgan_hand_computed():
    d_real = torch.tensor([0.5, 1.5])
    d_fake = torch.tensor([0.2, -0.4])
    # LaFIn eq. 6: E[D(fake)²] + E[(D(real) − 1)²] = 0.1 + 0.25 ; G: E[(D(fake) − 1)²]
    assert L.lsgan_d_loss(d_real, d_fake).item() == pytest.approx(0.35)
    assert L.lsgan_g_loss(d_fake).item() == pytest.approx((0.64 + 1.96) / 2)


def test_logistic_and_r1_hand_computed():
    d_real, d_fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.0])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert L.logistic_d_loss(d_real, d_fake).item() == pytest.approx(
        (sp(-1.0) + sp(0.0)) / 2 + (sp(-2.0) + sp(0.0)) / 2)
    assert L.logistic_g_loss(d_fake).item() == pytest.approx((sp(1.0) + sp(0.0)) / 2)
    # the same as the probabilistic form of EXE-GAN eq. 4: −log σ(l_real) − log(1 − σ(l_fake))
    s = torch.sigmoid
    prob_form = -(torch.log(s(d_real)).mean() + torch.log(1 - s(d_fake)).mean())
    assert L.logistic_d_loss(d_real, d_fake).item() == pytest.approx(prob_form.item(), rel=1e-6)

    critic = LinearCritic(W)
    assert L.r1_penalty(critic, REAL).item() == pytest.approx(9.0)  # ‖w‖²
    assert L.r1_loss(critic, REAL, gamma=10.0, every=16).item() == pytest.approx(10 / 2 * 16 * 9)
    assert L.r1_loss(critic, REAL, gamma=10.0).item() == pytest.approx(45.0)
    # ∇(½‖x‖²) = x → E‖x‖² = (1 + 2) / 2
    assert L.r1_penalty(quadratic_critic, REAL).item() == pytest.approx(1.5)
    assert [L.r1_due(s, 16) for s in (0, 1, 15, 16, 32)] == [True, False, False, True, True]


def test_hinge_hand_computed():
    d_real, d_fake = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.3])
    assert L.hinge_d_loss(d_real, d_fake).item() == pytest.approx(0.25 + 0.65)
    assert L.hinge_g_loss(d_fake).item() == pytest.approx(0.85)


# ----------------------------------------------------------------------------- SVGL
def test_svgl_gradcheck_and_backward_is_grad_times_weight():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    ones = torch.ones(2, 1, 5, 5, dtype=torch.float64)
    # with a unit weight SVGL is the identity in both passes: gradcheck must pass
    assert torch.autograd.gradcheck(lambda t: L.svgl(t, ones), (x,))
    assert torch.autograd.gradgradcheck(lambda t: L.svgl(t, ones), (x,))
    # with a non-unit weight the backward is deliberately not the forward's derivative
    w = torch.rand(2, 1, 5, 5, generator=g, dtype=torch.float64)
    assert not torch.autograd.gradcheck(lambda t: L.svgl(t, w), (x,), raise_exception=False)
    y = L.svgl(x, w)
    assert torch.equal(y, x)
    upstream = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    (gx,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(gx, upstream * w)
    # through a loss: ∇_x loss(svgl(x, w)) = w ⊙ ∇_x loss(x)
    target = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    (g_plain,) = torch.autograd.grad((x - target).pow(2).sum(), x)
    (g_svgl,) = torch.autograd.grad((L.svgl(x, w) - target).pow(2).sum(), x)
    assert torch.allclose(g_svgl, w * g_plain)
    with pytest.raises(ValueError):
        L.svgl(x, torch.ones(2, 1, 6, 6, dtype=torch.float64))


# ----------------------------------------------------------------------------- confidence maps
def test_gaussian_kernel():
    k = L.gaussian_kernel1d(64, 40.0, dtype=torch.float64)
    assert k.sum().item() == pytest.approx(1.0)
    assert torch.allclose(k, k.flip(0))
    assert (k[0] / k[31]).item() == pytest.approx(math.exp(-(31.5 ** 2 - 0.5 ** 2) / (2 * 40 ** 2)))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_confidence_separable_equals_direct_2d_conv():
    g = torch.Generator().manual_seed(0)
    hole = (torch.rand(1, 1, 40, 48, generator=g) > 0.5).double()
    k1 = L.gaussian_kernel1d(16, 5.0, dtype=torch.float64)
    k2 = torch.outer(k1, k1).view(1, 1, 16, 16)
    known, mw = 1 - hole, torch.zeros_like(hole)
    for _ in range(3):
        mw = F.conv2d(known + mw, k2, padding="same") * hole
    got = L.confidence_weight_map(hole, iterations=3, kernel_size=16, sigma=5.0)
    assert torch.allclose(got, mw, atol=1e-12)


def test_confidence_hand_computed_box():
    # 3×3 box kernel (σ huge), one hole pixel in the middle of a 3×3 known patch... padded image
    hole = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    hole[0, 0, 2, 2] = 1
    mw = L.confidence_weight_map(hole, iterations=2, kernel_size=3, sigma=1e9)
    assert mw[0, 0, 2, 2].item() == pytest.approx((8 + 8 / 9) / 9)  # Mw¹ = 8/9, Mw² = (8 + Mw¹)/9
    assert mw.sum().item() == pytest.approx(mw[0, 0, 2, 2].item())


def test_confidence_maps_shape_range_and_border():
    hole = torch.zeros(2, 1, 256, 256)
    hole[:, :, 32:224, 32:224] = 1  # a large 192×192 hole
    mw = L.confidence_weight_map(hole)
    inside = hole.bool()
    assert (mw[~inside] == 0).all()
    assert (mw[inside] > 0).all() and (mw[inside] <= 1).all()
    border, centre = mw[0, 0, 128, 32], mw[0, 0, 128, 128]
    assert border > centre
    # decays monotonically toward the centre (the even 64-tap kernel shifts the map by half a
    # pixel per iteration, 3.5 px after 7, so stop short of the exact centre)
    row = mw[0, 0, 128, 32:121]
    assert (row[1:] <= row[:-1] + 1e-6).all()
    attr = L.attribute_weight_map(hole, mw)
    assert torch.allclose(attr[inside], 1 - mw[inside])
    assert (attr[~inside] == 0).all()
    assert attr[0, 0, 128, 128] > attr[0, 0, 128, 32]
    assert torch.allclose(L.attribute_weight_map(hole), attr)
