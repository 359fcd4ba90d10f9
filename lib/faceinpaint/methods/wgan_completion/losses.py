"""The latent search's objectives (Vitoria et al., sections 3.2–3.3): eq. (5)–(8) and (10)–(15).

The prior's own training loss is WGAN-GP (eq. 4), shared in :mod:`faceinpaint.losses`.

Polarity: the paper's mask ``M`` is 1 on the **known** pixels; here ``hole`` is 1 on the
missing ones, so ``M = known = 1 − hole`` everywhere below.

* eq. (5)  ẑ = argmin_z  L_c(z | y, M) + η·L_p(z)
* eq. (6)  L_c = α·Σ W·|M ⊙ (G(z) − y)| + β·Σ W·|M ⊙ (∇G(z) − ∇y)|
* eq. (7)  W(i) = M(i)·(1/|N_i|)·Σ_{j ∈ N_i} (1 − M(j)),  N_i the 7×7 window around i
* eq. (8)  L_p = −D(G(z)) − D_patch(G(z))
* eq. (10–15) conditional completion with a reference face y₂ (see :func:`complete_conditional`).

Optimisation (section 4): z₀ ~ N(0, I) (128-d), Adam (lr 0.03, β = (0.9, 0.999)), 1000
iterations, z clamped to [−1, 1] after every step. All images of a batch are optimised
together: the loss is the *sum* of the per-image losses, the networks are in eval mode
(batch norm uses its running statistics) and Adam is element-wise, so each image's latent
code follows exactly the path it would follow alone.

Choices the paper leaves open, and what we do:

* ``‖·‖`` in eq. (6) is an L1 norm (the text says so for the colour term); it is summed over
  pixels and channels, as in Yeh et al.'s code, whose weights W are these; for ∇ it is the
  anisotropic ``|∂x| + |∂y|``.
* Windows that cross the image border: the hole map is extended by symmetric reflection,
  as Yeh et al.'s code does (``convolve2d(1 − M, ones/49, mode='same', boundary='symm')``).
* The prior of eq. (8) uses the patch critic's mean patch decision.
* ``restarts > 1`` (our option, default 1 = the paper): several random z₀, keeping per image
  the one with the lowest final loss — it makes the result less dependent on the start.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ConditionalConfig, LatentConfig

LossFn = Callable[[Tensor], dict[str, Tensor]]


# ----------------------------------------------------------------------------- weights, eq. (7), (14), (15)
def _pad_symmetric(x: Tensor, r: int) -> Tensor:
    """Pad the last two dims by ``r`` with edge-inclusive reflection (SciPy ``boundary='symm'``)."""
    if r == 0:
        return x
    if min(x.shape[-2:]) < r:
        raise ValueError(f"a {2 * r + 1}-px window needs an image of at least {r}×{r} pixels, got {tuple(x.shape[-2:])}")
    x = torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], dim=-1)
    return torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], dim=-2)


def box_mean(x: Tensor, window: int = 7) -> Tensor:
    """``(1/|N_i|)·Σ_{j∈N_i} x(j)`` over the ``window×window`` neighbourhood N_i of every pixel."""
    if window % 2 != 1:
        raise ValueError(f"the window must have odd size, got {window}")
    r = window // 2
    return F.avg_pool2d(_pad_symmetric(x.float(), r), window, stride=1)


def context_weights(hole: Tensor, window: int = 7) -> Tensor:
    """Eq. (7) (= W₁ of eq. (14)): ``W(i) = M(i)·(1/|N_i|)·Σ_{j∈N_i}(1 − M(j))`` with ``M = 1 − hole``
    — on a known pixel, the fraction of hole pixels in its window; 0 on hole pixels. Known
    pixels farther than ``window // 2`` from the hole get 0: only a band around it constrains z."""
    known = 1 - hole
    return known * box_mean(1 - known, window)


def reference_weights(hole: Tensor, window: int = 7) -> Tensor:
    """Eq. (15): ``W₂(i) = (1 − M)(i)·(1 − (1/|N_i|)·Σ_{j∈N_i} M(j))`` with ``M = 1 − hole`` — on a
    hole pixel, the fraction of hole pixels around it (1 deep inside the region taken from
    the reference, smaller near its border); 0 on known pixels."""
    known = 1 - hole
    return (1 - known) * (1 - box_mean(known, window))


# ----------------------------------------------------------------------------- ∇ of eq. (6)
def _diff_1d(x: Tensor, avail: Tensor, dim: int) -> Tensor:
    """Derivative along ``dim`` using only available pixels (module docstring of masked_gradient)."""
    n = x.shape[dim]

    def shift(t: Tensor, k: int) -> Tensor:  # t[i + k] along dim, zero outside the image
        pad = [0, 0] * (t.dim() - 1 - (dim % t.dim())) + ([0, k] if k > 0 else [-k, 0])
        t = F.pad(t, pad)
        return t.narrow(dim, k if k > 0 else 0, n)

    a_next, a_prev = shift(avail, 1), shift(avail, -1)
    x_next, x_prev = shift(x, 1), shift(x, -1)
    central = (x_next - x_prev) / 2
    forward = x_next - x
    backward = x - x_prev
    both, only_next, only_prev = a_next * a_prev, a_next * (1 - a_prev), a_prev * (1 - a_next)
    return avail * (both * central + only_next * forward + only_prev * backward)


