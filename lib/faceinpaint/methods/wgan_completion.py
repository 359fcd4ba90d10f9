"""Vitoria, Sintes & Ballester — semantic image completion through an adversarial strategy.

Two phases (paper: ``shared/papers/wgan_semantic_completion.md``):

1. learn a face prior: a WGAN-GP (eq. 4, λ = 10) with a residual generator and two critics,
   a global one and a PatchGAN one, both with layer norm (section 3.1; :mod:`faceinpaint.nn.wgan`);
2. inpaint by searching the latent space (eq. 5–8, :mod:`faceinpaint.latent`), then Poisson
   blending (eq. 9, :mod:`faceinpaint.poisson`); with a reference face (``Guide.exemplar``),
   conditional completion (eq. 10–15).

No public code exists: this is the reference implementation. ``yeh`` (:func:`build_yeh`) is
the paper's baseline, Yeh et al. 2017, on the same prior.

>>> from faceinpaint import methods
>>> m = methods.get("wgan_completion")                       # checkpoints/wgan_completion_cpu.pt
>>> out = m.inpaint(image, hole, seed=0)                       # any resolution, composite returned
>>> out = m.inpaint(image, hole, Guide(exemplar=face2))        # eq. 10–15: region from face2
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses
from ..config import config_from_dict
from ..errors import FaceInpaintError
from ..io import torch_save
from ..latent import (ConditionalConfig, LatentConfig, LatentResult, complete, complete_conditional,
                      frozen_eval)
from ..nn.wgan import (PAPER_D_CHANNELS, PAPER_G_CHANNELS, PAPER_PATCH_CHANNELS, Generator, GlobalCritic,
                       PatchCritic)
from ..paths import checkpoints_dir
from ..poisson import poisson_blend
from .base import Guide, run_at_resolution

METHOD = "wgan_completion"
TRAIN_HINT = "`faceinpaint train --method wgan_completion --preset cpu --out runs/wgan_completion_cpu`"


# ============================================================================ configuration
@dataclass
class WGANCompletionConfig:
    """Everything about one preset: networks, WGAN-GP training, latent search.

    Training length: ``steps`` critic iterations when given, else ``epochs`` passes over the
    data (one critic iteration = one batch; the generator moves every ``n_critic``-th).
    """

    preset: str = "paper"
    image_size: int = 64
    z_dim: int = 128                                         # z ~ N(0, I) in R^128 (section 4.1)
    g_channels: tuple[int, ...] = PAPER_G_CHANNELS
    d_channels: tuple[int, ...] = PAPER_D_CHANNELS
    patch_channels: tuple[int, ...] = PAPER_PATCH_CHANNELS
    batch_size: int = 64                                     # section 4
    epochs: float = 10.0                                     # section 4
    steps: int | None = None
    lr: float = 1e-4                                         # Adam, section 4
    betas: tuple[float, float] = (0.0, 0.9)                  # "β1 = 0, β2 = 0.9"
    gp_lambda: float = 10.0                                  # eq. (4), Gulrajani et al.'s λ
    # Paper silent; WGAN-GP's value (Gulrajani et al., algorithm 1).
    n_critic: int = 5
    # Not in the paper (1 = every critic step): lazy gradient penalty, computed every k-th
    # critic step with weight k·λ (StyleGAN2's lazy regularisation) — for the CPU preset.
    gp_every: int = 1
    # Not in the paper: an EMA of G for sampling/inpainting (None = the paper).
    ema: float | None = None
    # Not in the paper: random horizontal flips (faces are near-symmetric) to stretch a small set.
    hflip: bool = False
    data: str = "celeba999"
    log_every: int = 50
    sample_every: int = 1000
    ckpt_every: int = 1000
    latent: LatentConfig = field(default_factory=LatentConfig)
    conditional: ConditionalConfig = field(default_factory=ConditionalConfig)
    poisson: bool = True                                     # eq. (9) after the search

    def total_steps(self, n_images: int) -> int:
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * n_images / self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "WGANCompletionConfig":
        return config_from_dict(cls, d)


def _paper() -> WGANCompletionConfig:
    return WGANCompletionConfig(preset="paper", sample_every=2000, ckpt_every=2000)


def _cpu() -> WGANCompletionConfig:
    """Narrow nets for a shared 2-core CPU (one thread): ~2500 critic steps in 60–90 min, a
    3.8 MB inference checkpoint (14.3 MB for the full Trainer checkpoint with optimizer state), blurry
    but recognisable faces.

    Why (measured with benchmarks/bench_wgan_completion.py and a profiler): a critic step runs
    both critics on real, fake and interpolated images plus the gradient penalty's double
    backward, and at 64 px the full-resolution convolutions dominate. Hence, deviations from
    the paper, all for speed:

    * critics thin at 64 and 32 px (8, 16 channels) and at most 64 wide; G keeps more width
      (128 → 16), which is where sample quality comes from and costs little;
    * batch 16 (paper 64) and ``n_critic = 2`` (WGAN-GP: 5): more generator updates per second;
    * lazy gradient penalty every 4 critic steps (×4 weight): the penalty is ~55 % of a
      critic step's time at these widths;
    * lr 2e-4 (paper 1e-4) for a 2500-step run; an EMA of G (0.995, ~200-step window) smooths
      the last steps' oscillation; horizontal flips double the ~900 training faces;
    * inference (``build(preset="cpu")``): a 300-iteration latent search (paper: 1000), ~3× faster;
      the loss curves of notebook 11 show where the search levels off. A checkpoint keeps the
      latent settings it was trained with (``build()`` without a preset uses those).

    After 300 steps (≈ 5 min) G already draws face-like blobs; the Wasserstein estimates stay
    around 2 and the penalties near 0.1.
    """
    return WGANCompletionConfig(
        preset="cpu", g_channels=(128, 128, 64, 32, 16), d_channels=(8, 16, 32, 64, 64),
        patch_channels=(8, 16, 32, 32), batch_size=16, steps=2500, lr=2e-4, n_critic=2, gp_every=4,
        ema=0.995, hflip=True, log_every=50, sample_every=250, ckpt_every=250, latent=LatentConfig(iters=300))


def _smoke() -> WGANCompletionConfig:
    """Seconds: the smallest nets that still have every block, a few steps, a short search."""
    return WGANCompletionConfig(
        preset="smoke", g_channels=(16, 16, 8, 8, 8), d_channels=(4, 4, 8, 8, 8), patch_channels=(4, 4, 8, 8),
        batch_size=4, steps=4, n_critic=2, ema=0.9, hflip=True, log_every=2, sample_every=4, ckpt_every=4,
        latent=LatentConfig(iters=10))


PRESETS = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}


def preset_config(name: str, **overrides) -> WGANCompletionConfig:
    """The named preset (``paper``, ``cpu``, ``smoke``), with field overrides."""
    if name not in PRESETS:
        raise FaceInpaintError(f"unknown preset {name!r} for {METHOD} (known: {', '.join(PRESETS)})")
    return replace(PRESETS[name](), **overrides)


def build_nets(cfg: WGANCompletionConfig) -> dict[str, nn.Module]:
    G = Generator(cfg.z_dim, cfg.g_channels)
    if G.image_size != cfg.image_size:
        raise ValueError(f"g_channels {cfg.g_channels} make {G.image_size}-px images, not {cfg.image_size}")
    return {"G": G, "D": GlobalCritic(cfg.d_channels, cfg.image_size), "D_patch": PatchCritic(cfg.patch_channels)}


# ============================================================================ training (section 3.1, eq. 4)
class WGANCompletionTask:
    """WGAN-GP with two critics for the :class:`faceinpaint.train.Trainer`.

    One ``train_step`` = one critic iteration (both critics, each with its own gradient
    penalty: they have separate parameters w₁, w₂, eq. 8); every ``n_critic``-th step also
    moves G against both: ``L_G = −D(G(z)) − D_patch(G(z))`` (the same sum as the prior, eq. 8).
    One Adam optimizer holds both critics: their losses are separate sums, and Adam is
    per-parameter, so this equals two optimizers with the same settings.
    """

    method = METHOD

    def __init__(self, cfg: WGANCompletionConfig):
        self.cfg = cfg
        self.preset = cfg.preset
        self.nets = build_nets(cfg)
        self.ema = {"G": cfg.ema} if cfg.ema else {}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        critics = list(self.nets["D"].parameters()) + list(self.nets["D_patch"].parameters())
        return {"G": torch.optim.Adam(self.nets["G"].parameters(), c.lr, betas=c.betas),
                "D": torch.optim.Adam(critics, c.lr, betas=c.betas)}

    def _augment(self, real: Tensor) -> Tensor:
        if not self.cfg.hflip:
            return real
        flip = torch.rand(real.shape[0], device=real.device) < 0.5  # global RNG: checkpointed by the Trainer
        return torch.where(flip.view(-1, 1, 1, 1), real.flip(-1), real)

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, G, D, P = self.cfg, self.nets["G"], self.nets["D"], self.nets["D_patch"]
        real = self._augment(batch["image"])
        n = real.shape[0]
        with torch.no_grad():
            fake = G(torch.randn(n, c.z_dim, device=real.device))
        with ctx.autocast():
            d_real, d_fake = D(real), D(fake)
            p_real, p_fake = P(real), P(fake)
        # eq. (4) for each critic, minimised: E[D(fake)] − E[D(real)] + λ·GP
        loss_d = losses.wgan_d_loss(d_real, d_fake) + losses.wgan_d_loss(p_real, p_fake)
        out = {"w_global": (d_real.mean() - d_fake.mean()).item(),  # the critics' Wasserstein estimates
               "w_patch": (p_real.mean() - p_fake.mean()).item()}
        if ctx.every(c.gp_every):  # lazy: every gp_every-th step, weighted by gp_every (1 = the paper)
            gp_d = losses.gradient_penalty(D, real, fake)
            gp_p = losses.gradient_penalty(P, real, fake)
            loss_d = loss_d + c.gp_lambda * c.gp_every * (gp_d + gp_p)
            out.update(gp_global=gp_d.item(), gp_patch=gp_p.item())
        ctx.optimize("D", loss_d)
        if ctx.every(c.n_critic):
            with ctx.frozen("D", "D_patch"), ctx.autocast():
                x = G(torch.randn(n, c.z_dim, device=real.device))
                loss_g = losses.wgan_g_loss(D(x)) + losses.wgan_g_loss(P(x))
            ctx.optimize("G", loss_g)
            out["g"] = loss_g.item()
        return out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        G = self.nets.get("G_ema", self.nets["G"])
        z = torch.randn(n, self.cfg.z_dim, generator=generator, device=generator.device)
        with frozen_eval(G):
            return G(z)


def _default_dataset(cfg: WGANCompletionConfig, data: str | None):
    """``data``: ``None`` / the data root → the prepared CelebA-999 train split; ``"olivetti"`` →
    the 400 Olivetti faces (gray → RGB); an image folder → all its faces; else a prepared set's name."""
    from .. import data as fdata
    from ..paths import data_root

    if data is not None and str(data).lower() == "olivetti":
        images, _ = fdata.load_olivetti()  # 400×64×64 gray in [0, 1]
        x = torch.from_numpy(images)[:, None].expand(-1, 3, -1, -1) * 2 - 1  # RGB in [−1, 1]: the prior's format
        if x.shape[-1] != cfg.image_size:
            x = F.interpolate(x, size=(cfg.image_size,) * 2, mode="bicubic", align_corners=False,
                              antialias=True).clamp(-1, 1)
        return [{"image": img} for img in x.contiguous()]
    if data is None or Path(data).resolve() == data_root().resolve():
        return fdata.FaceDataset(cfg.data, split="train", size=cfg.image_size)
    if Path(data).is_dir():  # a user's face folder (CelebA-HQ, FFHQ, any images): all of it
        return fdata.FaceDataset.from_folder(data, size=cfg.image_size)
    return fdata.FaceDataset(str(data), split="train", size=cfg.image_size)  # a prepared set by name


