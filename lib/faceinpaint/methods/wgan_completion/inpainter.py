"""wgan_completion's Inpainter: the latent search (eq. 5–8; conditional: eq. 10–15), then Poisson
blending (eq. 9, :mod:`faceinpaint.poisson`); Yeh et al.'s baseline on the same prior; the loaders.

Optimisation (section 4): z₀ ~ N(0, I) (128-d), Adam (lr 0.03, β = (0.9, 0.999)), 1000
iterations, z clamped to [−1, 1] after every step. All images of a batch are optimised
together: the loss is the *sum* of the per-image losses, the networks are in eval mode
(batch norm uses its running statistics) and Adam is element-wise, so each image's latent
code follows exactly the path it would follow alone.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...paths import checkpoints_dir
from ...poisson import poisson_blend
from ..base import Guide, run_at_resolution
from .config import METHOD, TRAIN_HINT, ConditionalConfig, LatentConfig, WGANCompletionConfig, preset_config, yeh_config
from .losses import LossFn, completion_loss, conditional_loss
from .networks import Generator, GlobalCritic, PatchCritic, build_nets


@dataclass
class LatentResult:
    z: Tensor                   # N×z_dim, the kept latent codes (in [−1, 1])
    image: Tensor               # G(ẑ), N×3×H×W, before any blending
    loss: Tensor                # N, final total loss per image
    history: dict[str, Tensor] = field(default_factory=dict)  # term → (iters + 1)×N, for plots
    snapshots: dict[int, Tensor] = field(default_factory=dict)  # iteration → G(z) at it, N×3×H×W (for plots)



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


# ============================================================================ inpainting
class WGANCompletion:
    """Inpainter: latent search (eq. 5–8) + Poisson blending (eq. 9); with ``Guide.exemplar``,
    conditional completion (eq. 10–15): the hole is filled with the reference's structure.

    Works at the prior's resolution (64 px) and returns the composite at the input's size.
    ``seed`` draws z₀ (None → 0: the same call gives the same bytes).
    """

    name = METHOD

    def __init__(self, G: Generator, D: GlobalCritic, D_patch: PatchCritic | None, *,
                 latent: LatentConfig | None = None, conditional: ConditionalConfig | None = None,
                 poisson: bool = True, device: str | torch.device = "cpu", progress: bool = True):
        self.device = torch.device(device)
        self.G, self.D = G.to(self.device).eval(), D.to(self.device).eval()
        self.D_patch = D_patch.to(self.device).eval() if D_patch is not None else None
        self.latent = latent or LatentConfig()
        self.conditional = conditional or ConditionalConfig()
        self.poisson = poisson
        self.progress = progress
        self.size = G.image_size
        self.last: LatentResult | None = None   # the last search (z, G(z), loss history) for plots

    def _generator(self, seed: int | None) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(0 if seed is None else int(seed))

    def search(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> LatentResult:
        """The latent search alone, at the prior's resolution (inputs already ``size×size``)."""
        gen = self._generator(seed)
        image, hole = image.to(self.device), hole.to(self.device)
        if guide is not None and guide.exemplar is not None:
            ref = guide.exemplar.to(self.device)
            if ref.shape[0] == 1 and image.shape[0] > 1:
                ref = ref.expand(image.shape[0], -1, -1, -1)
            if ref.shape[-2:] != image.shape[-2:]:
                ref = F.interpolate(ref.float(), size=image.shape[-2:], mode="bicubic", align_corners=False,
                                    antialias=True).clamp(-1, 1)
            return complete_conditional(self.G, self.D, image, hole, ref, self.conditional, self.latent,
                                        generator=gen, progress=self.progress)
        return complete(self.G, self.D, self.D_patch, image, hole, self.latent, generator=gen, progress=self.progress)

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        def fill(img_s: Tensor, hole_s: Tensor) -> Tensor:
            res = self.search(img_s, hole_s, guide, seed=seed)
            self.last = res
            pred = res.image.to(img_s.device)
            return poisson_blend(pred, img_s, hole_s) if self.poisson else pred

        image, hole = image.float(), hole.float()
        return run_at_resolution(lambda a, b: fill(a, b).to(image.device), image, hole, self.size)