def masked_gradient(x: Tensor, avail: Tensor) -> tuple[Tensor, Tensor]:
    """``(∂x/∂x, ∂x/∂y)`` of ``N×C×H×W`` images where only pixels with ``avail = 1`` may be read.

    Section 3.2: central differences ``(x[i+1] − x[i−1])/2`` where both neighbours are
    available; at the border of the hole (or of the image) the one-sided difference toward
    the available side (forward ``x[i+1] − x[i]`` or backward ``x[i] − x[i−1]``); 0 where
    neither neighbour is, and on unavailable pixels. ``avail`` is ``N×1×H×W`` in {0, 1}.
    The stencil depends only on ``avail``, so ∇G(z) and ∇y are computed alike.
    """
    avail = avail.to(x.dtype)
    return _diff_1d(x, avail, -1), _diff_1d(x, avail, -2)


def gradient_l1(a: Tensor, b: Tensor, avail: Tensor, weight: Tensor) -> Tensor:
    """``Σ W·(|∂ₓa − ∂ₓb| + |∂ᵧa − ∂ᵧb|)`` per image (the gradient terms of eq. 6, 11, 12)."""
    ax, ay = masked_gradient(a, avail)
    bx, by = masked_gradient(b, avail)
    return (weight * ((ax - bx).abs() + (ay - by).abs())).sum(dim=(1, 2, 3))


def weighted_l1(a: Tensor, b: Tensor, region: Tensor, weight: Tensor) -> Tensor:
    """``Σ W·|region ⊙ (a − b)|`` per image (the colour terms of eq. 6 and 11)."""
    return (weight * (region * (a - b)).abs()).sum(dim=(1, 2, 3))


# ----------------------------------------------------------------------------- the objectives
def completion_loss(G: nn.Module, D: nn.Module, D_patch: nn.Module | None, image: Tensor, hole: Tensor,
                    cfg: LatentConfig) -> LossFn:
    """z ↦ per-image terms of eq. (5)–(8): ``context`` (α-term), ``gradient`` (β-term),
    ``prior`` (eq. 8) and ``total``. Terms with a zero weight are not computed."""
    known = 1 - hole
    W = context_weights(hole, cfg.window)
    y = image.detach()

    def loss(z: Tensor) -> dict[str, Tensor]:
        x = G(z)
        terms = {"context": weighted_l1(x, y, known, W)}
        if cfg.beta:
            terms["gradient"] = gradient_l1(x, y, known, W)
        if cfg.eta:
            prior = -D(x)
            if cfg.patch_prior and D_patch is not None:
                prior = prior - D_patch(x)
            terms["prior"] = prior
        terms["total"] = (cfg.alpha * terms["context"] + cfg.beta * terms.get("gradient", 0.0)
                          + cfg.eta * terms.get("prior", 0.0))
        terms["image"] = x
        return terms

    return loss


def conditional_loss(G: nn.Module, D: nn.Module, image: Tensor, hole: Tensor, reference: Tensor,
                     cfg: ConditionalConfig, window: int = 7) -> LossFn:
    """z ↦ per-image terms of eq. (10)–(13), with ``M = 1 − hole`` the part of y₁ to keep:

    * eq. (11) ``L_c1 = α₁·Σ W₁|M(G − y₁)| + α₂·Σ W₁|M(∇G − ∇y₁)|``
    * eq. (12) ``L_c2 = α₃·Σ W₂|(1 − M)(∇G − ∇y₂)|`` — structure, not colour, of the reference
    * eq. (13) ``L̃_p = −D(G(z))`` — the global critic only
    * weights W₁ (eq. 14) and W₂ (eq. 15).

    ∇ on 1 − M uses the same rule as on M (one-sided at the region's border), so the
    reference's structure is read only inside the region it is taken from.
    """
    known = 1 - hole
    W1, W2 = context_weights(hole, window), reference_weights(hole, window)
    y1, y2 = image.detach(), reference.detach()

    def loss(z: Tensor) -> dict[str, Tensor]:
        x = G(z)
        terms = {
            "context": weighted_l1(x, y1, known, W1),
            "gradient": gradient_l1(x, y1, known, W1),
            "reference": gradient_l1(x, y2, hole, W2),
            "prior": -D(x),
        }
        terms["total"] = (cfg.alpha1 * terms["context"] + cfg.alpha2 * terms["gradient"]
                          + cfg.alpha3 * terms["reference"] + cfg.prior * terms["prior"])
        terms["image"] = x
        return terms

    return loss