def fit(cfg: WGANCompletionConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0,
        progress: bool = True, device: str = "auto") -> Path:
    """Train ``cfg`` on ``dataset`` (items ``{"image": 3×S×S in [−1, 1]}``) through the Trainer.

    Writes ``out/checkpoint.pt`` (everything, for ``resume``) and the inference file
    ``out/wgan_completion_<preset>.pt`` (nets only: G — its EMA when there is one —, D,
    D_patch; what :func:`build` loads and ``checkpoints/wgan_completion_cpu.pt`` is a copy of).
    Returns the inference file.
    """
    from ..train import Trainer, TrainerConfig, seed_everything

    seed_everything(seed)  # the nets' initial weights depend on the seed only
    task = WGANCompletionTask(cfg)
    tcfg = TrainerConfig(steps=cfg.total_steps(len(dataset)), batch_size=cfg.batch_size, seed=seed,
                         log_every=cfg.log_every, sample_every=cfg.sample_every, ckpt_every=cfg.ckpt_every,
                         out_dir=str(out), progress=progress, device=device)
    trainer = Trainer(task, dataset, tcfg, meta={"preset": cfg.preset, "wgan_config": cfg.to_dict()})
    result = trainer.fit(resume=resume)
    return export_inference(result.checkpoint or Path(out) / "checkpoint.pt",
                            Path(out) / f"{METHOD}_{cfg.preset}.pt")


