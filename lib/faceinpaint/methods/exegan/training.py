"""EXE-GAN's training: three stages as Tasks for the shared Trainer, :func:`fit`, :func:`export_inference`.

The paper's style encoder E is a pretrained pSp encoder into a pretrained StyleGAN2's W+
(§ III-A-2); neither exists offline (issue 15, item 3). So E is made here first, then frozen:

1. ``"prior"`` — :class:`PriorTask`: G_u, an unconditional StyleGAN2 on the training faces
   (non-saturating logistic loss, lazy R1, path length optional, style mixing, EMA) — the
   stand-in for the pretrained StyleGAN2 behind pSp;
2. ``"encoder"`` — :class:`EncoderTask`: E learns to invert G_u's W+ (the design and its
   reasons are in the class docstring), G_u frozen;
3. ``"inpaint"`` — :class:`InpaintTask`: EXE-GAN itself (Algorithm 1, eq. 1–12) with E frozen.

Each stage runs in ``out/<stage>/`` with an exact resume; :func:`fit` skips finished stages
when resuming and writes the inference files (:func:`export_inference`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ... import losses
from ...errors import FaceInpaintError
from ...io import torch_save
from .config import METHOD, STAGES, TRAIN_HINT, ExeGANConfig, encoder_name, inference_name, preset_config
from .losses import ObjectiveWeights, PerceptualTerm, generator_objective, path_length_penalty, svgl_maps
from .networks import (MultiStyleGenerator, StyleEncoder, UnconditionalGenerator, build_discriminator,
                       build_generator, build_style_encoder, build_unconditional_generator, exemplar_phi,
                       mix_exemplar_styles, random_crossover)


# ============================================================================ shared helpers
def lazy_adam(params, lr: float, betas: tuple[float, float], reg_every: int, correct: bool = True) -> torch.optim.Adam:
    """Adam for a network regularised every ``reg_every`` steps (StyleGAN2 app. B, "lazy
    regularization"): with ``c = k/(k+1)`` the lr is ``lr·c`` and β is ``(β₁^c, β₂^c)`` so that
    the regularisation steps do not change the optimiser's effective horizon. ``reg_every`` 0
    (no regulariser) or ``correct=False``: plain Adam."""
    c = reg_every / (reg_every + 1) if reg_every > 0 and correct else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c))


def hflip(image: Tensor) -> Tensor:
    """Mirror each face with probability ½ (from torch's global RNG: checkpointed, exact resume)."""
    flip = (torch.rand(image.shape[0]) < 0.5).to(image.device).view(-1, 1, 1, 1)
    return torch.where(flip, image.flip(-1), image)


def _numpy_rng() -> np.random.Generator:
    # from torch's global RNG, which the Trainer seeds and checkpoints: exact resume
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


def training_holes(cfg: ExeGANConfig, n: int, device=None) -> Tensor:
    """Training masks (§ IV-A-3, kind ``cfg.mask_kind``): one for the whole batch, repeated
    (the authors' code), or one per face with ``cfg.mask_per_sample``. N×1×S×S, 1 = missing."""
    from ... import masks

    rng = _numpy_rng()
    k = n if cfg.mask_per_sample else 1
    hole = masks.to_tensor([masks.sample(cfg.mask_kind, cfg.image_size, rng) for _ in range(k)])
    return hole.expand(n, -1, -1, -1).contiguous().to(device) if k == 1 else hole.to(device)


def exemplar_batch(image: Tensor, tau: float) -> tuple[Tensor, bool]:
    """Algorithm 1, lines 4–8: with probability τ the exemplars are other faces (here: the
    batch rolled by a random shift in [1, N−1], so no face is its own exemplar), else the
    ground truths themselves (``I_exe ← I_gt``). One draw per batch, as the algorithm's single r.
    A batch of one face has no other face: its exemplar is itself. Returns ``(exemplars, is_self)``."""
    n = image.shape[0]
    r = float(torch.rand(()))
    if n < 2 or r >= tau:
        return image, True
    shift = int(torch.randint(1, n, ()))
    return image.roll(shift, 0), False


def sample_stochastic_styles(net: MultiStyleGenerator | UnconditionalGenerator, n: int, device, mixing_prob: float,
                             psi: float = 1.0) -> Tensor:
    """w̃ = f(z) in W̃+ (N×L×D) with z ~ N(0, I); with probability ``mixing_prob`` (one draw
    per batch, as StyleGAN2's ``mixing_noise``) style mixing of two z at a random crossover
    (§ IV-A-3: mixing regularisation). From torch's global RNG."""
    z = torch.randn(n, net.style_dim, device=device)
    if mixing_prob > 0 and float(torch.rand(())) < mixing_prob:
        z2 = torch.randn(n, net.style_dim, device=device)
        return net.stochastic_styles(z, z2=z2, crossover=random_crossover(net.n_styles), psi=psi)
    return net.stochastic_styles(z, psi=psi)


def _eval_copy(net: nn.Module) -> nn.Module:
    """Frozen for use inside another stage: eval mode, no parameter gradients."""
    return net.eval().requires_grad_(False)


class _PreviewMixin:
    preview: dict[str, Tensor] | None = None

    def _preview(self, n: int, device) -> dict[str, Tensor] | None:
        if self.preview is None:
            return None
        return {k: v[:n].to(device) for k, v in self.preview.items()}


def _r1_step(ctx, D: nn.Module, real: Tensor, cfg: ExeGANConfig) -> float | None:
    """Eq. (4)'s ``γ/2 E‖∇D(I_gt)‖²``, lazy: every ``d_reg_every`` D steps, × ``d_reg_every``."""
    if not ctx.every(cfg.d_reg_every):
        return None
    r1 = losses.r1_loss(D, real, gamma=cfg.r1_gamma, every=cfg.d_reg_every)
    ctx.optimize("D", r1)
    return r1.item() / (cfg.r1_gamma / 2 * cfg.d_reg_every)   # logged: E‖∇D‖² itself


# ============================================================================ stage 1: G_u
class PriorTask(_PreviewMixin):
    """Stage ``"prior"``: G_u, an unconditional StyleGAN2 (Karras et al. 2020) on the training
    faces — what E learns to invert (:class:`EncoderTask`). Not part of EXE-GAN: it stands in
    for the pretrained StyleGAN2 behind pSp, and is trained like one (StyleGAN2's config-f recipe
    at the preset's size): per step a D step with the non-saturating logistic loss (eq. 4 of
    EXE-GAN is the same loss), lazy R1 (γ = 10, every 16), a G step, lazy path-length
    regularisation (every 4, weight ``prior_path_reg_weight``, 0 = off), style mixing with
    probability ``prior_mixing_prob``, EMA of G. Adam β = ``prior_betas`` (StyleGAN2's (0, 0.99)).
    """

    method = METHOD

    def __init__(self, cfg: ExeGANConfig, preview: dict[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        self.nets = {"G": build_unconditional_generator(cfg), "D": build_discriminator(cfg)}
        self.ema = {"G": cfg.prior_ema}
        self.mean_path = torch.zeros(())
        self.preview = preview

    def _g_reg_every(self) -> int:
        return self.cfg.g_reg_every if self.cfg.prior_path_reg_weight > 0 else 0

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {"G": lazy_adam(self.nets["G"].parameters(), c.prior_lr, c.prior_betas, self._g_reg_every(),
                               c.lazy_reg_correction),
                "D": lazy_adam(self.nets["D"].parameters(), c.prior_lr, c.prior_betas, c.d_reg_every,
                               c.lazy_reg_correction)}

    def state_dict(self) -> dict[str, Any]:
        return {"mean_path_length": self.mean_path.clone()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.mean_path = d["mean_path_length"].detach().clone().cpu()

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, G, D = self.cfg, self.nets["G"], self.nets["D"]
        real = batch["image"]
        if c.hflip:
            real = hflip(real)
        n, dev = real.shape[0], real.device
        logs: dict[str, float] = {}
        # D: non-saturating logistic loss, then the lazy R1 step
        with torch.no_grad():
            fake = G(sample_stochastic_styles(G, n, dev, c.prior_mixing_prob))
        with ctx.autocast():
            loss_d = losses.logistic_d_loss(D(real).float(), D(fake).float())
        ctx.optimize("D", loss_d)
        r1 = _r1_step(ctx, D, real, c)
        if r1 is not None:
            logs["r1"] = r1
        # G: non-saturating loss through the frozen D
        with ctx.frozen("D"), ctx.autocast():
            fake = G(sample_stochastic_styles(G, n, dev, c.prior_mixing_prob))
            loss_g = losses.logistic_g_loss(D(fake).float())
        ctx.optimize("G", loss_g)
        every = self._g_reg_every()
        if every and ctx.every(every):
            m = max(1, n // c.path_batch_shrink)
            w = sample_stochastic_styles(G, m, dev, c.prior_mixing_prob)
            pen, self.mean_path, lengths = path_length_penalty(G(w), w, self.mean_path.to(dev), c.path_decay)
            ctx.optimize("G", c.prior_path_reg_weight * every * pen)
            logs["path"], logs["path_length"] = pen.item(), lengths.mean().item()
            self.mean_path = self.mean_path.cpu()
        logs.update(d=loss_d.item(), g=loss_g.item())
        return logs

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        G = self.nets.get("G_ema", self.nets["G"])
        z = torch.randn(n, G.style_dim, generator=generator, device=generator.device)
        noise = G.synthesis.make_noise(n, generator=generator, device=generator.device)
        return G(G.stochastic_styles(z), noise=noise)


# ============================================================================ stage 2: E
class EncoderTask(_PreviewMixin):
    """Stage ``"encoder"``: the style encoder E learns to invert G_u's W+ (G_u frozen, its EMA).

    Design (ours; pSp's recipe where it applies, with why):

    * **code loss on G_u's samples**, ``‖E(G_u(w⁺)) − w⁺‖²`` (mean over layers and dims), w⁺
      from G_u's mapping with style mixing (so E sees codes that differ across layers, as W+
      codes do) — only here is the true code known; it anchors E in G_u's W+, the space
      whose per-layer split φ selects (eq. 1);
    * **reconstruction on real faces** through G_u, ``λ_l2 ‖G_u(E(x)) − x‖² + λ_vgg d(G_u(E(x)), x)``
      (pSp's λ_l2 = 1, λ_lpips = 0.8; d = the VGG19 distance where LPIPS is unavailable) — the
      faces EXE-GAN's E will read are real faces and completions, not G_u's samples; a short
      CPU G_u covers the faces poorly, and this term makes E's codes carry what the face looks
      like even where G_u cannot render it exactly (issue 15 asks that E's codes carry the face:
      attribute probe, same-person distances).

    Adam, lr ``encoder_lr``; E's heads predict offsets from G_u's mean w (pSp's
    ``start_from_latent_avg``). E is frozen afterwards (:class:`InpaintTask`).
    """

    method = METHOD

    def __init__(self, cfg: ExeGANConfig, prior: UnconditionalGenerator, perceptual: nn.Module | None = None,
                 preview: dict[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        E = build_style_encoder(cfg)
        E.set_w_avg(prior.mapping.w_avg)
        self.nets = {"E": E}
        self.ema = {}
        self.prior = _eval_copy(prior)
        self.perceptual = perceptual if perceptual is not None else (
            PerceptualTerm(cfg.perceptual) if cfg.encoder_vgg_weight > 0 else None)
        self.preview = preview

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {"E": torch.optim.Adam(self.nets["E"].parameters(), c.encoder_lr, betas=c.encoder_betas)}

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, E, Gu = self.cfg, self.nets["E"], self.prior.to(ctx.device)
        real = batch["image"]
        if c.hflip:
            real = hflip(real)
        n, dev = real.shape[0], real.device
        with torch.no_grad():
            w = sample_stochastic_styles(Gu, n, dev, c.mixing_prob, psi=c.encoder_psi)
            x_sample = Gu(w)
        with ctx.autocast():
            loss_w = F.mse_loss(E(x_sample).float(), w)
            rec = Gu(E(real)).float()
        loss_l2 = F.mse_loss(rec, real)
        loss_vgg = self.perceptual(rec, real).mean() if self.perceptual is not None and c.encoder_vgg_weight > 0 \
            else rec.new_zeros(())
        total = c.encoder_w_weight * loss_w + c.encoder_l2_weight * loss_l2 + c.encoder_vgg_weight * loss_vgg
        ctx.optimize("E", total)
        return {"w": loss_w.item(), "l2": loss_l2.item(), "vgg": loss_vgg.item(), "total": total.item()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        pv = self._preview(max(1, n // 2), generator.device)
        if pv is None:
            return None
        Gu = self.prior.to(generator.device)
        noise = Gu.synthesis.make_noise(len(pv["image"]), mode="const")
        return torch.cat([pv["image"], Gu(self.nets["E"](pv["image"]), noise=noise)])


# ============================================================================ stage 3: EXE-GAN
class InpaintTask(_PreviewMixin):
    """Stage ``"inpaint"``: EXE-GAN (Algorithm 1) for the Trainer, E frozen.

    Per step (Algorithm 1): exemplars (τ: another face of the batch, else the image itself,
    :func:`exemplar_batch`); masks (:func:`training_holes`); ``M_w``, ``M̄_w`` (eq. 11–12);
    ŵ = mixing(E(I_exe), f(z)) on the φ layers (eq. 1; z with style mixing, probability
    ``mixing_prob``); ``I_out`` (eq. 2–3); then — in the algorithm's order, lines 15–16 — the
    update of f and G with eq. (8) (D frozen; E frozen, gradients through it to I_out), then
    the update of D with eq. (4) on the same I_out (detached) and the lazy R1. StyleGAN2 and the
    authors' code step D first; the paper's order also saves a second G forward per step.
    Lazy path-length regularisation of G w.r.t. ŵ (``path_reg_weight``, 0 = off; code, paper
    silent). EMA of G (``ema``). Adam lr 0.002, β = ``betas`` (the paper's (0.5, 0.99)).
    """

    method = METHOD

    def __init__(self, cfg: ExeGANConfig, encoder: StyleEncoder, *, identity: nn.Module | None = None,
                 perceptual: nn.Module | None = None, identity_name: str | None = None,
                 preview: dict[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        self.nets = {"G": build_generator(cfg), "D": build_discriminator(cfg)}
        self.ema = {"G": cfg.ema}
        self.E = _eval_copy(encoder)
        if identity is None and cfg.lambda_id > 0:
            identity, identity_name = losses.identity_embedder()
        self.identity = identity
        self.identity_name = identity_name or getattr(identity, "name", type(identity).__name__)
        if perceptual is None and cfg.use_lpips and cfg.lambda_lpips > 0:
            perceptual = PerceptualTerm(cfg.perceptual)
        self.perceptual = perceptual
        self.phi = exemplar_phi(cfg)
        self.weights = ObjectiveWeights.from_config(cfg)
        self.mean_path = torch.zeros(())
        self.preview = preview

    def _g_reg_every(self) -> int:
        return self.cfg.g_reg_every if self.cfg.path_reg_weight > 0 else 0

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {"G": lazy_adam(self.nets["G"].parameters(), c.lr, c.betas, self._g_reg_every(), c.lazy_reg_correction),
                "D": lazy_adam(self.nets["D"].parameters(), c.lr, c.betas, c.d_reg_every, c.lazy_reg_correction)}

    def state_dict(self) -> dict[str, Any]:
        return {"mean_path_length": self.mean_path.clone()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        self.mean_path = d["mean_path_length"].detach().clone().cpu()

    def _to(self, device) -> None:
        for m in (self.E, self.identity, self.perceptual):
            if m is not None:
                m.to(device)

    def styles(self, exemplar: Tensor, n: int, device) -> Tensor:
        """ŵ of eq. (1): E(I_exe) on the φ layers, f(z) (mixing regularisation) elsewhere."""
        with torch.no_grad():
            w_exe = self.E(exemplar)
        w_sto = sample_stochastic_styles(self.nets["G"], n, device, self.cfg.mixing_prob)
        return mix_exemplar_styles(w_exe, w_sto, self.phi.to(device))

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, G, D = self.cfg, self.nets["G"], self.nets["D"]
        self._to(ctx.device)
        image = batch["image"]
        if c.hflip:
            image = hflip(image)
        n, dev = image.shape[0], image.device
        exemplar, is_self = exemplar_batch(image, c.tau)                  # Algorithm 1, 4–8
        hole = training_holes(c, n, dev)                                  # 9
        maps = svgl_maps(hole, c)                                         # 10–11
        w_hat = self.styles(exemplar, n, dev)                             # 13 (eq. 1)
        # 15: f and G with eq. (8), D frozen
        with ctx.frozen("D"), ctx.autocast():
            out, _ = G.complete(image, hole, w_hat)                       # 12–14 (eq. 2–3)
            out = out.float()
            terms = generator_objective(D(out).float(), out, image, exemplar, is_self, w_hat, self.phi.to(dev), maps,
                                        identity=self.identity, encoder=self.E, perceptual=self.perceptual,
                                        weights=self.weights)
        ctx.optimize("G", terms["total"])
        logs = {f"g_{k}": v.item() for k, v in terms.items()}
        every = self._g_reg_every()
        if every and ctx.every(every):
            m = max(1, n // c.path_batch_shrink)
            w = self.styles(exemplar[:m], m, dev)
            pred = G(image[:m], hole[:m], w)
            pen, self.mean_path, lengths = path_length_penalty(pred, w, self.mean_path.to(dev), c.path_decay)
            ctx.optimize("G", c.path_reg_weight * every * pen)
            self.mean_path = self.mean_path.cpu()
            logs["path"], logs["path_length"] = pen.item(), lengths.mean().item()
        # 16: D with eq. (4) on the composite, then lazy R1 on the real faces
        with ctx.autocast():
            loss_d = losses.logistic_d_loss(D(image).float(), D(out.detach()).float())
        ctx.optimize("D", loss_d)
        r1 = _r1_step(ctx, D, image, c)
        if r1 is not None:
            logs["r1"] = r1
        logs["d"] = loss_d.item()
        logs["self_exemplar"] = float(is_self)
        return logs

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        pv = self._preview(max(1, n // 3), generator.device)
        if pv is None:
            return None
        G = self.nets.get("G_ema", self.nets["G"])
        self._to(generator.device)
        image, hole, exemplar = pv["image"], pv["hole"], pv["exemplar"]
        m = len(image)
        z = torch.randn(m, G.style_dim, generator=generator, device=generator.device)
        w_hat = mix_exemplar_styles(self.E(exemplar), G.stochastic_styles(z), self.phi.to(generator.device))
        noise = G.decoder.make_noise(m, generator=generator, device=generator.device)
        was = G.training
        G.eval()
        out, _ = G.complete(image, hole, w_hat, noise=noise)
        G.train(was)
        shown = image * (1 - hole) + hole          # the masked input, holes white
        return torch.cat([shown, exemplar, out])


# ============================================================================ fit / train / export
def default_dataset(cfg: ExeGANConfig, data: str | Path | None):
    """Training faces at ``cfg.image_size``: ``None`` / the data root → the prepared CelebA-999
    train split; another data root → its prepared set; a folder of images → those faces."""
    from ... import data as fdata
    from ...paths import data_root

    if data is None or (Path(data).is_dir() and Path(data).resolve() == data_root().resolve()):
        return fdata.FaceDataset(cfg.data, split="train", size=cfg.image_size, root=None if data is None else data)
    path = Path(data)
    if path.is_dir():
        if (path / "prepared" / cfg.data).is_dir():
            return fdata.FaceDataset(cfg.data, split="train", size=cfg.image_size, root=path)
        return fdata.FaceDataset.from_folder(path, size=cfg.image_size)
    return fdata.FaceDataset(str(data), split="train", size=cfg.image_size)


def make_preview(dataset, cfg: ExeGANConfig, n: int = 6, seed: int = 0) -> dict[str, Tensor]:
    """A fixed batch for the sample grids: the first ``n`` faces, seeded masks, and as
    exemplars the same faces rolled by one (another face each)."""
    from ... import masks

    n = min(n, len(dataset))
    image = torch.stack([dataset[i]["image"] for i in range(n)])
    return {"image": image, "hole": masks.generate(cfg.mask_kind, cfg.image_size, n, seed),
            "exemplar": image.roll(1, 0)}


def stage_dir(out: str | Path, stage: str) -> Path:
    return Path(out) / stage


def _trainer_config(cfg: ExeGANConfig, stage: str, out: Path, seed: int, progress: bool, device: str):
    from ...train import TrainerConfig

    steps, batch = {"prior": (cfg.prior_steps, cfg.prior_batch_size),
                    "encoder": (cfg.encoder_steps, cfg.encoder_batch_size),
                    "inpaint": (cfg.steps, cfg.batch_size)}[stage]
    return TrainerConfig(steps=steps, batch_size=batch, seed=seed, log_every=cfg.log_every,
                         sample_every=cfg.sample_every, sample_n=12, ckpt_every=cfg.ckpt_every,
                         out_dir=str(stage_dir(out, stage)), progress=progress, device=device)


def load_prior(path: str | Path, cfg: ExeGANConfig) -> UnconditionalGenerator:
    """G_u (its EMA) from a prior-stage Trainer checkpoint or an exported style-encoder file."""
    from ...train import load_net, read_checkpoint

    ckpt = read_checkpoint(path)
    net = build_unconditional_generator(cfg)
    names = ckpt["nets"]
    key = "G_u" if "G_u" in names else "G"
    load_net(ckpt, key, net)
    return net


def load_encoder(path: str | Path, cfg: ExeGANConfig) -> StyleEncoder:
    """E from an encoder-stage Trainer checkpoint or an exported style-encoder file."""
    from ...train import load_net, read_checkpoint

    ckpt = read_checkpoint(path)
    if "E" not in ckpt["nets"]:
        raise FaceInpaintError(f"{path}: has no style encoder 'E' (nets: {', '.join(sorted(ckpt['nets']))})")
    net = build_style_encoder(cfg)
    load_net(ckpt, "E", net, prefer_ema=False)
    return net


def encoder_source(cfg: ExeGANConfig) -> Path:
    """The file named by ``cfg.encoder_from`` (relative to the repository root), checked to exist."""
    from ...paths import repo_root

    path = Path(cfg.encoder_from)
    path = path if path.is_absolute() else repo_root() / path
    if not path.is_file():
        raise FaceInpaintError(f"{path}: no EXE-GAN style encoder to reuse (encoder_from of preset {cfg.preset!r}); "
                               f"train the full model first, e.g. {TRAIN_HINT}")
    return path


def fit_stage(stage: str, cfg: ExeGANConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0,
              progress: bool = True, device: str = "auto", prior_ckpt: str | Path | None = None,
              encoder_ckpt: str | Path | None = None, identity: nn.Module | None = None,
              perceptual: nn.Module | None = None) -> Path:
    """Train one stage into ``out/<stage>/`` and return its Trainer checkpoint. ``"encoder"``
    needs G_u (``prior_ckpt``, default ``out/prior/checkpoint.pt``); ``"inpaint"`` needs E
    (``encoder_ckpt``, default ``out/encoder/checkpoint.pt``)."""
    from ...train import Trainer, derive_seed, seed_everything

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    out = Path(out)
    seed_everything(derive_seed(seed, STAGES.index(stage)))   # initial weights: from the seed only
    preview = make_preview(dataset, cfg, seed=seed)
    meta: dict[str, Any] = {"preset": cfg.preset, "stage": stage, "exegan_config": cfg.to_dict()}
    if stage == "prior":
        task = PriorTask(cfg, preview)
    elif stage == "encoder":
        prior_ckpt = Path(prior_ckpt or stage_dir(out, "prior") / "checkpoint.pt")
        task = EncoderTask(cfg, load_prior(prior_ckpt, cfg), perceptual, preview)
        meta["prior"] = str(prior_ckpt)
        meta["perceptual"] = getattr(task.perceptual, "source", None)
    else:
        encoder_ckpt = Path(encoder_ckpt or stage_dir(out, "encoder") / "checkpoint.pt")
        task = InpaintTask(cfg, load_encoder(encoder_ckpt, cfg), identity=identity, perceptual=perceptual,
                           preview=preview)
        meta["encoder"] = str(encoder_ckpt)
        meta["identity"] = task.identity_name
        meta["perceptual"] = getattr(task.perceptual, "source", None)
    result = Trainer(task, dataset, _trainer_config(cfg, stage, out, seed, progress, device), meta=meta).fit(resume=resume)
    return Path(result.checkpoint or stage_dir(out, stage) / "checkpoint.pt")


def fit(cfg: ExeGANConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0, progress: bool = True,
        device: str = "auto", identity: nn.Module | None = None, perceptual: nn.Module | None = None) -> Path:
    """The three stages in order (a finished stage returns at once on ``resume``), then the
    inference files (:func:`export_inference`): ``out/exegan_<preset>.pt`` (G_ema) and
    ``out/exegan_style_encoder_<preset>.pt`` (E and G_u). With ``cfg.encoder_from`` (the
    ablations) the first two stages are replaced by that file's E."""
    out = Path(out)
    if cfg.encoder_from:
        enc = encoder_source(cfg)
    else:
        prior = fit_stage("prior", cfg, dataset, out, resume=resume, seed=seed, progress=progress, device=device)
        enc = fit_stage("encoder", cfg, dataset, out, resume=resume, seed=seed, progress=progress, device=device,
                        prior_ckpt=prior, perceptual=perceptual)
    inp = fit_stage("inpaint", cfg, dataset, out, resume=resume, seed=seed, progress=progress, device=device,
                    encoder_ckpt=enc, identity=identity, perceptual=perceptual)
    return export_inference(inp, enc, out, cfg.preset)


def export_inference(inpaint_ckpt: str | Path, encoder_ckpt: str | Path, out: str | Path, preset: str) -> Path:
    """Two files in the Trainer's format (each ≤ 15 MB at the cpu preset): ``out/``
    :func:`~.config.inference_name` with ``nets = {"G_ema"}`` (no D, optimiser or RNG state)
    and ``meta["style_encoder"]`` naming the second, ``out/``:func:`~.config.encoder_name` with
    ``nets = {"E", "G_u"}`` (the frozen E and the G_u it inverts, for the notebooks).
    An ``encoder_ckpt`` that already is such a file (``encoder_from``) is copied as it is
    unless it is already at the destination. ``meta["stages"]`` records every stage's step and
    checkpoint. Returns the first file."""
    from ...paths import repo_relative
    from ...train import read_checkpoint

    out = Path(out)
    inp = read_checkpoint(inpaint_ckpt)
    enc = read_checkpoint(encoder_ckpt)
    nets = inp["nets"]
    enc_meta = enc.get("meta") or {}
    if "G_u" in enc["nets"]:                    # an exported style-encoder file: carry its record over
        enc_nets = enc["nets"]
        stages = dict(enc_meta.get("stages") or {})
    else:                                       # an encoder-stage checkpoint: G_u from its prior
        prior_path = Path(enc_meta.get("prior") or Path(encoder_ckpt).parent.parent / "prior" / "checkpoint.pt")
        prior = read_checkpoint(prior_path)
        g_u = prior["nets"].get("G_ema", prior["nets"]["G"])
        enc_nets = {"E": enc["nets"]["E"], "G_u": g_u}
        stages = {"prior": {"step": prior["step"], "checkpoint": repo_relative(prior_path)},
                  "encoder": {"step": enc["step"], "checkpoint": repo_relative(encoder_ckpt)}}
    enc_file = out / encoder_name(preset)
    enc_slim = {k: enc[k] for k in ("format", "step", "config") if k in enc}
    enc_slim["meta"] = {**enc_meta, "stages": stages}
    enc_slim["nets"] = enc_nets
    if Path(encoder_ckpt).resolve() != enc_file.resolve():
        torch_save(enc_slim, enc_file)
    stages = {**stages, "inpaint": {"step": inp["step"], "checkpoint": repo_relative(inpaint_ckpt)}}
    slim = {k: inp[k] for k in ("format", "step", "config") if k in inp}
    slim["meta"] = {**inp.get("meta", {}), "stages": stages, "style_encoder": enc_file.name}
    slim["nets"] = {"G_ema": nets["G_ema"]} if "G_ema" in nets else {"G": nets["G"]}
    dest = out / inference_name(preset)
    torch_save(slim, dest)
    return dest


def train(preset: str = "cpu", data: str | None = None, out: str | Path = "runs/exegan", resume: bool = False,
          seed: int = 0) -> Path:
    """The registry's entry point (``faceinpaint train --method exegan --preset P``): the three
    stages (ablation presets: the inpainting stage only, on the full model's E), then the files."""
    cfg = preset_config(preset)
    return fit(cfg, default_dataset(cfg, data), out, resume=resume, seed=seed)
