"""StyleGAN2 building blocks in pure PyTorch (Karras et al. 2020, "Analyzing and improving the
image quality of StyleGAN"), the layers EXE-GAN's networks are made of (:mod:`.networks`).

Why a module of its own: these blocks are generic StyleGAN2 (also used by the unconditional
generator that the style encoder is trained to invert), while :mod:`.networks` holds what is
EXE-GAN's (§ III-B); together they were well past one readable module.

No CUDA extension and no JIT build: the authors' code (LonglongaaaGo/EXE-GAN, ``op/``) and
rosinality/stylegan2-pytorch compile ``upfirdn2d`` and ``fused_bias_act`` kernels at import;
here both are written with ``F.pad``/``F.conv2d`` and run on CPU, CUDA and under DDP alike
(autograd differentiates them, twice where R1 and path-length regularisation need it).

Contents (each checked against an independent computation in ``tests/test_exegan_networks.py``):

* :func:`upfirdn2d` — upsample by zero insertion, pad, FIR filter, downsample;
  :class:`Blur`, :class:`Upsample`, :class:`Downsample` with StyleGAN2's ``[1, 3, 3, 1]`` kernel;
* :func:`bias_leaky_relu` / :class:`BiasLeakyReLU` — the "fused" bias + leaky ReLU(0.2) × √2;
* :class:`EqualLinear`, :class:`EqualConv2d` — equalised learning rate (ProGAN § 4.1): weights
  stored ~N(0, 1/lr_mul²), scaled at run time by ``lr_mul / √fan_in``;
* :func:`modulated_conv2d` / :class:`ModulatedConv2d` — StyleGAN2 eq. (1)–(3): modulation,
  demodulation, as one grouped convolution over the batch (with fused up/down-sampling);
* :class:`NoiseInjection`, :class:`StyledConv`, :class:`ToRGB` (skip architecture, fig. 7 of
  StyleGAN2), :class:`ConvLayer`, :class:`ResBlock` (residual D), :func:`minibatch_stddev`;
* :class:`PixelNorm`, :class:`MappingNetwork` (with the tracked mean w for truncation),
  :class:`SynthesisNetwork` (the modulated-conv decoder shared by both generators).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLUR_KERNEL = (1, 3, 3, 1)   # StyleGAN2's resampling filter (binomial, separable)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment ≈ 1 after leaky ReLU


# ============================================================================ resampling
def make_kernel(k: Sequence[float] | Tensor) -> Tensor:
    """A 2-D FIR kernel normalised to sum 1; a 1-D ``k`` becomes the separable ``k kᵀ``."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.dim() == 1:
        k = k[:, None] * k[None, :]
    return k / k.sum()


def _pair_pad(pad: Sequence[int]) -> tuple[int, int, int, int]:
    """``(p0, p1)`` for both axes, or ``(x0, x1, y0, y1)``."""
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return tuple(pad)  # type: ignore[return-value]
    raise ValueError(f"pad must have 2 or 4 entries, got {pad!r}")


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    """``v`` for both axes, or ``(x, y)``."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def upfirdn2d(x: Tensor, kernel: Tensor, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
              pad: Sequence[int] = (0, 0)) -> Tensor:
    """Upsample, FIR-filter, downsample each channel of ``x`` (N×C×H×W), as StyleGAN2's op.

    1. upsample: ``up − 1`` zeros after every sample (H → H·up, trailing zeros included);
    2. pad: ``pad`` zeros before/after (negative values crop), ``(p0, p1)`` or ``(x0, x1, y0, y1)``;
    3. FIR filter: a *convolution* (kernel flipped, as ``scipy.signal.upfirdn``) keeping only
       the positions where the kernel fits ("valid");
    4. downsample: every ``down``-th sample, starting with the first.

    Output side per axis: ``(H·up + p0 + p1 − k) // down + 1``. ``kernel`` is 2-D (kh×kw);
    ``up``/``down`` an int or ``(x, y)``. Differentiable to any order (plain autograd).
    """
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pair_pad(pad)
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, (0, upx - 1, 0, 0, 0, upy - 1))
        x = x.reshape(n, c, h * upy, w * upx)
    x = F.pad(x, (px0, px1, py0, py1))          # F.pad crops where a pad is negative
    # Depthwise: one filter per channel (groups = C). conv2d is a correlation: flip the kernel.
    weight = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device).reshape(1, 1, kh, kw).repeat(c, 1, 1, 1)
    x = F.conv2d(x, weight, groups=c)
    return x[:, :, ::downy, ::downx]


class Blur(nn.Module):
    """FIR low-pass filter with explicit padding (no rate change); ``gain`` scales the
    kernel (``up²`` after a zero-insertion upsampling keeps the mean brightness)."""

    def __init__(self, kernel: Sequence[float] = BLUR_KERNEL, pad: Sequence[int] = (0, 0), gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * gain, persistent=False)
        self.pad = tuple(pad)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×``factor`` upsampling: zero insertion + FIR (kernel × factor²), output exactly factor·H."""

    def __init__(self, kernel: Sequence[float] = BLUR_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2, persistent=False)
        p = len(kernel) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """÷``factor`` downsampling: FIR then keep every factor-th sample, output exactly H/factor."""

    def __init__(self, kernel: Sequence[float] = BLUR_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel), persistent=False)
        p = len(kernel) - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)


