"""LaFIn's networks (Yang et al., appendix A, tables 6–8): landmark predictor, inpainting
generator, discriminator, and the short+long-term attention block.

Paper: ``shared/papers/lafin_landmark_guided.md``. Where the tables are silent the authors'
code (YaN9-Y/lafin, ``src/networks.py``) decides, and the docstrings say so.

Conventions here (DESIGN.md): images in ``[-1, 1]``; ``hole`` ``N×1×H×W``, **1 = missing**
(the authors' ``mask`` has the same polarity); the landmark channel is
:func:`faceinpaint.landmarks.landmark_map` (68 single pixels set to 1).

* :class:`LandmarkPredictor` — table 6: MobileNet-V2 trunk, three pooled taps S1, S2, S3
  concatenated → FC → 136 numbers = 68 (x, y) in units of the image side.
* :class:`InpaintGenerator` — table 8: conv7 → two stride-2 convs (IN + ReLU), dilated
  residual blocks, :class:`ShortLongTermAttention` at 1/4 resolution, a decoder whose skips
  are gated by the known region and fused by 1×1 convs.
* :class:`Discriminator` — table 7: five spectral-norm convs (PatchGAN), a self-attention
  block after the second, sigmoid.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ...landmarks import landmark_map

if TYPE_CHECKING:  # the builders read a config; the config reads this module's constants
    from .config import LaFInConfig

# Table 6: (expansion t, channels c, repeats n, first stride s) of the bottleneck sequences.
MOBILENET_V2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
PAPER_G_CHANNELS = (64, 128, 256)           # table 8: E1, E2, E3
PAPER_D_CHANNELS = (64, 128, 256, 512)      # table 7: the four LReLU convs
PAPER_RES_BLOCKS = 7                        # table 8 and § 2.2
N_LANDMARKS = 68


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """The authors' ``init_weights('normal', 0.02)`` (from pix2pix): conv / linear weights
    ~ N(0, 0.02²), biases 0. Applied before spectral normalisation wraps a weight."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def hole_at(hole: Tensor, size: tuple[int, int]) -> Tensor:
    """The hole mask at a feature resolution. Paper silent; the authors' code resizes the
    mask bilinearly with ``align_corners=True`` (a soft mask at the hole border); so do we."""
    if hole.shape[-2:] == size:
        return hole
    return F.interpolate(hole, size=size, mode="bilinear", align_corners=True)


# ============================================================================ attention
class PreActResBlock(nn.Module):
    """PIC's ``ResBlock`` (Zheng et al., used inside LaFIn's attention block): pre-activation,
    LeakyReLU(0.01) → conv3×3 → LeakyReLU → conv3×3, plus a 1×1 shortcut; no normalisation;
    spectral norm on every conv (``use_spect=True`` in the authors' code)."""

    def __init__(self, cin: int, cout: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or cout
        self.conv1 = nn.Conv2d(cin, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def apply_spectral_norm(self) -> "PreActResBlock":
        for name in ("conv1", "conv2", "shortcut"):
            setattr(self, name, spectral_norm(getattr(self, name)))
        return self

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.01)), 0.01))
        return h + self.shortcut(x)


