"""Inpainting by searching the latent space of a trained GAN (Vitoria et al., sections 3.2–3.3).

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

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LossFn = Callable[[Tensor], dict[str, Tensor]]


# ----------------------------------------------------------------------------- configs
@dataclass
class LatentConfig:
    """Weights and optimiser of eq. (5)–(8).

    Defaults α = 0.1, β = 0.9, η = 0.5: the best CelebA row of table 2 (three-squares masks,
    MSE 321.3, PSNR 23.06, SSIM 0.934) and the best SVHN row of table 1. On CelebA with the
    central square, table 1's best is α = 0.5, β = 0.5, η = 1.0 (MSE 785.3) — a close call.
    """

    alpha: float = 0.1          # colour term of eq. (6)
    beta: float = 0.9           # gradient term of eq. (6)
    eta: float = 0.5            # prior term of eq. (5)
    iters: int = 1000
    lr: float = 0.03
    betas: tuple[float, float] = (0.9, 0.999)
    window: int = 7             # N_i of eq. (7), Yeh et al.'s 7×7
    z_clamp: float = 1.0        # z ∈ [−1, 1] after each step
    restarts: int = 1           # > 1: keep, per image, the restart with the lowest final loss
    patch_prior: bool = True    # eq. (8) with −D_patch; False: global critic only


@dataclass
class ConditionalConfig:
    """Weights of eq. (10)–(12). The paper gives no values: we reuse those of eq. (5)–(6)
    (α₁ = α for colour, α₂ = α₃ = β for structure, prior weight = η)."""

    alpha1: float = 0.1         # colour of y₁ on M, eq. (11)
    alpha2: float = 0.9         # structure of y₁ on M, eq. (11)
    alpha3: float = 0.9         # structure of the reference y₂ on 1 − M, eq. (12)
    prior: float = 0.5          # β of eq. (10) in front of −D(G(z)), eq. (13)


@dataclass
class LatentResult:
    z: Tensor                   # N×z_dim, the kept latent codes (in [−1, 1])
    image: Tensor               # G(ẑ), N×3×H×W, before any blending
    loss: Tensor                # N, final total loss per image
    history: dict[str, Tensor] = field(default_factory=dict)  # term → (iters + 1)×N, for plots
    snapshots: dict[int, Tensor] = field(default_factory=dict)  # iteration → G(z) at it, N×3×H×W (for plots)


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


# ----------------------------------------------------------------------------- the search
@contextlib.contextmanager
def frozen_eval(*nets: nn.Module | None) -> Iterator[None]:
    """Nets in eval mode with ``requires_grad=False`` inside the block (restored after):
    batch norm uses running statistics (images independent) and no parameter gradients."""
    nets = [n for n in nets if n is not None]
    modes = [n.training for n in nets]
    flags = [[p.requires_grad for p in n.parameters()] for n in nets]
    for n in nets:
        n.eval().requires_grad_(False)
    try:
        yield
    finally:
        for n, mode, fl in zip(nets, modes, flags):
            n.train(mode)
            for p, f in zip(n.parameters(), fl):
                p.requires_grad_(f)


def optimise_latent(loss_fn: LossFn, n: int, z_dim: int, *, iters: int = 1000, lr: float = 0.03,
                    betas: tuple[float, float] = (0.9, 0.999), z_clamp: float = 1.0, restarts: int = 1,
                    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                    progress: bool = False, desc: str = "latent search", snapshots: Sequence[int] = ()) -> LatentResult:
    """Minimise ``Σ_images loss_fn(z)["total"]`` over ``z`` (``n×z_dim``) with Adam, z₀ ~ N(0, I),
    clamping z to ``[−z_clamp, z_clamp]`` after every step (section 4).

    ``history[k]`` is ``(iters + 1)×n``: term ``k`` before each step and after the last one.
    With ``restarts > 1`` each image keeps the restart whose final total is lowest.
    ``snapshots``: iterations ``k`` (0 … iters) at which to keep G(z_k), the image before step
    ``k + 1`` (``iters``: the final one), in ``result.snapshots`` — free: the loss computes it anyway.
    """
    from tqdm.auto import tqdm

    best: LatentResult | None = None
    keep = {int(k) for k in snapshots if 0 <= int(k) <= iters}
    bar = tqdm(total=iters * restarts, desc=desc, disable=not progress, leave=False)
    for _ in range(max(1, restarts)):
        z = torch.randn(n, z_dim, generator=generator, device=generator.device if generator is not None else device)
        z = z.to(device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr, betas=betas)
        hist: dict[str, list[Tensor]] = {}
        snaps: dict[int, Tensor] = {}
        for it in range(iters):
            with torch.enable_grad():  # the search needs gradients even when called under no_grad
                terms = loss_fn(z)
                _record(hist, terms)
                if it in keep:
                    snaps[it] = terms["image"].detach().clone()
                opt.zero_grad(set_to_none=True)
                terms["total"].sum().backward()  # a sum: each image's z gets its own loss's gradient
            opt.step()
            with torch.no_grad():
                z.clamp_(-z_clamp, z_clamp)
            bar.update(1)
        with torch.no_grad():
            terms = loss_fn(z)
        _record(hist, terms)
        if iters in keep:
            snaps[iters] = terms["image"].detach().clone()
        run = LatentResult(z.detach().clone(), terms["image"].detach(), terms["total"].detach().clone(),
                           {k: torch.stack(v) for k, v in hist.items()}, snaps)
        best = run if best is None else _keep_best(best, run)
    bar.close()
    assert best is not None
    return best


def _record(hist: dict[str, list[Tensor]], terms: dict[str, Tensor]) -> None:
    for k, v in terms.items():
        if k != "image":
            hist.setdefault(k, []).append(v.detach().clone())


def _keep_best(a: LatentResult, b: LatentResult) -> LatentResult:
    take_b = b.loss < a.loss
    pick = lambda x, y, k: torch.where(k.view(-1, *([1] * (x.dim() - 1))), y, x)  # noqa: E731
    hist = {k: torch.where(take_b.view(1, -1), b.history[k], a.history[k]) for k in a.history}
    snaps = {k: pick(a.snapshots[k], b.snapshots[k], take_b) for k in a.snapshots}
    return LatentResult(pick(a.z, b.z, take_b), pick(a.image, b.image, take_b), torch.where(take_b, b.loss, a.loss),
                        hist, snaps)


def complete(G: nn.Module, D: nn.Module, D_patch: nn.Module | None, image: Tensor, hole: Tensor,
             cfg: LatentConfig | None = None, *, generator: torch.Generator | None = None,
             progress: bool = False, snapshots: Sequence[int] = ()) -> LatentResult:
    """Semantic completion of eq. (5)–(8): find ẑ for ``image`` (``N×3×H×W``, [−1, 1]) with
    ``hole`` (``N×1×H×W``, 1 = missing). ``result.image`` is G(ẑ); blend it yourself
    (:func:`faceinpaint.poisson.poisson_blend`, eq. 9)."""
    cfg = cfg or LatentConfig()
    with frozen_eval(G, D, D_patch):
        fn = completion_loss(G, D, D_patch, image, hole, cfg)
        return optimise_latent(fn, image.shape[0], G.z_dim, iters=cfg.iters, lr=cfg.lr, betas=cfg.betas,
                               z_clamp=cfg.z_clamp, restarts=cfg.restarts, generator=generator,
                               device=image.device, progress=progress, desc="latent completion", snapshots=snapshots)


def complete_conditional(G: nn.Module, D: nn.Module, image: Tensor, hole: Tensor, reference: Tensor,
                         cfg: ConditionalConfig | None = None, latent: LatentConfig | None = None, *,
                         generator: torch.Generator | None = None, progress: bool = False,
                         snapshots: Sequence[int] = ()) -> LatentResult:
    """Conditional face completion, eq. (10)–(15): keep ``image`` (y₁) outside ``hole`` and take
    the structure of ``reference`` (y₂, aligned with y₁) inside it. ``latent`` gives the
    optimiser settings (iterations, lr, clamp, window, restarts)."""
    cfg, latent = cfg or ConditionalConfig(), latent or LatentConfig()
    if reference.shape != image.shape:
        raise ValueError(f"the reference {tuple(reference.shape)} must match the image {tuple(image.shape)}")
    with frozen_eval(G, D):
        fn = conditional_loss(G, D, image, hole, reference, cfg, latent.window)
        return optimise_latent(fn, image.shape[0], G.z_dim, iters=latent.iters, lr=latent.lr, betas=latent.betas,
                               z_clamp=latent.z_clamp, restarts=latent.restarts, generator=generator,
                               device=image.device, progress=progress, desc="conditional completion",
                               snapshots=snapshots)
