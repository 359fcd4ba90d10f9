"""EXE-GAN's own losses (Lu et al., § III-C/D; ``shared/papers/exegan_exemplar_guided.md``).

The shared pieces live in :mod:`faceinpaint.losses` and are used, not re-typed: the logistic
loss and lazy R1 (eq. 4: ``logistic_d_loss``, ``logistic_g_loss``, ``r1_loss``), the identity
loss (eq. 5: ``identity_loss``), the style-code distance (eq. 7: ``style_code_loss``), SVGL
(eq. 10: ``svgl``) and the GMCNN weight maps (eq. 11–12: ``confidence_weight_map``,
``attribute_weight_map``). What is EXE-GAN's alone is here:

* :func:`svgl_maps` — eq. (11)–(12) for a batch of holes, as the config sets them;
* :class:`PerceptualTerm` — eq. (6)'s F: real LPIPS when its weights exist, else the clearly
  named VGG19 distance (never called LPIPS);
* :func:`lpips_term` — eq. (6) through SVGL ``P(I_out, M_w)`` (fig. 3), only when the exemplar
  is the image itself;
* :func:`attribute_term` — eq. (7) with ``w̄ = E(P(I_out, M̄_w))`` (fig. 3), E frozen but
  differentiable to I_out;
* :func:`generator_objective` — eq. (8)'s generator side, every term logged;
* :func:`path_length_penalty` — StyleGAN2's path-length regulariser (Karras et al. 2020,
  eq. 4), the code's (the paper is silent); a config field turns it off.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor, nn

from ... import losses

if TYPE_CHECKING:
    from .config import ExeGANConfig


# ============================================================================ SVGL maps (eq. 11–12)
def svgl_maps(hole: Tensor, cfg: "ExeGANConfig") -> tuple[Tensor, Tensor]:
    """``(M_w, M̄_w)`` of eq. (11) and (12) for holes N×1×H×W (1 = missing, the paper's M).

    ``M_w``: the GMCNN confidence map (``t = cfg.svgl_iterations`` passes of a
    ``cfg.svgl_kernel``² Gaussian of σ = ``cfg.svgl_sigma``), largest next to the hole border —
    SVGL's map for the LPIPS loss; ``M̄_w = (1 − M_w) ⊙ M``, largest at the hole centre — the map
    for the attribute loss. (The paper's 64×64, σ = 40 is for 256 px; the 64-px presets scale
    both with the image, config.py.)
    """
    mw = losses.confidence_weight_map(hole, iterations=cfg.svgl_iterations, kernel_size=cfg.svgl_kernel,
                                      sigma=cfg.svgl_sigma)
    return mw, losses.attribute_weight_map(hole, mw)


# ============================================================================ eq. (6): F
class PerceptualTerm(nn.Module):
    """F of eq. (6): ``d(x, y)`` per image, differentiable in ``x``.

    ``kind="lpips"``: real LPIPS v0.1 (VGG16 trunk + learned linear heads,
    :class:`faceinpaint.metrics.LPIPS`) — it needs the official torchvision VGG16 file, which
    is not available offline. ``kind="vgg19"``: :class:`faceinpaint.metrics.PerceptualDistance`,
    LPIPS's distance form with unit weights on VGG19 relu1_1…relu5_1, reported under its own
    name ``vgg19_perceptual``. ``"auto"``: LPIPS when its weights exist, else VGG19 (with a
    warning). ``source`` says which; training logs and checkpoints record it.
    """

    def __init__(self, kind: str = "auto", device: torch.device | str | None = None):
        super().__init__()
        from ... import metrics

        if kind not in ("auto", "lpips", "vgg19"):
            raise ValueError(f"perceptual must be 'auto', 'lpips' or 'vgg19', got {kind!r}")
        if kind == "auto":
            kind = "lpips" if metrics.lpips_available("vgg") else "vgg19"
            if kind == "vgg19":
                warnings.warn("EXE-GAN eq. (6): no LPIPS weights (torchvision VGG16) found; using the "
                              "vgg19_perceptual distance instead (not LPIPS)", stacklevel=2)
        self.kind = kind
        self.net = metrics.LPIPS("vgg", device=device) if kind == "lpips" else metrics.PerceptualDistance(device=device)
        self.net.requires_grad_(False).eval()
        self.source = self.net.source

    def train(self, mode: bool = True):  # frozen: always in eval mode
        return super().train(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Distances N (on ``x``'s device and dtype); ``y`` is the reference."""
        return self.net(y, x).to(device=x.device, dtype=x.dtype)


# ============================================================================ eq. (6), (7)
def lpips_term(out: Tensor, target: Tensor, perceptual: Callable[[Tensor, Tensor], Tensor],
               weight_map: Tensor | None) -> Tensor:
    """Eq. (6) when the exemplar is the image itself: ``‖F(I_out) − F(I_gt)‖`` (mean over the
    batch), with I_out through SVGL ``P(·, M_w)`` (eq. 10; fig. 3: "right after the layer
    generating I_out") so the gradient reaching each pixel is scaled by ``M_w``. The forward
    value is unchanged by SVGL. ``weight_map=None`` is the standard (non-SVGL) loss of table V (D).
    The caller applies the "only when I_exe = I_gt" condition (:func:`generator_objective`)."""
    x = out if weight_map is None else losses.svgl(out, weight_map)
    return perceptual(x, target).mean()


def attribute_term(out: Tensor, w_hat: Tensor, encoder: nn.Module, phi: Tensor,
                   weight_map: Tensor | None) -> Tensor:
    """Eq. (7): ``(1/‖φ‖₁) Σ_i φ_i ‖w̄_i − ŵ_i‖₂`` with ``w̄ = E(P(I_out, M̄_w))`` and the mixed
    code ŵ (eq. 1: on the φ layers ŵ = E(I_exe)); via :func:`faceinpaint.losses.style_code_loss`.

    E is frozen (its parameters get no gradient, the caller keeps ``requires_grad`` off) but
    the graph runs through it, so G learns from eq. (7). SVGL ``P(·, M̄_w)`` scales the gradient
    at each pixel of I_out by ``M̄_w`` (largest at the hole centre); ``weight_map=None`` is the
    standard attribute loss of table V (C). ŵ is a target: detached."""
    x = out if weight_map is None else losses.svgl(out, weight_map)
    return losses.style_code_loss(encoder(x), w_hat.detach(), phi)


@dataclass
class ObjectiveWeights:
    """λ of eq. (8) and the table-V switches."""

    lambda_id: float = 0.1
    lambda_lpips: float = 0.5
    lambda_attr: float = 0.1
    use_attr: bool = True
    use_lpips: bool = True
    svgl_attr: bool = True
    svgl_lpips: bool = True

    @classmethod
    def from_config(cls, cfg: "ExeGANConfig") -> "ObjectiveWeights":
        return cls(cfg.lambda_id, cfg.lambda_lpips, cfg.lambda_attr, cfg.use_attr, cfg.use_lpips,
                   cfg.svgl_attr, cfg.svgl_lpips)


def generator_objective(d_fake: Tensor, out: Tensor, image: Tensor, exemplar: Tensor, exemplar_is_self: bool,
                        w_hat: Tensor, phi: Tensor, hole_maps: tuple[Tensor, Tensor], *,
                        identity: Callable[[Tensor], Tensor], encoder: nn.Module,
                        perceptual: Callable[[Tensor, Tensor], Tensor] | None,
                        weights: ObjectiveWeights) -> dict[str, Tensor]:
    """Eq. (8), what G and f minimise (eq. 9): ``L_adv + λ_id L_id + λ_lpips L_lpips + λ_attr L_attr``.

    * ``L_adv`` (eq. 4, G's side): the non-saturating ``E[softplus(−D(I_out))]``;
    * ``L_id`` (eq. 5): ``1 − cos(R(I_out), R(I_exe))``;
    * ``L_lpips`` (eq. 6): only when ``exemplar_is_self`` (Algorithm 1, line 8), else 0;
    * ``L_attr`` (eq. 7): :func:`attribute_term`.

    ``hole_maps`` = ``(M_w, M̄_w)`` (:func:`svgl_maps`). Returns every term and ``"total"``.
    """
    mw, mbar = hole_maps
    zero = out.new_zeros(())
    adv = losses.logistic_g_loss(d_fake)
    ident = losses.identity_loss(out, exemplar, identity) if weights.lambda_id > 0 else zero
    lp = zero
    if weights.use_lpips and exemplar_is_self and perceptual is not None and weights.lambda_lpips > 0:
        lp = lpips_term(out, image, perceptual, mw if weights.svgl_lpips else None)
    attr = zero
    if weights.use_attr and weights.lambda_attr > 0:
        attr = attribute_term(out, w_hat, encoder, phi, mbar if weights.svgl_attr else None)
    total = adv + weights.lambda_id * ident + weights.lambda_lpips * lp + weights.lambda_attr * attr
    return {"total": total, "adv": adv, "id": ident, "lpips": lp, "attr": attr}


# ============================================================================ path length (StyleGAN2)
def path_length_penalty(images: Tensor, w_plus: Tensor, mean_length: Tensor | float, decay: float = 0.01,
                        noise: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """StyleGAN2's path-length regulariser (Karras et al. 2020, § 3.2, eq. 4):
    ``E_{w,y}[(‖J_wᵀ y‖₂ − a)²]`` with ``y ~ N(0, I)/√(H·W)`` and ``a`` the running mean of the
    lengths (EMA with ``decay``, "code": 0.01).

    ``images`` must be computed from ``w_plus`` (N×L×D, requires grad). ``J_wᵀ y`` is the
    gradient of ``Σ images ⊙ y`` w.r.t. ``w_plus``; its length per sample is
    ``√(mean_L Σ_D g²)`` (the official code: sum over D, mean over the L style layers).
    Returns ``(penalty, new mean length (detached), lengths N (detached))``; the penalty keeps
    the graph for the generator's update (create_graph).
    """
    if noise is None:
        noise = torch.randn_like(images)
    noise = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), w_plus, create_graph=True)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()
    mean = torch.as_tensor(mean_length, dtype=lengths.dtype, device=lengths.device)
    new_mean = mean + decay * (lengths.detach().mean() - mean)
    penalty = (lengths - new_mean).pow(2).mean()
    return penalty, new_mean.detach(), lengths.detach()


__all__ = ["svgl_maps", "PerceptualTerm", "lpips_term", "attribute_term", "ObjectiveWeights",
           "generator_objective", "path_length_penalty"]