class ShortLongTermAttention(nn.Module):
    """Short+long-term attention (LaFIn § 2.2, table 8, after Zheng et al.'s PIC [37]).

    Short term (self-attention, SAGAN-style with one shared projection q = k = W_q x):
    ``A = softmax_j(q_iᵀ q_j)``, ``y_i = γ · Σ_j A_ij x_j + x_i``, γ learned, **0 at start**.
    Long term (when encoder features ``e`` of the same resolution are given): the same
    attention moves encoder features into the hole,
    ``c = α · hole ⊙ (Σ_j A_ij e_j) + (1 − hole) ⊙ e`` (α learned, **0 at start**), and a
    spectral-norm residual block fuses ``[y, c]`` (2C → C channels).

    With γ = α = 0 the attention contributes nothing: the block is the identity without
    ``e``, and with ``e`` it fuses ``x`` with the known-region encoder features only.
    ``forward`` returns ``(out, A)``, ``A`` of shape ``N×HW×HW`` (row i: where pixel i looks).
    """

    def __init__(self, channels: int, long_term: bool = True):
        super().__init__()
        self.query = nn.Conv2d(channels, max(1, channels // 4), 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.long_term = long_term
        if long_term:
            self.alpha = nn.Parameter(torch.zeros(1))
            self.fuse = PreActResBlock(2 * channels, channels, channels)

    def forward(self, x: Tensor, encoder: Tensor | None = None, hole: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2)                                   # N×C'×HW
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), q), dim=-1)  # N×HW×HW, rows sum to 1
        out = self.gamma * torch.bmm(x.flatten(2), attn.transpose(1, 2)).view(n, c, h, w) + x
        if encoder is None or not self.long_term:
            return out, attn
        if hole is None:
            raise ValueError("the long-term attention needs the hole mask")
        m = hole_at(hole, (h, w))
        flow = torch.bmm(encoder.flatten(2), attn.transpose(1, 2)).view_as(encoder)
        context = self.alpha * m * flow + (1 - m) * encoder
        return self.fuse(torch.cat([out, context], dim=1)), attn


