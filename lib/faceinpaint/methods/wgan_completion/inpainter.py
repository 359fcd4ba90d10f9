"""wgan_completion's Inpainter: the latent search (eq. 5–8; conditional: eq. 10–15), then Poisson
blending (eq. 9, :mod:`faceinpaint.poisson`); Yeh et al.'s baseline on the same prior; the loaders.

Optimisation (section 4): z₀ ~ N(0, I) (128-d), Adam (lr 0.03, β = (0.9, 0.999)), 1000
iterations, z clamped to [−1, 1] after every step. All images of a batch are optimised
together: the loss is the *sum* of the per-image losses, the networks are in eval mode
(batch norm uses its running statistics) and Adam is element-wise, so each image's latent
code follows exactly the path it would follow alone.

Two implementations of the same search (``search=`` of :func:`complete`, :func:`complete_conditional`,
:class:`WGANCompletion` and ``build``):

* ``"fast"`` (default, issue 19) — the profile of the reference search (``torch.profiler``, cpu
  preset, one thread, batch 1) is ≈ 60 % convolutions forward and backward through G, D and
  D_patch, ≈ 15 % norms, pooling and upsampling, the rest the loss, Adam and autograd's
  bookkeeping (the parameters are frozen already: only ∂/∂z is computed). So the search runs on
  *search copies* of the three networks (:class:`SearchNet`): frozen, channels-last (oneDNN's fast
  layout for these convolutions; the 8-channel layer norms, whose channels-last kernel is slow, as
  a layer norm over the contiguous view), with convolutions and linear layers in bfloat16 when the
  Inpainter's precision says so (norm layers, z, Adam, the loss and the clamp stay float32); all
  restarts run as one batch (the same z₀ draws as the reference path, restart by restart); the kept
  G(ẑ) and final losses come from the original float32 networks. ``benchmarks/bench_speed.py``
  times both paths side by side, ``tests/test_precision.py`` checks the results are as good.
* ``"reference"`` — the search as first written (the networks as they are, restarts one after
  another), kept for comparison.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import FaceInpaintError
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
                    progress: bool = False, desc: str = "latent search", snapshots: Sequence[int] = (),
                    z0: Tensor | None = None, final_fn: LossFn | None = None) -> LatentResult:
    """Minimise ``Σ_images loss_fn(z)["total"]`` over ``z`` (``n×z_dim``) with Adam, z₀ ~ N(0, I),
    clamping z to ``[−z_clamp, z_clamp]`` after every step (section 4).

    ``history[k]`` is ``(iters + 1)×n``: term ``k`` before each step and after the last one.
    With ``restarts > 1`` each image keeps the restart whose final total is lowest.
    ``snapshots``: iterations ``k`` (0 … iters) at which to keep G(z_k), the image before step
    ``k + 1`` (``iters``: the final one), in ``result.snapshots`` — free: the loss computes it anyway.
    ``z0``: the start (``n×z_dim``, one restart) instead of a draw; ``final_fn``: the loss that
    evaluates the final z (default ``loss_fn``; the fast search gives the float32 networks here).
    """
    from tqdm.auto import tqdm

    best: LatentResult | None = None
    keep = {int(k) for k in snapshots if 0 <= int(k) <= iters}
    if z0 is not None and restarts > 1:
        raise ValueError("a given z0 is one start: pass restarts=1")
    final_fn = final_fn or loss_fn
    bar = tqdm(total=iters * restarts, desc=desc, disable=not progress, leave=False)
    for _ in range(max(1, restarts)):
        if z0 is not None:
            z = z0.detach().clone()
        else:
            z = torch.randn(n, z_dim, generator=generator,
                            device=generator.device if generator is not None else device)
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
            terms = final_fn(z)
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


SEARCHES = ("fast", "reference")


def _check_search(search: str) -> None:
    if search not in SEARCHES:
        raise FaceInpaintError(f"search={search!r}: choose one of {', '.join(SEARCHES)}")


class _ChannelsLastLayerNorm(nn.Module):
    """:class:`~.networks.LayerNorm2d` (``GroupNorm(1, C)``) for a channels-last input as a layer norm
    over the contiguous ``(H, W, C)`` view, then the per-channel gain and bias — the same function;
    PyTorch's channels-last GroupNorm kernel is several times slower for few channels (8 at 64 px:
    5.8 vs 2.5 ms forward + backward at batch 16, bf16)."""

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.eps, self.weight, self.bias = norm.eps, norm.weight, norm.bias

    def forward(self, x: Tensor) -> Tensor:
        xp = x.permute(0, 2, 3, 1)                       # N×H×W×C, contiguous for a channels-last x
        y = F.layer_norm(xp, xp.shape[1:], eps=self.eps)
        y = y * self.weight.to(y.dtype) + self.bias.to(y.dtype)
        return y.permute(0, 3, 1, 2)


class SearchNet(nn.Module):
    """A frozen copy of one prior network for the latent search: eval mode, no parameter
    gradients, channels-last, convolutions and linear layers in ``dtype`` (norm layers keep
    float32 weights and statistics); takes and returns float32.

    The search only needs ∂loss/∂z, so freezing the copy's parameters costs nothing; the
    original network is left as it was.
    """

    def __init__(self, net: nn.Module, dtype: torch.dtype | None = None, channels_last: bool = True):
        super().__init__()
        self.dtype = dtype or torch.float32
        self.channels_last = channels_last
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        for mod in self.net.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.to(self.dtype)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
            for parent in list(self.net.modules()):
                for k, child in list(parent.named_children()):
                    if isinstance(child, nn.GroupNorm) and child.num_groups == 1 and child.num_channels <= 8:
                        setattr(parent, k, _ChannelsLastLayerNorm(child))
        self.z_dim = getattr(net, "z_dim", None)

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.dtype)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).float()


def search_nets(*nets: nn.Module | None, dtype: torch.dtype | None = None) -> list[SearchNet | None]:
    """:class:`SearchNet` copies of ``nets`` (``None`` stays ``None``). ``dtype``: float32 (``None``)
    or bfloat16; float16 is refused — z's gradients would need loss scaling."""
    if dtype not in (None, torch.float32, torch.bfloat16):
        raise ValueError(f"the latent search runs in float32 or bfloat16, not {dtype}")
    return [None if n is None else SearchNet(n, dtype) for n in nets]