class Yeh(WGANCompletion):
    """Yeh et al. 2017 (the paper's [39]): contextual L1 with the same W + a one-critic prior, no
    gradient term, on the same prior networks; Poisson blending as they do. An exemplar is
    ignored (Yeh et al. have no conditional mode)."""

    name = "yeh"

    def search(self, image, hole, guide=None, *, seed=None):
        return super().search(image, hole, None, seed=seed)


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / f"{METHOD}_cpu.pt"


def load_prior(checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
               ) -> tuple[WGANCompletionConfig, Generator, GlobalCritic, PatchCritic, str]:
    """Rebuild G, D, D_patch from a checkpoint (Trainer's or exported); returns the config and
    which G was loaded (``"G_ema"`` or ``"G"``)."""
    from ...train import load_net, read_method_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    ckpt, cfg_dict = read_method_checkpoint(path, METHOD, "wgan_config", TRAIN_HINT, "runs/wgan_completion_cpu")
    cfg = WGANCompletionConfig.from_dict(cfg_dict)
    nets = build_nets(cfg)
    g_name = load_net(ckpt, "G", nets["G"])
    load_net(ckpt, "D", nets["D"], prefer_ema=False)
    load_net(ckpt, "D_patch", nets["D_patch"], prefer_ema=False)
    dev = torch.device(device)
    return cfg, nets["G"].to(dev), nets["D"].to(dev), nets["D_patch"].to(dev), g_name


_LATENT_KEYS = {f.name for f in fields(LatentConfig)}


def _split_kw(kw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    lat = {k: kw.pop(k) for k in list(kw) if k in _LATENT_KEYS}
    return lat, kw


def _inference_latent(cfg: WGANCompletionConfig, preset: str | None) -> LatentConfig:
    """The checkpoint's latent settings, or — with ``preset`` — that preset's search length
    (``smoke`` 10, ``cpu`` 300, ``paper`` 1000 iterations; the weights stay the checkpoint's)."""
    if preset is None:
        return cfg.latent
    return replace(cfg.latent, iters=preset_config(preset).latent.iters)


def build(checkpoint: str | Path | None = None, device: str = "cpu", preset: str | None = None,
          **kw) -> WGANCompletion:
    """The ``wgan_completion`` Inpainter from a checkpoint (default ``checkpoints/wgan_completion_cpu.pt``).

    ``preset``: inference settings of that preset (the latent search's length), else the
    checkpoint's. Keyword arguments: any :class:`LatentConfig` field (``iters``, ``alpha``,
    ``beta``, ``eta``, ``restarts``...; they win over the preset), ``conditional=ConditionalConfig(...)``,
    ``poisson``, ``progress``.
    """
    lat, kw = _split_kw(dict(kw))
    cfg, G, D, P, _ = load_prior(checkpoint, device)
    return WGANCompletion(G, D, P, latent=replace(_inference_latent(cfg, preset), **lat),
                          conditional=kw.pop("conditional", cfg.conditional),
                          poisson=kw.pop("poisson", cfg.poisson), device=device, **kw)


def build_yeh(checkpoint: str | Path | None = None, device: str = "cpu", preset: str | None = None,
              **kw) -> Yeh:
    """The ``yeh`` baseline on the ``wgan_completion`` prior (same checkpoint, same search length)."""
    lat, kw = _split_kw(dict(kw))
    cfg, G, D, P, _ = load_prior(checkpoint, device)
    latent = yeh_config(**{"iters": _inference_latent(cfg, preset).iters, **lat})
    return Yeh(G, D, P, latent=latent, poisson=kw.pop("poisson", True), device=device, **kw)