# ============================================================================ landmark predictor (table 6)
class InvertedResidual(nn.Module):
    """MobileNet-V2 bottleneck (Sandler et al.): 1×1 expand (×t) → 3×3 depthwise (stride s)
    → 1×1 linear projection, BN after each conv, ReLU6 after the first two; residual when
    the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = round(cin * expand)
        self.residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True), nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class LandmarkPredictor(nn.Module):
    """G_L of LaFIn § 2.1 / table 6: MobileNet-V2 features, then three taps

    * S1 = avgpool(conv1×1₁₂₈(C1)), C1 = the 320-channel output of the last bottleneck;
    * S2 = avgpool(conv1×1₁₂₈(C2)), C2 = conv1×1₁₂₈₀(C1) (+BN+ReLU6);
    * S3 = PReLU(conv1×1₆₄(avgpool(C2)));

    concatenated (128 + 128 + 64 = 320) → fully connected → 136 = 68 × (x, y).

    Input: the masked face with holes filled with white (+1 here; 1 in the authors' [0, 1]),
    see :func:`faceinpaint.methods.lafin.masked_input`. Output: ``N×68×2`` landmarks in units
    of the image side (the authors' code multiplies by ``INPUT_SIZE`` to get pixels; the
    caller does: ``pixels = predictor(x) · S``), so one net serves any square input size.
    The pooling is global (table 6's ``avgpool 8×8`` at 256 px), so 128 px works too.
    ``width`` scales every bottleneck width (MobileNet-V2's width multiplier); ``last``
    is C2's width (1280 in table 6).
    """

    def __init__(self, width: float = 1.0, last: int = 1280, n_points: int = N_LANDMARKS):
        super().__init__()
        self.n_points = n_points
        cin = _round8(32 * width)
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin),
                                                 nn.ReLU6(inplace=True))]
        for t, c, n, s in MOBILENET_V2_SETTING:
            cout = _round8(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.last_block = nn.Sequential(nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last),
                                        nn.ReLU6(inplace=True))
        self.tap1 = nn.Conv2d(cin, 128, 1)     # S1, on C1
        self.tap2 = nn.Conv2d(last, 128, 1)    # S2, on C2
        self.tap3 = nn.Conv2d(last, 64, 1)     # S3, on pooled C2
        self.prelu = nn.PReLU()
        self.fc = nn.Linear(128 + 128 + 64, 2 * n_points)
        self._init()

    def _init(self) -> None:
        # the authors' (torchvision-MobileNet-V2-era) initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        c1 = self.features(x)
        s1 = self.tap1(c1).mean((2, 3))
        c2 = self.last_block(c1)
        s2 = self.tap2(c2).mean((2, 3))
        s3 = self.prelu(self.tap3(c2.mean((2, 3), keepdim=True)).flatten(1))
        return self.fc(torch.cat([s1, s2, s3], dim=1)).view(-1, self.n_points, 2)


def _round8(c: float) -> int:
    """Channel counts at a width multiplier: at least 8 (paper widths are unchanged at 1.0)."""
    return max(8, int(c))


# ============================================================================ inpainting generator (table 8)
def _conv_in_relu(cin: int, cout: int, k: int, s: int, p: int, *, transpose: bool = False,
                  reflect: bool = False) -> nn.Sequential:
    conv_cls = nn.ConvTranspose2d if transpose else nn.Conv2d
    layers: list[nn.Module] = [nn.ReflectionPad2d(p)] if reflect else []
    layers += [conv_cls(cin, cout, k, s, 0 if reflect else p), nn.InstanceNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DilatedResidualBlock(nn.Module):
    """Table 8's "Dilated Residual Block" (EdgeConnect's, which the authors' code reuses):
    reflect-pad → conv3×3 (dilation 2) → IN → ReLU → reflect-pad → conv3×3 → IN, plus x."""

    def __init__(self, channels: int, dilation: int = 2):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(dilation), nn.Conv2d(channels, channels, 3, dilation=dilation),
            nn.InstanceNorm2d(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class InpaintGenerator(nn.Module):
    """G_P of LaFIn § 2.2 / table 8, for ``N×4×H×W`` input = masked face (holes white) +
    the landmark channel; the hole mask is not an input channel but gates the skips and
    the long-term attention.

    ``E1 = conv7(x)``, ``E2 = conv4/2(E1)``, ``E3 = conv4/2(E2)`` (IN + ReLU; reflection
    padding on the first conv); ``R7 = res⁷(E3)`` (dilation 2); ``A = LSTA(R7, E3, hole)``;
    ``D1 = deconv(A)``; ``F1 = conv1×1([E2 ⊙ known, D1])``; ``D2 = deconv(F1)``;
    ``F2 = conv1×1([E1 ⊙ known, D2])``; ``out = tanh(conv7(F2))``.

    Output: the paper's ``(tanh + 1)/2`` is an image in ``[0, 1]``; in our ``[-1, 1]``
    convention that is exactly ``tanh``. Deviation: table 8 lists "Conv-IN-tanh" for the last
    layer; an instance norm there would force every output channel to zero mean and unit
    spread per image (no colour could survive), and the authors' code has none: we follow
    the code. The skip order in the concatenations (encoder first) follows the code.
    ``use_attention=False`` is table 3's "w/o LSTA" ablation (the block is left out).
    """

    def __init__(self, channels: Sequence[int] = PAPER_G_CHANNELS, res_blocks: int = PAPER_RES_BLOCKS,
                 use_attention: bool = True, in_channels: int = 4):
        super().__init__()
        c1, c2, c3 = channels
        self.channels = tuple(channels)
        self.enc1 = _conv_in_relu(in_channels, c1, 7, 1, 3, reflect=True)
        self.enc2 = _conv_in_relu(c1, c2, 4, 2, 1)
        self.enc3 = _conv_in_relu(c2, c3, 4, 2, 1)
        self.middle = nn.Sequential(*[DilatedResidualBlock(c3, 2) for _ in range(res_blocks)])
        self.attention = ShortLongTermAttention(c3) if use_attention else None
        self.dec1 = _conv_in_relu(c3, c2, 4, 2, 1, transpose=True)
        self.fuse1 = _conv_in_relu(2 * c2, c3, 1, 1, 0)
        self.dec2 = _conv_in_relu(c3, c1, 4, 2, 1, transpose=True)
        self.fuse2 = _conv_in_relu(2 * c1, 2 * c1, 1, 1, 0)
        self.out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(2 * c1, 3, 7))
        init_normal(self)
        if self.attention is not None:  # PIC's fusion block is spectral-normalised (authors' code)
            self.attention.fuse.apply_spectral_norm()

    @property
    def use_attention(self) -> bool:
        return self.attention is not None

    def forward(self, x: Tensor, hole: Tensor) -> tuple[Tensor, Tensor | None]:
        """``x``: ``N×4×H×W`` (H, W divisible by 4); returns ``(image in [-1, 1], attention or None)``."""
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"the generator needs sides divisible by 4, got {tuple(x.shape[-2:])}")
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        r = self.middle(e3)
        attn = None
        if self.attention is not None:
            r, attn = self.attention(r, e3, hole)
        d1 = self.dec1(r)
        f1 = self.fuse1(torch.cat([e2 * (1 - hole_at(hole, e2.shape[-2:])), d1], dim=1))
        d2 = self.dec2(f1)
        f2 = self.fuse2(torch.cat([e1 * (1 - hole), d2], dim=1))
        return torch.tanh(self.out(f2)), attn


# ============================================================================ discriminator (table 7)
class Discriminator(nn.Module):
    """D of LaFIn § 2.2 / table 7 on ``[image, landmark channel]`` (``N×4×H×W``):
    five 4×4 spectral-norm convs (strides 2, 2, 2, 1, 1; LeakyReLU 0.2; no bias, as in the
    authors' code), a self-attention block (:class:`ShortLongTermAttention` without the
    long-term branch) after the second conv, and a sigmoid: a 70×70 PatchGAN map
    (``30×30`` at 256 px). Returns the map ``N×1×h×w`` in ``(0, 1)``.

    Table 7 draws the attention at 128² but its output rows read 64²: after the second
    conv (the code's placement) it is at H/4.
    """

    def __init__(self, channels: Sequence[int] = PAPER_D_CHANNELS, in_channels: int = 4, use_sigmoid: bool = True):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.use_sigmoid = use_sigmoid
        self.conv1 = nn.Conv2d(in_channels, c1, 4, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(c1, c2, 4, 2, 1, bias=False)
        self.attention = ShortLongTermAttention(c2, long_term=False)
        self.conv3 = nn.Conv2d(c2, c3, 4, 2, 1, bias=False)
        self.conv4 = nn.Conv2d(c3, c4, 4, 1, 1, bias=False)
        self.conv5 = nn.Conv2d(c4, 1, 4, 1, 1, bias=False)
        init_normal(self)
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
            setattr(self, name, spectral_norm(getattr(self, name)))

    def convs(self) -> list[nn.Conv2d]:
        return [self.conv1, self.conv2, self.conv3, self.conv4, self.conv5]

    def forward(self, x: Tensor) -> Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h, _ = self.attention(h)
        h = F.leaky_relu(self.conv3(h), 0.2)
        h = F.leaky_relu(self.conv4(h), 0.2)
        h = self.conv5(h)
        return torch.sigmoid(h) if self.use_sigmoid else h


__all__ = [
    "MOBILENET_V2_SETTING", "PAPER_G_CHANNELS", "PAPER_D_CHANNELS", "PAPER_RES_BLOCKS",
    "init_normal", "hole_at", "PreActResBlock", "ShortLongTermAttention", "InvertedResidual",
    "LandmarkPredictor", "DilatedResidualBlock", "InpaintGenerator", "Discriminator",
]


# ---------------------------------------------------------------------------- the networks' inputs
def masked_input(image: Tensor, hole: Tensor) -> Tensor:
    """``I^M``: the face with holes filled with white (``image ⊙ known + hole``; the authors'
    ``images * (1 − masks) + masks`` in ``[0, 1]``, where 1 is white, as +1 is here)."""
    return image * (1 - hole) + hole


def landmark_channel(landmarks: Tensor | None, size: int, n: int, device, use_landmarks: bool = True) -> Tensor:
    """The generator's / discriminator's 4th channel: :func:`~faceinpaint.landmarks.landmark_map`
    of ``N×68×2`` landmarks (pixels of a ``size`` image), or zeros ("w/o LMK" ablation)."""
    if not use_landmarks or landmarks is None:
        return torch.zeros(n, 1, size, size, device=device)
    return landmark_map(landmarks.detach().float(), size).to(device)


# ---------------------------------------------------------------------------- from a config
def build_predictor(cfg: LaFInConfig) -> LandmarkPredictor:
    return LandmarkPredictor(cfg.lmk_width, cfg.lmk_last)


def build_generator(cfg: LaFInConfig) -> InpaintGenerator:
    return InpaintGenerator(cfg.g_channels, cfg.res_blocks, use_attention=cfg.use_attention)


def build_discriminator(cfg: LaFInConfig) -> Discriminator:
    return Discriminator(cfg.d_channels)
