"""refattr's four networks (§ 3.1, fig. 1): the LBAM generator G, the critic D, the attribute
extractor Ext and the auxiliary extractor AE.

Polarity. The paper (eq. 1) and LBAM write ``M`` = 1 on **known** pixels; this library's
``hole`` is 1 on missing ones. The networks here take ``known = 1 − hole`` and say ``known``
wherever the paper says ``M``.

G — Learnable Bidirectional Attention Maps (Xie et al., ICCV 2019; code Vious/LBAM_Pytorch):

* encoder: ``n`` stride-2 4×4 *forward attention* layers (``n = log2(size) − 1``: 7 at 256 px,
  bottleneck 2×2×512). Layer i convolves the features, ``F_i = W_i ∗ X_{i−1}``, and the mask,
  ``M^c_i = W^m_i ∗ M_{i−1}``; its output is ``F_i ⊙ g_A(M^c_i)`` (the forward attention map),
  then BatchNorm (not on the first layer) and LeakyReLU 0.2; the mask is updated as
  ``M_i = ReLU(M^c_i)^0.8`` (:class:`MaskUpdate`). The raw ``F_i`` is the skip connection.
* reverse attention path: ``n − 1`` stride-2 mask convolutions on ``1 − M`` with their own
  ``g_A`` maps and the same update.
* decoder: ``n − 1`` *reverse attention* layers — a 4×4 stride-2 transposed conv of the
  previous decoder features, concatenated with the encoder skip ``F_i`` and multiplied by
  ``concat(forward map_i, reverse map_i)``, BatchNorm, LeakyReLU 0.2 — then a last transposed
  conv to RGB and tanh (LBAM: ``|tanh|`` for ``[0, 1]`` images; ours are in ``[-1, 1]``).
* refattr: the attributes ``A`` (``N×K``) are tiled over the bottleneck and concatenated to it
  before the first decoder layer (authors' ``dec``: ``label_tile``). The encoder runs once and
  two decodes share it (eq. 2–3): :meth:`LBAMGenerator.encode` / :meth:`LBAMGenerator.decode`.

Input (eq. 1 and § 3.1): ``I_in = [I_masked, M]`` with ``I_masked = I_gt ⊙ M`` — 4 channels;
the mask convolutions see the 1-channel ``M``. (LBAM feeds its mask convs a 3-channel copy of
the mask, which is the same function with the three weight slices summed; the authors' RGINP
drops the mask channel from the image input — we follow the paper's ``I_in = [I_masked, M]``.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

# LBAM's clamps of g_A's parameters (models/ActivationFunction.py): a ∈ [1.01, 6],
# μ ∈ [0.1, 3], σ₁, σ₂ ∈ [0.5, 2].
A_RANGE = (1.01, 6.0)
MU_RANGE = (0.1, 3.0)
SIGMA_RANGE = (0.5, 2.0)
# LBAM's initial values (a, μ, σ₁, σ₂): forward maps (1.1, 2.0, 1.0, 1.0), reverse (1.1, 1.0, 0.5, 0.5).
FORWARD_INIT = (1.1, 2.0, 1.0, 1.0)
REVERSE_INIT = (1.1, 1.0, 0.5, 0.5)
MASK_EXPONENT = 0.8        # LBAM: M' = ReLU(M^c)^α with α = 0.8
LEAKY_SLOPE = 0.2

# Paper widths (LBAM's encoder 64-128-256-512-512-512-512; the authors' critic and AE 64 … 512).
PAPER_G_WIDTH, PAPER_MAX_WIDTH = 64, 512
PAPER_EXT_WIDTH = 64        # VGG-16 conv widths 64-128-256-512-512
PAPER_EXT_FC = (4096, 4096, 1000, 512, 256)  # authors: torchvision VGG16 classifier, then 1000-512-256-K


def stage_count(size: int, bottleneck: int = 2) -> int:
    """Stride-2 stages from ``size`` down to ``bottleneck`` px (7 at 256 → 2×2, as LBAM)."""
    n = math.log2(size / bottleneck)
    if size < 2 * bottleneck or n != int(n):
        raise ValueError(f"image size {size} must be {bottleneck}·2^k with k ≥ 1")
    return int(n)


def widths(base: int, n: int, max_width: int) -> list[int]:
    """``min(base·2^i, max_width)`` for i = 0 … n−1 (LBAM: 64, 128, 256, 512, 512, …)."""
    return [min(base * 2 ** i, max_width) for i in range(n)]


def _init_normal(m: nn.Module, std: float = 0.02) -> None:
    # LBAM's weights_init('gaussian'): N(0, 0.02) for every conv
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, std)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# ============================================================================ LBAM layers
class GaussActivation(nn.Module):
    """LBAM's asymmetric Gaussian ``g_A`` (LBAM eq. 4) with learnable ``a, μ, σ₁, σ₂``::

        g_A(x) = a · exp(−σ₁ (x − μ)²)              if x < μ
               = 1 + (a − 1) · exp(−σ₂ (x − μ)²)    if x ≥ μ

    The parameters are clamped to :data:`A_RANGE`, :data:`MU_RANGE`, :data:`SIGMA_RANGE`
    where they are used (so every forward pass sees values in range) and projected back
    into range after each optimiser step by :meth:`project_` (LBAM clamps ``.data`` at the
    start of each forward — the same projected gradient descent, without writing to a
    parameter inside a forward pass, which the EMA copy and DDP's broadcasts would not see).
    """

    def __init__(self, a: float, mu: float, sigma1: float, sigma2: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(float(a)))
        self.mu = nn.Parameter(torch.tensor(float(mu)))
        self.sigma1 = nn.Parameter(torch.tensor(float(sigma1)))
        self.sigma2 = nn.Parameter(torch.tensor(float(sigma2)))

    def params(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return (self.a.clamp(*A_RANGE), self.mu.clamp(*MU_RANGE),
                self.sigma1.clamp(*SIGMA_RANGE), self.sigma2.clamp(*SIGMA_RANGE))

    def forward(self, x: Tensor) -> Tensor:
        a, mu, s1, s2 = self.params()
        d2 = (x - mu) ** 2
        left = a * torch.exp(-s1 * d2)
        right = 1 + (a - 1) * torch.exp(-s2 * d2)
        return torch.where(x < mu, left, right)

    @torch.no_grad()
    def project_(self) -> None:
        self.a.clamp_(*A_RANGE)
        self.mu.clamp_(*MU_RANGE)
        self.sigma1.clamp_(*SIGMA_RANGE)
        self.sigma2.clamp_(*SIGMA_RANGE)


def mask_update(mask_features: Tensor, alpha: float = MASK_EXPONENT) -> Tensor:
    """LBAM eq. 5, the updated mask ``M' = ReLU(M^c)^α``, α = 0.8."""
    return F.relu(mask_features).pow(alpha)


class ForwardAttention(nn.Module):
    """One encoder layer (LBAM § 3.2, fig. 3): ``F = W ∗ X``, ``M^c = W_m ∗ M``;
    returns ``(LReLU(BN(F ⊙ g_A(M^c))), M' = ReLU(M^c)^0.8, F (skip), g_A(M^c) (map))``.
    Convolutions 4×4, stride 2, no bias (LBAM's ``convBias=False``)."""

    def __init__(self, cin: int, cout: int, mask_cin: int, bn: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=False)
        self.mask_conv = nn.Conv2d(mask_cin, cout, 4, 2, 1, bias=False)
        self.g_a = GaussActivation(*FORWARD_INIT)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.apply(_init_normal)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        feats = self.conv(x)
        mask_feats = self.mask_conv(mask)
        attention = self.g_a(mask_feats)
        out = feats * attention
        if self.bn is not None:
            out = self.bn(out)
        return F.leaky_relu(out, LEAKY_SLOPE), mask_update(mask_feats), feats, attention


class ReverseMaskConv(nn.Module):
    """The reverse attention path (LBAM § 3.3): ``M^c_r = W_r ∗ M_r`` on ``M_r`` (starting
    from ``1 − M``); returns ``(g_A(M^c_r) (reverse map), ReLU(M^c_r)^0.8)``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=False)
        self.g_a = GaussActivation(*REVERSE_INIT)
        self.apply(_init_normal)

    def forward(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        mf = self.conv(mask)
        return self.g_a(mf), mask_update(mf)


class ReverseAttention(nn.Module):
    """One decoder layer (LBAM § 3.3, eq. 7): ``up = ConvT(D)``;
    ``LReLU(BN(concat(F_skip, up) ⊙ concat(forward map, reverse map)))``."""

    def __init__(self, cin: int, cout: int, skip: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(skip + cout)
        self.apply(_init_normal)

    def forward(self, skip: Tensor, dec: Tensor, maps: Tensor) -> Tensor:
        x = torch.cat([skip, self.conv(dec)], 1) * maps
        return F.leaky_relu(self.bn(x), LEAKY_SLOPE)


@dataclass
class Encoding:
    """One encoder pass (shared by the two decodes of eq. 2–3)."""

    bottleneck: Tensor        # N×C×2×2
    skips: list[Tensor]       # F_1 … F_{n−1} (raw conv features)
    forward_maps: list[Tensor]
    reverse_maps: list[Tensor]


class LBAMGenerator(nn.Module):
    """G of § 3.1: LBAM with the attributes tiled and concatenated at the bottleneck.

    ``size``: training resolution (``n = log2(size) − 1`` stages); ``base`` / ``max_width``:
    encoder widths ``min(base·2^i, max_width)`` (paper 64 / 512); ``n_attrs`` = K (0 for the
    "LBAM alone" ablation). ``forward(image, known, attributes)`` = ``decode(encode(...))``.
    """

    def __init__(self, size: int = 256, n_attrs: int = 8, base: int = PAPER_G_WIDTH,
                 max_width: int = PAPER_MAX_WIDTH):
        super().__init__()
        self.size, self.n_attrs = int(size), int(n_attrs)
        n = stage_count(size)
        w = widths(base, n, max_width)
        self.widths = w
        self.encoder = nn.ModuleList(
            ForwardAttention(4 if i == 0 else w[i - 1], w[i], 1 if i == 0 else w[i - 1], bn=i > 0) for i in range(n))
        self.reverse = nn.ModuleList(ReverseMaskConv(1 if i == 0 else w[i - 1], w[i]) for i in range(n - 1))
        dec = []
        for j in range(n - 1):          # dc1 … dc_{n−1}: up to level L = n − 2 − j (0-based)
            level = n - 2 - j
            cin = w[-1] + self.n_attrs if j == 0 else 2 * w[level + 1]
            dec.append(ReverseAttention(cin, w[level], skip=w[level]))
        self.decoder = nn.ModuleList(dec)
        self.to_rgb = nn.ConvTranspose2d(2 * w[0], 3, 4, 2, 1, bias=False)
        _init_normal(self.to_rgb)

    def gauss_activations(self) -> list[GaussActivation]:
        return [m for m in self.modules() if isinstance(m, GaussActivation)]

    def project_(self) -> None:
        """Project every g_A parameter into its range (call after each optimiser step)."""
        for g in self.gauss_activations():
            g.project_()

    def encode(self, image: Tensor, known: Tensor) -> Encoding:
        """Eq. 1: ``I_in = [I_gt ⊙ M, M]`` through the forward- and reverse-attention paths."""
        x = torch.cat([image * known, known], 1)
        m = known
        skips, fmaps = [], []
        for i, layer in enumerate(self.encoder):
            x, m, feats, att = layer(x, m)
            if i < len(self.encoder) - 1:
                skips.append(feats)
                fmaps.append(att)
        rmaps, r = [], 1 - known
        for layer in self.reverse:
            att, r = layer(r)
            rmaps.append(att)
        return Encoding(x, skips, fmaps, rmaps)

    def decode(self, enc: Encoding, attributes: Tensor | None) -> Tensor:
        """The decoder on a shared encoding with attributes ``N×K`` tiled at the bottleneck."""
        d = enc.bottleneck
        if self.n_attrs:
            if attributes is None or attributes.shape != (d.shape[0], self.n_attrs):
                got = None if attributes is None else tuple(attributes.shape)
                raise ValueError(f"attributes must be N×{self.n_attrs} = {(d.shape[0], self.n_attrs)}, got {got}")
            tiled = attributes.to(d.dtype)[:, :, None, None].expand(-1, -1, *d.shape[-2:])
            d = torch.cat([d, tiled], 1)
        n = len(self.decoder)
        for j, layer in enumerate(self.decoder):
            level = n - 1 - j
            maps = torch.cat([enc.forward_maps[level], enc.reverse_maps[level]], 1)
            d = layer(enc.skips[level], d, maps)
        return torch.tanh(self.to_rgb(d))

    def forward(self, image: Tensor, known: Tensor, attributes: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(image, known), attributes)


# ============================================================================ critic and extractors
def _sn(conv: nn.Conv2d, on: bool = True) -> nn.Module:
    return spectral_norm(conv) if on else conv


class ConvTrunk(nn.Module):
    """The authors' critic / auxiliary-extractor layout (RGINP ``Discriminator``, ``aux_Classifier``):
    4×4 stride-2 convs + LeakyReLU 0.2 down to 4×4 (``log2(size) − 2`` of them; the first
    without spectral norm, the rest with it), then one 4×4 valid conv to ``out`` values."""

    def __init__(self, size: int, out: int, base: int = 64, max_width: int = 512, sn: bool = True):
        super().__init__()
        n = stage_count(size, bottleneck=4)
        w = widths(base, n, max_width)
        layers: list[nn.Module] = []
        cin = 3
        for i, c in enumerate(w):
            layers += [_sn(nn.Conv2d(cin, c, 4, 2, 1), sn and i > 0), nn.LeakyReLU(LEAKY_SLOPE)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, out, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).flatten(1)


class Critic(ConvTrunk):
    """D (§ 3.1, eq. 10–11): spectral norm, a **linear** score ``N×1`` — a Wasserstein critic.

    The authors end D in a sigmoid (and add D(real) in its loss); a WGAN critic must be
    linear (Gulrajani et al.), so neither is copied (PAPERS.md, refattr traps)."""

    def __init__(self, size: int, base: int = 64, max_width: int = 512):
        super().__init__(size, 1, base, max_width, sn=True)


class AuxiliaryExtractor(ConvTrunk):
    """AE (§ 3.1): convolutional layers only, ``N×K`` attribute scores (linear output, as the
    authors' ``aux_Classifier``), trained on ``(I_gt, A_gt)`` by eq. 9's second term."""

    def __init__(self, size: int, n_attrs: int, base: int = 64, max_width: int = 512):
        super().__init__(size, n_attrs, base, max_width, sn=True)


VGG16_BLOCKS = (2, 2, 3, 3, 3)


class AttributeExtractor(nn.Module):
    """Ext (§ 3.1, eq. 3): a VGG-16 layout trunk (13 3×3 convs + ReLU in blocks of 2, 2, 3, 3, 3,
    each block closed by a 2×2 max-pool; widths ``w, 2w, 4w, 8w, 8w``) and a fully connected
    head ``→ fc … → K`` with a sigmoid, so ``A_ext`` lies in ``[0, 1]`` — the same range as the
    ground-truth attributes ``{0, 1}`` that G is trained with.

    Trunk: trained **from scratch**, as in the authors' code (``models.vgg16(pretrained=False)``
    then ``he_init``). ImageNet VGG-16 is not offline; the offline VGG19 trunk (Caffe weights)
    was the alternative, but (a) a frozen trunk would change what eq. 9 trains (the paper
    trains Ext end to end through A_aux) and (b) its forward pass at 128 px costs ≈ 6 GMAC per
    face, more than the rest of a CPU training step. The authors' head is torchvision's VGG16
    classifier (4096-4096-1000, ReLU + dropout) followed by linear layers 1000-512-256-K
    without non-linearities between them; ours keeps the FC widths (``fc``) with ReLUs between
    every layer (a stack of purely linear layers is one linear map) and no dropout.
    Global average pooling to 1×1 before the head makes it resolution independent (VGG16's
    ``AdaptiveAvgPool2d(7)`` would make the first FC 49× wider).
    """

    def __init__(self, n_attrs: int, width: int = PAPER_EXT_WIDTH, fc: tuple[int, ...] = PAPER_EXT_FC):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for b, reps in enumerate(VGG16_BLOCKS):
            c = width * min(2 ** b, 8)
            for _ in range(reps):
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU()]
                cin = c
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        for f in fc:
            head += [nn.Linear(cin, f), nn.ReLU()]
            cin = f
        head.append(nn.Linear(cin, n_attrs))
        self.head = nn.Sequential(*head)
        for m in self.modules():  # the authors' he_init
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x))


__all__ = [
    "A_RANGE", "MU_RANGE", "SIGMA_RANGE", "FORWARD_INIT", "REVERSE_INIT", "MASK_EXPONENT",
    "PAPER_G_WIDTH", "PAPER_MAX_WIDTH", "PAPER_EXT_WIDTH", "PAPER_EXT_FC", "stage_count", "widths",
    "GaussActivation", "mask_update", "ForwardAttention", "ReverseMaskConv", "ReverseAttention", "Encoding",
    "LBAMGenerator", "ConvTrunk", "Critic", "AuxiliaryExtractor", "AttributeExtractor",
]
