"""wgan_completion's training: the WGAN-GP prior with a global and a PatchGAN critic (section 3.1,
eq. 4) as a Task for the shared Trainer; fit(), export_inference(), train()."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import losses
from ...io import torch_save
from .config import METHOD, WGANCompletionConfig, preset_config
from .inpainter import frozen_eval
from .networks import build_nets


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


def default_dataset(cfg: WGANCompletionConfig, data: str | None):
    """``data``: ``None`` / the data root → the prepared CelebA-999 train split; ``"olivetti"`` →
    the 400 Olivetti faces (gray → RGB); an image folder → all its faces; else a prepared set's name."""
    from ... import data as fdata
    from ...paths import data_root

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
    from ...train import Trainer, TrainerConfig, seed_everything

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
    from ...train import read_checkpoint

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
    return fit(cfg, default_dataset(cfg, data), out, resume=resume, seed=seed)