def _up_blur_pad(n_taps: int, kernel_size: int, factor: int = 2) -> tuple[int, int]:
    """Padding of the blur after a stride-``factor`` transposed conv so that the result is
    exactly factor·H (conv_transpose gives (H−1)·factor + k; the blur removes n_taps − 1 − Σpad)."""
    p = (n_taps - factor) - (kernel_size - 1)
    return (p + 1) // 2 + factor - 1, p // 2 + 1


def _down_blur_pad(n_taps: int, kernel_size: int, factor: int = 2) -> tuple[int, int]:
    """Padding of the blur before a stride-``factor`` conv (no padding) giving H/factor."""
    p = (n_taps - factor) + (kernel_size - 1)
    return (p + 1) // 2, p // 2


# ============================================================================ activation
def bias_leaky_relu(x: Tensor, bias: Tensor | None, negative_slope: float = LRELU_SLOPE,
                    gain: float = LRELU_GAIN) -> Tensor:
    """StyleGAN2's ``fused_bias_act``: ``gain · leaky_relu(x + bias)``, bias over dim 1."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.dim() - 2)))
    return F.leaky_relu(x, negative_slope) * gain


class BiasLeakyReLU(nn.Module):
    """Learned per-channel bias, then leaky ReLU(0.2) × √2 (rosinality's ``FusedLeakyReLU``)."""

    def __init__(self, channels: int, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return bias_leaky_relu(x, self.bias)


# ============================================================================ equalised lr
class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate (ProGAN § 4.1, StyleGAN's ``lrmul``).

    The stored weight is ~N(0, 1) / ``lr_mul``; the layer uses ``weight · lr_mul / √in`` and
    ``bias · lr_mul``. With Adam (scale-invariant steps) the effective step of the used weight is
    ∝ ``lr_mul`` — the mapping network's 0.01 (StyleGAN § 2 / app. C).
    ``activation="lrelu"``: bias + leaky ReLU × √2 (:func:`bias_leaky_relu`).
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        if activation not in (None, "lrelu"):
            raise ValueError(f"activation must be None or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation == "lrelu":
            return bias_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: ``weight / √(in·k²)`` at run time."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


# ============================================================================ modulated conv
def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True,
                     up: bool = False, down: bool = False, blur_kernel: Tensor | None = None,
                     eps: float = 1e-8) -> Tensor:
    """StyleGAN2 eq. (1)–(3) with per-sample weights, as one grouped convolution.

    ``x`` N×I×H×W, ``weight`` O×I×k×k (already equalised-lr scaled), ``styles`` N×I (the
    affine output s). Eq. (1): ``w'_{oik} = s_i · w_{oik}``; eq. (3), if ``demodulate``:
    ``w''_{oik} = w'_{oik} / √(Σ_{i,k} w'²_{oik} + ε)``. The batch is folded into the channels
    (``groups = N``) so every sample is convolved with its own weights.

    ``up``: stride-2 transposed conv then the ``blur_kernel`` FIR (× 4), output 2H×2W;
    ``down``: FIR then stride-2 conv, output H/2×W/2; otherwise "same" padding (odd k).
    """
    if up and down:
        raise ValueError("up and down are exclusive")
    n, cin, h, w = x.shape
    cout, _, k, _ = weight.shape
    wgt = weight.unsqueeze(0) * styles.view(n, 1, cin, 1, 1)                    # eq. (1)
    if demodulate:
        wgt = wgt * torch.rsqrt(wgt.pow(2).sum((2, 3, 4), keepdim=True) + eps)   # eq. (2)–(3)
    if up or down:
        if blur_kernel is None:
            raise ValueError("up/down-sampling needs a blur_kernel")
        taps = blur_kernel.shape[0]
    if up:
        # conv_transpose2d's grouped weight is (groups·in)×out×k×k.
        wt = wgt.transpose(1, 2).reshape(n * cin, cout, k, k)
        out = F.conv_transpose2d(x.reshape(1, n * cin, h, w), wt, stride=2, groups=n)
        out = out.view(n, cout, *out.shape[-2:])
        return upfirdn2d(out, blur_kernel * 4, pad=_up_blur_pad(taps, k))
    if down:
        x = upfirdn2d(x, blur_kernel, pad=_down_blur_pad(taps, k))
        h, w = x.shape[-2:]
        stride, padding = 2, 0
    else:
        stride, padding = 1, k // 2
    out = F.conv2d(x.reshape(1, n * cin, h, w), wgt.reshape(n * cout, cin, k, k),
                   stride=stride, padding=padding, groups=n)
    return out.view(n, cout, *out.shape[-2:])


class ModulatedConv2d(nn.Module):
    """Modulated convolution (StyleGAN2 § 2.2, fig. 2c): the affine ``A`` (an
    :class:`EqualLinear` ``style_dim → in_ch``, bias 1 so s ≈ 1 at init) turns the layer's style
    vector into per-input-channel scales s; then :func:`modulated_conv2d`.

    EXE-GAN eq. (2): ``v_i = A_i(c, ŵ_i)`` — the style vector fed here is ``concat(ŵ_i, c)`` and
    ``self.modulation`` is A_i (``style_dim`` = dim ŵ + dim c).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, *, demodulate: bool = True,
                 up: bool = False, down: bool = False, blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.demodulate, self.up, self.down = demodulate, up, down
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.register_buffer("blur_kernel", make_kernel(blur_kernel), persistent=False)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        s = self.modulation(style)
        return modulated_conv2d(x, self.weight * self.scale, s, demodulate=self.demodulate,
                                up=self.up, down=self.down, blur_kernel=self.blur_kernel)

    def extra_repr(self) -> str:
        return (f"{self.in_ch}, {self.out_ch}, {self.kernel_size}, demodulate={self.demodulate}, "
                f"up={self.up}, down={self.down}")


class NoiseInjection(nn.Module):
    """Per-pixel noise (StyleGAN § 3.2, B in fig. 1): ``x + strength · noise``, one learned
    scalar strength (0 at init, as StyleGAN2), noise N×1×H×W broadcast over channels."""

    def __init__(self):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        return x if noise is None else x + self.strength * noise


class StyledConv(nn.Module):
    """One style layer of the synthesis network: modulated 3×3 conv → noise → bias + lrelu."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, *, up: bool = False,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, demodulate: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, demodulate=demodulate, up=up,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.act = BiasLeakyReLU(out_ch)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.act(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """Skip-architecture output (StyleGAN2 fig. 7b): modulated 1×1 conv to RGB without
    demodulation, + bias, + the previous resolution's RGB upsampled (FIR)."""

    def __init__(self, in_ch: int, style_dim: int, *, upsample: bool = True,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, out_ch: int = 3):
        super().__init__()
        self.upsample = Upsample(blur_kernel) if upsample else None
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            if self.upsample is None:
                raise ValueError("this ToRGB has no upsampling for a skip input")
            out = out + self.upsample(skip)
        return out


# ============================================================================ plain convs, D
class ConvLayer(nn.Sequential):
    """Equalised-lr conv (+ FIR-blurred stride-2 downsampling) (+ bias + lrelu × √2):
    the encoder's and discriminator's layer (StyleGAN2 config-e/f D)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, downsample: bool = False,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            layers.append(Blur(blur_kernel, pad=_down_blur_pad(len(blur_kernel), kernel_size)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        # With an activation the bias lives in BiasLeakyReLU (added before the nonlinearity).
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(BiasLeakyReLU(out_ch, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual D block (StyleGAN2 fig. 7c): two 3×3 convs (the second downsamples) plus a
    1×1 downsampling skip, summed and scaled by 1/√2."""

    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel,
                              activate=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def _group_size(n: int, group_size: int) -> int:
    """The largest divisor of the batch ``n`` that is ≤ ``group_size``.

    StyleGAN2 requires ``n % min(group_size, n) == 0``; a divisor keeps every batch size legal
    (a batch of 6 uses groups of 3, where the official code would fail)."""
    g = min(group_size, n)
    while n % g:
        g -= 1
    return g


def minibatch_stddev(x: Tensor, group_size: int = 4, n_features: int = 1, eps: float = 1e-8) -> Tensor:
    """Minibatch standard deviation (ProGAN § 3, StyleGAN2 D): append ``n_features`` channels.

    Samples are grouped as the official code does (``reshape(G, −1, …)``: sample n is in group
    ``n mod (N/G)``); within a group, per feature-split f: the std over the group's samples of
    every (channel, pixel), averaged over channels and pixels, broadcast to the group's maps.
    """
    n, c, h, w = x.shape
    g = _group_size(n, group_size)
    y = x.reshape(g, n // g, n_features, c // n_features, h, w)
    y = torch.sqrt(y.var(0, unbiased=False) + eps)            # (N/G)×F×(C/F)×H×W
    y = y.mean((2, 3, 4))                                       # (N/G)×F
    y = y.view(1, n // g, n_features, 1, 1).expand(g, -1, -1, h, w).reshape(n, n_features, h, w)
    return torch.cat([x, y], 1)


# ============================================================================ mapping
class PixelNorm(nn.Module):
    """``z / √(mean(z²) + 1e-8)`` over the feature dimension (StyleGAN's input normalisation)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class MappingNetwork(nn.Module):
    """The mapping network f (StyleGAN § 2; EXE-GAN § III-A-1): PixelNorm + ``n_layers`` FC
    layers (equalised lr, ``lr_mul`` 0.01, leaky ReLU), ``z ∈ R^z_dim → w ∈ R^w_dim``.

    ``w_avg`` tracks the mean w for the truncation trick as the official StyleGAN2 does
    (``dlatent_avg``, EMA with β = ``w_avg_beta`` = 0.995 over training batches): updated in
    :meth:`forward` while the module is in training mode, untouched in eval mode.
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, n_layers: int = 8, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        layers: list[nn.Module] = [PixelNorm()]
        for i in range(n_layers):
            layers.append(EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activation="lrelu"))
        self.net = nn.Sequential(*layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor) -> Tensor:
        w = self.net(z)
        if self.training and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(w.detach().mean(0).to(self.w_avg.dtype), self.w_avg, self.w_avg_beta))
        return w

    @torch.no_grad()
    def sampled_mean(self, n: int = 4096, generator: torch.Generator | None = None) -> Tensor:
        """The mean of f(z) over ``n`` draws z ~ N(0, I) (rosinality's ``mean_latent``): an
        alternative to the tracked ``w_avg``, e.g. for a network trained without tracking."""
        ref = self.w_avg
        z = torch.randn(n, self.z_dim, generator=generator, device=ref.device, dtype=ref.dtype)
        return self.net(z).mean(0)

    def truncate(self, w: Tensor, psi: float) -> Tensor:
        """The truncation trick (StyleGAN § 3.2 / app. B): ``w̄ + ψ (w − w̄)``, w̄ = ``w_avg``."""
        if psi == 1:
            return w
        return torch.lerp(self.w_avg.to(w.dtype), w, psi)


# ============================================================================ synthesis
def channel_table(size: int, channel_base: int = 32768, channel_max: int = 512) -> dict[int, int]:
    """Feature maps per resolution 4 … size: ``min(channel_base // res, channel_max)``.

    ``channel_base`` 32768, ``channel_max`` 512 is StyleGAN2 config-f (channel_multiplier 2),
    the EXE-GAN code's: 512 up to 64 px, then 256 at 128 px, 128 at 256 px."""
    log = _log2_size(size)
    return {2 ** i: max(1, min(channel_base // 2 ** i, channel_max)) for i in range(2, log + 1)}


def _log2_size(size: int) -> int:
    log = int(round(math.log2(size)))
    if 2 ** log != size or log < 3:
        raise ValueError(f"size must be a power of two ≥ 8, got {size}")
    return log


def n_style_layers(size: int) -> int:
    """Style vectors of a skip-architecture synthesis net: 2·log₂(size) − 2 (14 at 256 px)."""
    return 2 * _log2_size(size) - 2


def n_noise_layers(size: int) -> int:
    """Noise inputs: one per styled conv, 2·log₂(size) − 3 (13 at 256 px)."""
    return 2 * _log2_size(size) - 3


class SynthesisNetwork(nn.Module):
    """StyleGAN2's skip-architecture synthesis network from a given 4×4 feature map.

    Layer ↔ style index (rosinality / the EXE-GAN code, 0-based, L = :func:`n_style_layers`):
    the 4×4 conv uses style 0 and its ToRGB style 1; at each resolution 2^r (r = 3 … log₂ size)
    the upsampling conv uses style 2r−5, the second conv 2r−4 and the ToRGB 2r−3 (so a ToRGB
    shares its vector with the next resolution's first conv). Noise j goes to styled conv j.

    ``style_dim`` is the width of each per-layer style vector (EXE-GAN: dim ŵ_i + dim c).
    ``skips``: optional features per resolution added after the upsampling conv of that
    resolution (EXE-GAN's encoder features, fig. 2). Output: the summed ToRGB image (no tanh).
    """

    def __init__(self, size: int, style_dim: int, channels: dict[int, int],
                 blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.log_size = _log2_size(size)
        self.n_styles, self.n_noise = n_style_layers(size), n_noise_layers(size)
        self.conv1 = StyledConv(channels[4], channels[4], style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = channels[4]
        for r in range(3, self.log_size + 1):
            out_ch = channels[2 ** r]
            self.convs.append(StyledConv(in_ch, out_ch, style_dim, up=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel))
            in_ch = out_ch
        # Fixed noise maps for noise_mode="const" (StyleGAN2's ``randomize_noise=False``).
        for j, res in enumerate(self.noise_resolutions()):
            self.register_buffer(f"noise_const_{j}", torch.randn(1, 1, res, res))

    def noise_resolutions(self) -> list[int]:
        """Side of noise map j: 4, then each resolution twice."""
        return [4] + [2 ** r for r in range(3, self.log_size + 1) for _ in range(2)]

    def make_noise(self, batch: int, *, mode: str = "random", generator: torch.Generator | None = None,
                   device=None, dtype=None) -> list[Tensor | None]:
        """Noise inputs: ``random`` (fresh N(0, 1), from ``generator`` if given), ``const``
        (the fixed buffers, same for every sample and call) or ``none`` (no noise)."""
        if mode == "none":
            return [None] * self.n_noise
        if mode == "const":
            return [getattr(self, f"noise_const_{j}") for j in range(self.n_noise)]
        if mode != "random":
            raise ValueError(f"noise mode must be 'random', 'const' or 'none', got {mode!r}")
        ref = self.noise_const_0
        device, dtype = device or ref.device, dtype or ref.dtype
        return [torch.randn(batch, 1, r, r, generator=generator, device=device, dtype=dtype)
                for r in self.noise_resolutions()]

    def forward(self, x4: Tensor, styles: Tensor, *, skips: dict[int, Tensor] | None = None,
                noise: Sequence[Tensor | None] | None = None, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> Tensor:
        """``x4`` N×C₄×4×4, ``styles`` N×L×style_dim; ``noise`` overrides ``noise_mode``."""
        if styles.dim() != 3 or styles.shape[1] != self.n_styles:
            raise ValueError(f"styles must be N×{self.n_styles}×{self.style_dim}, got {tuple(styles.shape)}")
        if noise is None:
            noise = self.make_noise(x4.shape[0], mode=noise_mode, generator=generator,
                                    device=x4.device, dtype=x4.dtype)
        if len(noise) != self.n_noise:
            raise ValueError(f"expected {self.n_noise} noise inputs, got {len(noise)}")
        out = self.conv1(x4, styles[:, 0], noise[0])
        skip = self.to_rgb1(out, styles[:, 1])
        i = 1
        for k, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * k](out, styles[:, i], noise[2 * k + 1])
            if skips is not None and out.shape[-1] in skips:
                out = out + skips[out.shape[-1]]
            out = self.convs[2 * k + 1](out, styles[:, i + 1], noise[2 * k + 2])
            skip = to_rgb(out, styles[:, i + 2], skip)
            i += 2
        return skip