def export_inference(trainer_ckpt: str | Path, dest: str | Path) -> Path:
    """Copy the nets inference needs (no optimizer, no RNG state) into a smaller checkpoint
    in the Trainer's format (so :func:`faceinpaint.train.read_checkpoint` reads it)."""
    from ..train import read_checkpoint

    ckpt = read_checkpoint(trainer_ckpt)
    nets = ckpt["nets"]
    keep = {"G_ema": nets["G_ema"]} if "G_ema" in nets else {"G": nets["G"]}
    keep.update(D=nets["D"], D_patch=nets["D_patch"])
    slim = {k: ckpt[k] for k in ("format", "step", "config", "meta") if k in ckpt}
    slim["nets"] = keep
    torch_save(slim, dest)
    return Path(dest)


def train(preset: str = "cpu", data: str | None = None, out: str | Path = "runs/wgan_completion", resume: bool = False,
          seed: int = 0) -> Path:
    """The registry's entry point (``faceinpaint train --method wgan_completion``)."""
    cfg = preset_config(preset)
    return fit(cfg, _default_dataset(cfg, data), out, resume=resume, seed=seed)


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


def yeh_config(**kw) -> LatentConfig:
    """Yeh et al.: ``L = ‖W ⊙ (G(z) − y)‖₁ + λ·L_p`` with λ = 0.003 (their section 3.3), so α = 1,
    β = 0, η = 0.003; z clamped to [−1, 1] as in their code. Their prior term reads one global
    discriminator, so ours reads the global critic only (``patch_prior=False``: −D, not eq. 8's
    −D − D_patch). Differences, because the prior is shared: −D of our WGAN critic instead of
    their DCGAN's log(1 − D), and z₀ ~ N(0, I) as this prior was trained (their DCGAN: U[−1, 1])."""
    return replace(LatentConfig(alpha=1.0, beta=0.0, eta=0.003, patch_prior=False), **kw)


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / f"{METHOD}_cpu.pt"


def load_prior(checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
               ) -> tuple[WGANCompletionConfig, Generator, GlobalCritic, PatchCritic, str]:
    """Rebuild G, D, D_patch from a checkpoint (Trainer's or exported); returns the config and
    which G was loaded (``"G_ema"`` or ``"G"``)."""
    from ..train import load_net, read_method_checkpoint

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
