"""EXE-GAN's networks (Lu et al., § III-A/B; ``shared/papers/exegan_exemplar_guided.md``, fig. 2),
built from the pure-PyTorch StyleGAN2 blocks of :mod:`.layers`.

* :class:`MultiStyleGenerator` G = {f, G_en, G_de} (§ III-A-1/3, § III-B, eq. 2–3): the mapping
  network f, the Co-Mod-GAN encoder G_en on ``[I_in, M − 0.5]`` → global code c + multi-resolution
  features, and the modulated-conv decoder G_de with v_i = A_i(c, ŵ_i);
* style codes (eq. 1): :func:`phi_mask`, :func:`mix_exemplar_styles`, :func:`crossover_styles`,
  :func:`stochastic_styles` (with the truncation ψ and StyleGAN's style-mixing regularisation);
* :class:`Discriminator` D (§ III-A-4): StyleGAN2's residual D with minibatch stddev;
* :class:`StyleEncoder` E (§ III-A-2): a pSp-style encoder to W+ (one code per style layer),
  and :class:`UnconditionalGenerator` G_u, the StyleGAN2 whose W+ E is trained to invert here —
  the paper's pretrained pSp and StyleGAN2 are not available offline (issue 15, item 3).

Mask polarity. The paper's M is 1 on unknown pixels (§ III-A: "value 1 for unknown and 0 for
known pixels"), and so is the authors' ``mask_01`` ("masked pixel = 1", models/exe_gan_model.py):
the same as our ``hole``. So ``I_in = I_gt ⊙ (1 − hole)``, the encoder's mask channel is
``hole − 0.5`` (+0.5 on the hole, −0.5 on known pixels) and eq. (3) is
``I_out = I_in ⊙ (1 − hole) + I_pred ⊙ hole`` — no flip anywhere.

Style-layer count. The paper indexes T = {1, …, 18} (1024-px StyleGAN2); at 256 px the
generator has L = 14 style layers and 13 noise inputs (:func:`.layers.n_style_layers`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import composite
from .layers import (BLUR_KERNEL, ConvLayer, EqualConv2d, EqualLinear, MappingNetwork, ResBlock,
                        SynthesisNetwork, bias_leaky_relu, channel_table, minibatch_stddev, n_style_layers)

if TYPE_CHECKING:
    from .config import ExeGANConfig

# pSp's GradualStyleEncoder feeds style layers 0–2 from its coarsest map (res ≤ 8 in the
# generator), 3–6 from the middle one (16–32) and the rest from the finest (≥ 64).
PSP_COARSE_END, PSP_MIDDLE_END = 3, 7


# ============================================================================ style codes
def phi_mask(n_layers: int, first_exemplar_layer: int = 5) -> Tensor:
    """φ of eq. (1) as a bool vector over the style layers: layers ≥ ``first_exemplar_layer``
    (0-based) take the exemplar's code. The paper: φ = [0, 0, 0, 0, 0, 1, …, 1] (five stochastic
    layers); the authors' code starts the exemplar at layer 4 (``psp_start_latent = 4``) — we
    follow the paper."""
    if not 0 <= first_exemplar_layer <= n_layers:
        raise ValueError(f"first_exemplar_layer must be in [0, {n_layers}], got {first_exemplar_layer}")
    phi = torch.zeros(n_layers, dtype=torch.bool)
    phi[first_exemplar_layer:] = True
    return phi


def mix_exemplar_styles(w_exe: Tensor, w_sto: Tensor, phi: Tensor | Sequence[bool]) -> Tensor:
    """Eq. (1): ``ŵ_i = w_i if φ_i = 1 else w̃_i`` — exemplar code w = E(I_exe) on the φ layers,
    the stochastic code w̃ = f(z) on the others. ``w_exe``, ``w_sto``: N×L×D; ``phi``: L bools
    (code tuning of φ, § IV-E, is choosing another mask)."""
    if w_exe.shape != w_sto.shape:
        raise ValueError(f"exemplar and stochastic codes differ in shape: {tuple(w_exe.shape)} vs {tuple(w_sto.shape)}")
    phi = torch.as_tensor(phi, dtype=torch.bool, device=w_exe.device)
    if phi.shape != (w_exe.shape[1],):
        raise ValueError(f"phi must have {w_exe.shape[1]} entries, got {tuple(phi.shape)}")
    return torch.where(phi.view(1, -1, 1), w_exe, w_sto)


def crossover_styles(w_a: Tensor, w_b: Tensor, index: int) -> Tensor:
    """Style mixing at a crossover point (StyleGAN § 3.1; EXE-GAN § IV-E, fig. 9): layers
    ``< index`` from ``w_a``, the rest from ``w_b`` (the authors' ``latent_mixing``). ``index``
    in [0, L]: 0 = all ``w_b``, L = all ``w_a``."""
    if w_a.shape != w_b.shape:
        raise ValueError(f"codes differ in shape: {tuple(w_a.shape)} vs {tuple(w_b.shape)}")
    if not 0 <= index <= w_a.shape[1]:
        raise ValueError(f"crossover index must be in [0, {w_a.shape[1]}], got {index}")
    take_a = torch.arange(w_a.shape[1], device=w_a.device) < index
    return torch.where(take_a.view(1, -1, 1), w_a, w_b)


def broadcast_styles(w: Tensor, n_layers: int) -> Tensor:
    """One code for every layer: N×D → N×L×D (W → W+)."""
    return w.unsqueeze(1).expand(-1, n_layers, -1)


def random_crossover(n_layers: int, generator: torch.Generator | None = None) -> int:
    """A crossover index uniform in [1, L − 1] (rosinality's ``random.randint(1, n_latent − 1)``)."""
    return int(torch.randint(1, n_layers, (1,), generator=generator).item())


def stochastic_styles(mapping: MappingNetwork, z: Tensor, n_layers: int, *, z2: Tensor | None = None,
                      crossover: int | None = None, psi: float = 1.0) -> Tensor:
    """The stochastic code w̃ = f(z) ∈ W̃+ (§ III-A-1), truncated toward the tracked mean
    (``w̄ + ψ (w − w̄)``, applied to each f(z) before broadcasting, as the authors' code), and —
    if ``z2`` is given — style mixing regularisation (§ IV-A-3, probability 0.5 in training):
    layers < ``crossover`` from f(z), the rest from f(z2)."""
    w = broadcast_styles(mapping.truncate(mapping(z), psi), n_layers)
    if z2 is None:
        return w
    if crossover is None:
        raise ValueError("mixing two latents needs a crossover index (see random_crossover)")
    w2 = broadcast_styles(mapping.truncate(mapping(z2), psi), n_layers)
    return crossover_styles(w, w2, crossover)


# ============================================================================ generator
class MultiStyleEncoder(nn.Module):
    """G_en (§ III-B, Co-Mod-GAN's conditional encoder): ``[I_in, M − 0.5]`` (4 channels) →
    global style code c and the feature maps at every resolution size … 4.

    Layout as the authors' code: a 1×1 from-RGB conv; at each resolution r = size … 8 a 3×3 conv
    (its output is the feature added to the decoder at r) and a 3×3 stride-2 conv (FIR-blurred);
    at 4×4 a 3×3 conv. c = dropout₀.₅(FC(flatten 4×4)), dim 2·C₄ (the paper's c ∈ R^{2×512});
    an FC from c back to C₄×4×4 is added to the 4×4 features, the decoder's starting map.
    """

    def __init__(self, size: int, channels: dict[int, int], *, global_dim: int | None = None,
                 dropout: float = 0.5, in_channels: int = 4, blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.size = size
        c4 = channels[4]
        self.global_dim = global_dim or 2 * c4
        self.from_rgb = ConvLayer(in_channels, channels[size], 1)
        self.convs = nn.ModuleList()
        self.downs = nn.ModuleList()
        res = size
        while res > 4:
            self.convs.append(ConvLayer(channels[res], channels[res], 3, blur_kernel=blur_kernel))
            self.downs.append(ConvLayer(channels[res], channels[res // 2], 3, downsample=True, blur_kernel=blur_kernel))
            res //= 2
        self.final_conv = ConvLayer(c4, c4, 3, blur_kernel=blur_kernel)
        self.to_global = EqualLinear(c4 * 16, self.global_dim, activation="lrelu")
        # Co-Mod-GAN's dropout on the global code. The authors use nn.Dropout2d on an N×1024
        # tensor (which drops whole samples' rows in recent PyTorch); element-wise dropout is
        # what Co-Mod-GAN's tf.nn.dropout does. Off in eval mode (the EMA G, inference).
        self.dropout = nn.Dropout(dropout)
        self.from_global = EqualLinear(self.global_dim, c4 * 16, activation="lrelu")

    def forward(self, x: Tensor) -> tuple[Tensor, dict[int, Tensor]]:
        n = x.shape[0]
        out = self.from_rgb(x)
        feats: dict[int, Tensor] = {}
        for conv, down in zip(self.convs, self.downs):
            out = conv(out)
            feats[out.shape[-1]] = out
            out = down(out)
        out = self.final_conv(out)
        c = self.dropout(self.to_global(out.reshape(n, -1)))
        feats[4] = out + self.from_global(c).view_as(out)
        return c, feats


class MultiStyleGenerator(nn.Module):
    """The multi-style generator G = {G_en, G_de} with its mapping network f (§ III-A, III-B).

    ``forward(image, hole, w_hat)`` → I_pred: ``I_in = image ⊙ (1 − hole)`` and
    ``[I_in, hole − 0.5]`` go through G_en (→ c, features); the decoder starts from G_en's 4×4
    map, adds G_en's features after the upsampling conv of each resolution and modulates its
    i-th style layer with ``v_i = A_i(concat(ŵ_i, c))`` (eq. 2; A_i = the layer's affine, input
    dim D + dim c). ``w_hat`` is the mixed code ŵ (N×L×D, eq. 1). :meth:`complete` adds eq. (3).
    """

    def __init__(self, size: int = 256, style_dim: int = 512, *, n_mlp: int = 8, lr_mlp: float = 0.01,
                 w_avg_beta: float = 0.995, channels: dict[int, int] | None = None,
                 global_dim: int | None = None, dropout: float = 0.5,
                 blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.channels = channels or channel_table(size)
        self.n_styles = n_style_layers(size)
        self.mapping = MappingNetwork(style_dim, style_dim, n_mlp, lr_mlp, w_avg_beta)
        self.encoder = MultiStyleEncoder(size, self.channels, global_dim=global_dim, dropout=dropout,
                                         blur_kernel=blur_kernel)
        self.global_dim = self.encoder.global_dim
        self.decoder = SynthesisNetwork(size, style_dim + self.global_dim, self.channels, blur_kernel)
        self.n_noise = self.decoder.n_noise

    def encoder_input(self, image: Tensor, hole: Tensor) -> Tensor:
        """``[I_in, M − 0.5]`` with ``I_in = image ⊙ (1 − M)`` (§ III-A; M = hole, 1 = missing)."""
        return torch.cat([image * (1 - hole), hole - 0.5], 1)

    def forward(self, image: Tensor, hole: Tensor, w_hat: Tensor, *,
                noise: Sequence[Tensor | None] | None = None, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> Tensor:
        """I_pred (N×3×H×W, unbounded like StyleGAN2's output) from ``image`` (known pixels are
        all it reads), ``hole`` and ŵ (N×L×D). Noise: see :meth:`SynthesisNetwork.make_noise`."""
        if image.shape[-1] != self.size or image.shape[-2] != self.size:
            raise ValueError(f"the generator works at {self.size}×{self.size}, got {tuple(image.shape[-2:])}")
        c, feats = self.encoder(self.encoder_input(image, hole))
        if w_hat.dim() != 3 or w_hat.shape[1:] != (self.n_styles, self.style_dim):
            raise ValueError(f"w_hat must be N×{self.n_styles}×{self.style_dim}, got {tuple(w_hat.shape)}")
        v_in = torch.cat([w_hat, c.unsqueeze(1).expand(-1, self.n_styles, -1)], 2)   # eq. (2)'s (ŵ_i, c)
        return self.decoder(feats[4], v_in, skips=feats, noise=noise, noise_mode=noise_mode, generator=generator)

    def complete(self, image: Tensor, hole: Tensor, w_hat: Tensor, **kw) -> tuple[Tensor, Tensor]:
        """``(I_out, I_pred)`` with eq. (3) ``I_out = I_in ⊙ (1 − M) + I_pred ⊙ M``."""
        pred = self(image, hole, w_hat, **kw)
        return composite(image, pred, hole), pred

    def stochastic_styles(self, z: Tensor, **kw) -> Tensor:
        """w̃ = f(z) as N×L×D (:func:`stochastic_styles`)."""
        return stochastic_styles(self.mapping, z, self.n_styles, **kw)


# ============================================================================ discriminator
class Discriminator(nn.Module):
    """D (§ III-A-4, "as in [58], [9]"): StyleGAN2's residual discriminator (fig. 7c) — 1×1
    from-RGB conv, residual blocks size → 4, minibatch stddev, 3×3 conv, FC, FC → one logit.

    Input: the composite I_out alone (3 channels), as eq. (4) writes D(I_out) and as the authors'
    code (``Discriminator(input_channel=3)``, fed ``completed_img``). Co-Mod-GAN's D also sees
    the mask (4 channels); ``in_channels`` allows it, the paper does not.
    """

    def __init__(self, size: int = 256, channels: dict[int, int] | None = None, *, in_channels: int = 3,
                 mbstd_group: int = 4, mbstd_features: int = 1, blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.size = size
        ch = channels or channel_table(size)
        self.from_rgb = ConvLayer(in_channels, ch[size], 1)
        blocks = []
        res = size
        while res > 4:
            blocks.append(ResBlock(ch[res], ch[res // 2], blur_kernel))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        self.mbstd_group, self.mbstd_features = mbstd_group, mbstd_features
        self.final_conv = ConvLayer(ch[4] + mbstd_features, ch[4], 3)
        self.fc = EqualLinear(ch[4] * 16, ch[4], activation="lrelu")
        self.out = EqualLinear(ch[4], 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits N×1 (real > 0)."""
        out = self.blocks(self.from_rgb(x))
        out = minibatch_stddev(out, self.mbstd_group, self.mbstd_features)
        out = self.final_conv(out)
        return self.out(self.fc(out.flatten(1)))


# ============================================================================ style encoder
class GradualStyleHead(nn.Module):
    """pSp's ``map2style`` (GradualStyleBlock): stride-2 3×3 convs + leaky ReLU from a
    ``spatial``×``spatial`` map down to 1×1, then an equalised-lr FC to one style code
    (pSp: width 512 = style_dim throughout; here the convs keep the pyramid's width)."""

    def __init__(self, width: int, style_dim: int, spatial: int):
        super().__init__()
        n_down = max(1, spatial.bit_length() - 1)          # log₂(spatial) stride-2 convs
        self.convs = nn.ModuleList([EqualConv2d(width, width, 3, stride=2, padding=1) for _ in range(n_down)])
        self.fc = EqualLinear(width, style_dim)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = bias_leaky_relu(conv(x), None)
        return self.fc(x.mean((2, 3)))   # 1×1 after the convs; the mean also covers odd sides


class StyleEncoder(nn.Module):
    """The style encoder E (§ III-A-2): image → W+ code, one D-vector per style layer of the
    generator (w = E(I_exe), w̄ = E(I_out)); frozen while EXE-GAN trains, gradients still flow
    through it to I_out for the attribute loss (eq. 7).

    Role here: the paper uses a pretrained pixel2style2pixel encoder into a pretrained
    StyleGAN2's W+; neither exists offline, so E is trained to invert the W+ of
    :class:`UnconditionalGenerator` G_u (trained on the same faces), then frozen.

    Architecture (pSp's GradualStyleEncoder, smaller): a trunk of StyleGAN2 residual blocks
    (equalised lr, no BatchNorm — pSp's IR-SE50 trunk is a pretrained face-recognition net we do
    not have; without normalisation a frozen E is batch-independent) with feature maps at 1/4,
    1/8 and 1/16 of the input; a feature pyramid (1×1 laterals, bilinear upsample-and-add, as pSp);
    :class:`GradualStyleHead` per style layer — layers 0–2 from the 1/16 map, 3–6 from 1/8, the
    rest from 1/4 (pSp's coarse/middle/fine). Output ``+ w_avg`` (pSp's ``start_from_latent_avg``:
    the heads predict offsets from G_u's mean w; set by :meth:`set_w_avg`). Inputs of another
    size are resized to ``size`` first (pSp resizes to 256).
    """

    def __init__(self, size: int, n_styles: int, style_dim: int, channels: dict[int, int] | None = None, *,
                 fpn_channels: int | None = None, blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        if size < 32:
            raise ValueError(f"the style encoder needs size ≥ 32 (its coarsest map is size/16), got {size}")
        self.size, self.n_styles, self.style_dim = size, n_styles, style_dim
        ch = channels or channel_table(size)
        fpn = fpn_channels or style_dim
        self.from_rgb = ConvLayer(3, ch[size], 1)
        self.trunk = nn.ModuleList()
        res = size
        for _ in range(4):                        # size → size/16
            self.trunk.append(ResBlock(ch[res], ch[res // 2], blur_kernel))
            res //= 2
        self.levels = (size // 16, size // 8, size // 4)          # coarse, middle, fine
        self.laterals = nn.ModuleList([EqualConv2d(ch[r], fpn, 1) for r in self.levels])
        self.heads = nn.ModuleList([GradualStyleHead(fpn, style_dim, self.levels[self.level_of(i)])
                                    for i in range(n_styles)])
        self.register_buffer("w_avg", torch.zeros(style_dim))

    @staticmethod
    def level_of(i: int) -> int:
        """Pyramid level feeding style layer i: 0 coarse, 1 middle, 2 fine (pSp's split)."""
        return 0 if i < PSP_COARSE_END else 1 if i < PSP_MIDDLE_END else 2

    @torch.no_grad()
    def set_w_avg(self, w_avg: Tensor) -> None:
        """Use G_u's mean w as the origin of the predicted codes (pSp's ``latent_avg``)."""
        self.w_avg.copy_(w_avg.reshape(-1))

    def forward(self, x: Tensor) -> Tensor:
        """W+ codes N×L×D for images N×3×H×W in [-1, 1]."""
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        out = self.from_rgb(x)
        feats: dict[int, Tensor] = {}
        for block in self.trunk:
            out = block(out)
            feats[out.shape[-1]] = out
        pyramid = []
        p = None
        for lateral, r in zip(self.laterals, self.levels):
            lat = lateral(feats[r])
            p = lat if p is None else lat + F.interpolate(p, size=lat.shape[-2:], mode="bilinear", align_corners=False)
            pyramid.append(p)
        codes = torch.stack([head(pyramid[self.level_of(i)]) for i, head in enumerate(self.heads)], 1)
        return codes + self.w_avg.to(codes.dtype)


class UnconditionalGenerator(nn.Module):
    """G_u: an unconditional StyleGAN2 (mapping f_u + learned 4×4 constant + skip synthesis
    network) on the same blocks as EXE-GAN's G. Not part of EXE-GAN itself: its only role is to
    give the style encoder E a W+ space to invert (E(G_u(w+)) ≈ w+), standing in for the
    pretrained StyleGAN2 behind the paper's pSp encoder. Its W+ has EXE-GAN's shape (L layers of
    D = ``style_dim``), so E's codes can be mixed with f(z) by eq. (1).

    ``forward(w_plus)`` takes W+ directly (N×L×D); :meth:`stochastic_styles` maps z (with
    truncation and style mixing) as for G.
    """

    def __init__(self, size: int = 256, style_dim: int = 512, *, n_mlp: int = 8, lr_mlp: float = 0.01,
                 w_avg_beta: float = 0.995, channels: dict[int, int] | None = None,
                 blur_kernel: Sequence[float] = BLUR_KERNEL):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        ch = channels or channel_table(size)
        self.n_styles = n_style_layers(size)
        self.mapping = MappingNetwork(style_dim, style_dim, n_mlp, lr_mlp, w_avg_beta)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.synthesis = SynthesisNetwork(size, style_dim, ch, blur_kernel)
        self.n_noise = self.synthesis.n_noise

    def forward(self, w_plus: Tensor, *, noise: Sequence[Tensor | None] | None = None,
                noise_mode: str = "random", generator: torch.Generator | None = None) -> Tensor:
        x4 = self.const.expand(w_plus.shape[0], -1, -1, -1)
        return self.synthesis(x4, w_plus, noise=noise, noise_mode=noise_mode, generator=generator)

    def stochastic_styles(self, z: Tensor, **kw) -> Tensor:
        """f_u(z) as N×L×D (:func:`stochastic_styles`)."""
        return stochastic_styles(self.mapping, z, self.n_styles, **kw)


# ============================================================================ from a config
def build_generator(cfg: "ExeGANConfig") -> MultiStyleGenerator:
    return MultiStyleGenerator(cfg.image_size, cfg.style_dim, n_mlp=cfg.n_mlp, lr_mlp=cfg.lr_mlp,
                               w_avg_beta=cfg.w_avg_beta,
                               channels=channel_table(cfg.image_size, cfg.g_channel_base, cfg.g_channel_max),
                               dropout=cfg.dropout, blur_kernel=cfg.blur_kernel)


def build_discriminator(cfg: "ExeGANConfig") -> Discriminator:
    return Discriminator(cfg.image_size, channel_table(cfg.image_size, cfg.d_channel_base, cfg.d_channel_max),
                         in_channels=cfg.d_in_channels, mbstd_group=cfg.mbstd_group,
                         mbstd_features=cfg.mbstd_features, blur_kernel=cfg.blur_kernel)


def build_style_encoder(cfg: "ExeGANConfig") -> StyleEncoder:
    return StyleEncoder(cfg.image_size, n_style_layers(cfg.image_size), cfg.style_dim,
                        channel_table(cfg.image_size, cfg.e_channel_base, cfg.e_channel_max),
                        fpn_channels=cfg.e_fpn_channels, blur_kernel=cfg.blur_kernel)


def build_unconditional_generator(cfg: "ExeGANConfig") -> UnconditionalGenerator:
    return UnconditionalGenerator(cfg.image_size, cfg.style_dim, n_mlp=cfg.n_mlp, lr_mlp=cfg.lr_mlp,
                                  w_avg_beta=cfg.w_avg_beta,
                                  channels=channel_table(cfg.image_size, cfg.gu_channel_base, cfg.gu_channel_max),
                                  blur_kernel=cfg.blur_kernel)


def exemplar_phi(cfg: "ExeGANConfig") -> Tensor:
    """The config's default φ (eq. 1) over the generator's style layers."""
    return phi_mask(n_style_layers(cfg.image_size), cfg.phi_first_exemplar_layer)