def _batched_restarts(make_loss, n: int, z_dim: int, latent: LatentConfig, *, generator, device, progress: bool,
                      desc: str, snapshots: Sequence[int]) -> LatentResult:
    """All restarts as one batch of ``restarts·n`` codes; ``make_loss(r) -> (search loss, final loss)``
    for the inputs repeated ``r`` times. The starts are drawn restart by restart, as
    :func:`optimise_latent` draws them, so restart k starts where the reference path's does."""
    r = max(1, int(latent.restarts))
    dev = generator.device if generator is not None else device
    z0 = torch.cat([torch.randn(n, z_dim, generator=generator, device=dev) for _ in range(r)]).to(device)
    fn, final = make_loss(r)
    run = optimise_latent(fn, n * r, z_dim, iters=latent.iters, lr=latent.lr, betas=latent.betas,
                          z_clamp=latent.z_clamp, device=device, progress=progress, desc=desc,
                          snapshots=snapshots, z0=z0, final_fn=final)
    if r == 1:
        return run
    best: LatentResult | None = None
    for k in range(r):
        sl = slice(k * n, (k + 1) * n)
        part = LatentResult(run.z[sl], run.image[sl], run.loss[sl], {t: v[:, sl] for t, v in run.history.items()},
                            {i: v[sl] for i, v in run.snapshots.items()})
        best = part if best is None else _keep_best(best, part)
    assert best is not None
    return best


def _repeat(x: Tensor, r: int) -> Tensor:
    return x if r == 1 else x.repeat(r, *([1] * (x.dim() - 1)))


def complete(G: nn.Module, D: nn.Module, D_patch: nn.Module | None, image: Tensor, hole: Tensor,
             cfg: LatentConfig | None = None, *, generator: torch.Generator | None = None,
             progress: bool = False, snapshots: Sequence[int] = (), search: str = "fast",
             dtype: torch.dtype | None = None) -> LatentResult:
    """Semantic completion of eq. (5)–(8): find ẑ for ``image`` (``N×3×H×W``, [−1, 1]) with
    ``hole`` (``N×1×H×W``, 1 = missing). ``result.image`` is G(ẑ); blend it yourself
    (:func:`faceinpaint.poisson.poisson_blend`, eq. 9).

    ``search``: ``"fast"`` (search copies of the networks, restarts batched; ``dtype`` bfloat16
    runs their convolutions in bf16) or ``"reference"`` (module docstring)."""
    cfg = cfg or LatentConfig()
    _check_search(search)
    with frozen_eval(G, D, D_patch):
        if search == "reference":
            fn = completion_loss(G, D, D_patch, image, hole, cfg)
            return optimise_latent(fn, image.shape[0], G.z_dim, iters=cfg.iters, lr=cfg.lr, betas=cfg.betas,
                                   z_clamp=cfg.z_clamp, restarts=cfg.restarts, generator=generator,
                                   device=image.device, progress=progress, desc="latent completion",
                                   snapshots=snapshots)
        Gs, Ds, Ps = search_nets(G, D, D_patch if cfg.patch_prior and cfg.eta else None, dtype=dtype)

        def make_loss(r: int):
            img, h = _repeat(image, r), _repeat(hole, r)
            return completion_loss(Gs, Ds, Ps, img, h, cfg), completion_loss(G, D, D_patch, img, h, cfg)

        return _batched_restarts(make_loss, image.shape[0], G.z_dim, cfg, generator=generator, device=image.device,
                                 progress=progress, desc="latent completion", snapshots=snapshots)


def complete_conditional(G: nn.Module, D: nn.Module, image: Tensor, hole: Tensor, reference: Tensor,
                         cfg: ConditionalConfig | None = None, latent: LatentConfig | None = None, *,
                         generator: torch.Generator | None = None, progress: bool = False,
                         snapshots: Sequence[int] = (), search: str = "fast",
                         dtype: torch.dtype | None = None) -> LatentResult:
    """Conditional face completion, eq. (10)–(15): keep ``image`` (y₁) outside ``hole`` and take
    the structure of ``reference`` (y₂, aligned with y₁) inside it. ``latent`` gives the
    optimiser settings (iterations, lr, clamp, window, restarts); ``search`` / ``dtype`` as in
    :func:`complete`."""
    cfg, latent = cfg or ConditionalConfig(), latent or LatentConfig()
    _check_search(search)
    if reference.shape != image.shape:
        raise ValueError(f"the reference {tuple(reference.shape)} must match the image {tuple(image.shape)}")
    with frozen_eval(G, D):
        if search == "reference":
            fn = conditional_loss(G, D, image, hole, reference, cfg, latent.window)
            return optimise_latent(fn, image.shape[0], G.z_dim, iters=latent.iters, lr=latent.lr, betas=latent.betas,
                                   z_clamp=latent.z_clamp, restarts=latent.restarts, generator=generator,
                                   device=image.device, progress=progress, desc="conditional completion",
                                   snapshots=snapshots)
        Gs, Ds = search_nets(G, D, dtype=dtype)

        def make_loss(r: int):
            img, h, ref = _repeat(image, r), _repeat(hole, r), _repeat(reference, r)
            return (conditional_loss(Gs, Ds, img, h, ref, cfg, latent.window),
                    conditional_loss(G, D, img, h, ref, cfg, latent.window))

        return _batched_restarts(make_loss, image.shape[0], G.z_dim, latent, generator=generator,
                                 device=image.device, progress=progress, desc="conditional completion",
                                 snapshots=snapshots)


# ============================================================================ inpainting
class WGANCompletion:
    """Inpainter: latent search (eq. 5–8) + Poisson blending (eq. 9); with ``Guide.exemplar``,
    conditional completion (eq. 10–15): the hole is filled with the reference's structure.

    Works at the prior's resolution (64 px) and returns the composite at the input's size.
    ``seed`` draws z₀ (None → 0: the same call gives the same bytes).

    ``search``: ``"fast"`` (default) or ``"reference"`` (module docstring). Precision
    (:mod:`faceinpaint.precision`, set by ``methods.get(..., precision=...)`` through
    :meth:`set_precision`): bfloat16 runs the fast search's network copies in bf16; z, Adam, the
    loss, G(ẑ), Poisson blending and the composite stay float32.
    """

    name = METHOD

    def __init__(self, G: Generator, D: GlobalCritic, D_patch: PatchCritic | None, *,
                 latent: LatentConfig | None = None, conditional: ConditionalConfig | None = None,
                 poisson: bool = True, device: str | torch.device = "cpu", progress: bool = True,
                 search: str = "fast"):
        _check_search(search)
        self.search_mode = search
        self.search_dtype: torch.dtype | None = None   # None = float32
        self.precision = "fp32"
        self.device = torch.device(device)
        self.G, self.D = G.to(self.device).eval(), D.to(self.device).eval()
        self.D_patch = D_patch.to(self.device).eval() if D_patch is not None else None
        self.latent = latent or LatentConfig()
        self.conditional = conditional or ConditionalConfig()
        self.poisson = poisson
        self.progress = progress
        self.size = G.image_size
        self.last: LatentResult | None = None   # the last search (z, G(z), loss history) for plots

    def set_precision(self, dtype: torch.dtype | None) -> torch.dtype | None:
        """The latent search's network precision (:func:`faceinpaint.precision.apply` calls it):
        bfloat16, or float32 for anything else (float16 would need loss scaling for z's gradients;
        the reference search is always float32). Returns the dtype that will run."""
        self.search_dtype = torch.bfloat16 if dtype == torch.bfloat16 and self.search_mode == "fast" else None
        return self.search_dtype or torch.float32

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
                                        generator=gen, progress=self.progress, search=self.search_mode,
                                        dtype=self.search_dtype)
        return complete(self.G, self.D, self.D_patch, image, hole, self.latent, generator=gen, progress=self.progress,
                        search=self.search_mode, dtype=self.search_dtype)

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
    ``poisson``, ``progress``, ``search`` (``"fast"`` or ``"reference"``).
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
