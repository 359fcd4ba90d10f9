"""LaFIn's training: the two stages as Tasks for the shared Trainer, fit(), export_inference().

Stage 1 (:class:`LandmarkTask`, eq. 1) and stage 2 (:class:`InpaintTask`, eq. 2–7) are trained
**separately** (§ 2.3); :func:`fit` runs both and writes one inference file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ... import losses
from ...augment import Jitter, jitter_batch
from ...errors import DataError, FaceInpaintError
from ...io import torch_save
from ...landmarks import flip_landmarks, landmark_map
from .config import METHOD, STAGES, TRAIN_HINT, LaFInConfig, inference_name, preset_config
from .losses import generator_losses, landmark_loss, loss_features, loss_ramp
from .networks import build_discriminator, build_generator, build_predictor, landmark_channel, masked_input


# ============================================================================ G's optimizer schedule (CPU warm-up)
def generator_lr(cfg: LaFInConfig, step: int) -> float:
    """G's learning rate at ``step``: ``warmup_lr`` during the warm-up, falling linearly to
    ``lr`` over its last ``warmup_decay`` fraction; the paper's ``lr`` from the ramp on."""
    if step >= cfg.warmup_steps or cfg.warmup_lr is None:
        return cfg.lr
    decay_steps = cfg.warmup_decay * cfg.warmup_steps
    start = cfg.warmup_steps - decay_steps
    if decay_steps <= 0 or step < start:
        return cfg.warmup_lr
    return cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * (step - start) / decay_steps


def set_generator_phase(opt: torch.optim.Optimizer, cfg: LaFInConfig, step: int) -> None:
    """G's Adam hyper-parameters at ``step``: :func:`generator_lr` and ``warmup_betas`` during
    the warm-up (when set), the paper's ``lr`` / ``betas`` (§ 2.3) from the ramp on. Set every
    step, so a resumed run gets them from the config, not from the optimizer state it saved."""
    warm = step < cfg.warmup_steps
    betas = cfg.warmup_betas if warm and cfg.warmup_betas is not None else cfg.betas
    lr = generator_lr(cfg, step)
    for group in opt.param_groups:
        group["lr"], group["betas"] = lr, tuple(betas)


# ============================================================================ augmentation and masks
def hflip_batch(image: Tensor, landmarks: Tensor, flip: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror the samples where ``flip`` (bool ``N``) is true: image columns reversed and
    landmarks through :func:`~faceinpaint.landmarks.flip_landmarks` (x' = W − 1 − x and the
    left/right indices swapped, so point 36 stays the subject's right outer eye corner)."""
    if not bool(flip.any()):
        return image, landmarks
    flip = flip.to(image.device)
    f4 = flip.view(-1, 1, 1, 1)
    img = torch.where(f4, image.flip(-1), image)
    lm = torch.where(flip.view(-1, 1, 1), flip_landmarks(landmarks, image.shape[-1]), landmarks)
    return img, lm


def _numpy_rng() -> np.random.Generator:
    # from torch's global RNG, which the Trainer seeds and checkpoints: exact resume
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


def training_holes(kind: str, size: int, n: int, *, unmasked_prob: float = 0.0,
                   rng: np.random.Generator | None = None) -> Tensor:
    """``n`` training masks of ``kind`` (LaFIn: 50 % 128-px blocks, 50 % irregular); each is
    left empty with probability ``unmasked_prob`` (the predictor's half of unmasked faces)."""
    from ... import masks

    rng = rng or _numpy_rng()
    out = []
    for _ in range(n):
        if unmasked_prob > 0 and rng.random() < unmasked_prob:
            out.append(np.zeros((size, size), np.float32))
        else:
            out.append(masks.sample(kind, size, rng))
    return masks.to_tensor(out)


def _paint_landmarks(image: Tensor, landmarks: Tensor, color=(1.0, -1.0, -1.0)) -> Tensor:
    """Landmark pixels drawn in red on images (sample grids)."""
    m = landmark_map(landmarks.detach().cpu(), image.shape[-1]).to(image.device)
    c = image.new_tensor(color).view(1, 3, 1, 1)
    return image * (1 - m) + c * m


# ============================================================================ training: stage 1 (eq. 1)
class _PreviewMixin:
    preview: dict[str, Tensor] | None = None

    def _preview(self, n: int, device) -> dict[str, Tensor] | None:
        if self.preview is None:
            return None
        return {k: v[:n].to(device) for k, v in self.preview.items()}


class LandmarkTask(_PreviewMixin):
    """Stage 1 for the :class:`~faceinpaint.train.Trainer`: G_L on masked faces, eq. (1).

    Landmarks are regressed in units of the image side and compared in pixels (the
    authors' ``landmark_gen *= INPUT_SIZE``). Adam 1e-4, β = (0, 0.9), weight decay 1e-6.
    """

    method = METHOD

    def __init__(self, cfg: LaFInConfig, preview: dict[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        self.jitter = Jitter(*cfg.lmk_jitter)   # built (and its ranges checked) once, not per step
        self.nets = {"P": build_predictor(cfg)}
        self.ema = {}
        self.preview = preview

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {"P": torch.optim.Adam(self.nets["P"].parameters(), c.lmk_lr, betas=c.lmk_betas,
                                      weight_decay=c.lmk_weight_decay)}

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, P = self.cfg, self.nets["P"]
        image, lm = batch["image"], batch["landmarks"].float()
        n, size = image.shape[0], image.shape[-1]
        if c.hflip:
            image, lm = hflip_batch(image, lm, torch.rand(n) < 0.5)
        image, lm = jitter_batch(image, lm, self.jitter)
        hole = training_holes(c.mask_kind, size, n, unmasked_prob=c.lmk_unmasked_prob).to(image.device)
        with ctx.autocast():
            pred = P(masked_input(image, hole)).float() * size
        loss = landmark_loss(pred, lm, squared=c.lmk_squared)
        ctx.optimize("P", loss)
        iod = (lm[:, 36] - lm[:, 45]).norm(dim=1).clamp_min(1e-6)
        nme = ((pred.detach() - lm).norm(dim=2).mean(1) / iod).mean()
        return {"lmk": loss.item(), "nme": nme.item()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        pv = self._preview(n, generator.device)
        if pv is None:
            return None
        P = self.nets["P"]
        was = P.training
        P.eval()
        x = masked_input(pv["image"], pv["hole"])
        pred = P(x) * x.shape[-1]
        P.train(was)
        return _paint_landmarks(x, pred)


# ============================================================================ training: stage 2 (eq. 2–7)
class InpaintTask(_PreviewMixin):
    """Stage 2 for the Trainer: G_P and D with the ground-truth landmarks (§ 2.3).

    Per step: D on ``[I, L]`` (real) and ``[Î, L]`` (fake) minimises eq. (6)'s L_adv_D
    (lr 1e-5); then G minimises eq. (7) with D frozen (lr 1e-4); Adam β = (0, 0.9).
    """

    method = METHOD

    def __init__(self, cfg: LaFInConfig, features: nn.Module | None = None,
                 preview: dict[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        self.jitter = Jitter(*cfg.jitter)
        self.nets = {"G": build_generator(cfg), "D": build_discriminator(cfg)}
        self.ema = {"G": cfg.ema} if cfg.ema else {}
        self.features = features if features is not None else loss_features(cfg)
        self.preview = preview

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {"G": torch.optim.Adam(self.nets["G"].parameters(), c.lr, betas=c.betas),
                "D": torch.optim.Adam(self.nets["D"].parameters(), c.d_lr, betas=c.betas)}

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c, G, D = self.cfg, self.nets["G"], self.nets["D"]
        image, lm = batch["image"], batch["landmarks"].float()
        n, size = image.shape[0], image.shape[-1]
        if c.hflip:
            image, lm = hflip_batch(image, lm, torch.rand(n) < 0.5)
        image, lm = jitter_batch(image, lm, self.jitter)
        hole = training_holes(c.mask_kind, size, n).to(image.device)
        lmap = landmark_channel(lm, size, n, image.device, c.use_landmarks)
        self.features.to(image.device)
        ramp = loss_ramp(c, step)
        with ctx.autocast():
            out, _ = G(torch.cat([masked_input(image, hole), lmap], 1), hole)
            out = out.float()
        d_gen, loss_d = None, out.new_zeros(())
        if ramp > 0:  # the CPU warm-up trains G alone (the paper: always)
            with ctx.autocast():
                d_real = D(torch.cat([image, lmap], 1))
                d_fake = D(torch.cat([out.detach(), lmap], 1))
            loss_d = losses.lsgan_d_loss(d_real.float(), d_fake.float())       # eq. (6), L_adv_D
            ctx.optimize("D", loss_d)
            with ctx.frozen("D"), ctx.autocast():
                d_gen = D(torch.cat([out, lmap], 1)).float()
        terms = generator_losses(out, image, hole, d_gen, self.features, c, ramp)   # eq. (7)
        set_generator_phase(ctx.optimizers["G"], c, step)
        ctx.optimize("G", terms["total"])
        logs = {k: v.item() for k, v in terms.items()}
        logs["d"] = loss_d.item()
        logs["ramp"] = ramp
        return logs

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        pv = self._preview(max(1, n // 2), generator.device)
        if pv is None:
            return None
        G = self.nets.get("G_ema", self.nets["G"])
        was = G.training
        G.eval()
        image, hole, lm = pv["image"], pv["hole"], pv["landmarks"]
        size = image.shape[-1]
        x = masked_input(image, hole)
        lmap = landmark_channel(lm, size, len(image), image.device, self.cfg.use_landmarks)
        out, _ = G(torch.cat([x, lmap], 1), hole)
        G.train(was)
        shown = _paint_landmarks(x, lm) if self.cfg.use_landmarks else x
        return torch.cat([shown, out * hole + image * (1 - hole)])


# ============================================================================ fit / train / export
def default_dataset(cfg: LaFInConfig, data: str | Path | None):
    """Faces with landmarks at ``cfg.image_size``: ``None`` / the data root → the prepared
    CelebA-999 train split; a folder → its images with ``landmarks.npy`` (``N×68×2``, pixels
    of the original images, file order) beside them; else a prepared set's name."""
    from ... import data as fdata
    from ...paths import data_root

    if data is None or (Path(data).is_dir() and Path(data).resolve() == data_root().resolve()):
        return fdata.FaceDataset(cfg.data, split="train", size=cfg.image_size, require_landmarks=True,
                                 root=None if data is None else data)
    path = Path(data)
    if path.is_dir():
        if (path / "prepared" / cfg.data).is_dir():  # another data root
            return fdata.FaceDataset(cfg.data, split="train", size=cfg.image_size, require_landmarks=True, root=path)
        lm = path / "landmarks.npy"
        if not lm.is_file():
            raise DataError(f"{path}: LaFIn trains on faces with landmarks; put their N×68×2 landmarks "
                            f"(pixels, file order) in {lm}")
        return fdata.FaceDataset.from_folder(path, size=cfg.image_size, landmarks=lm, require_landmarks=True)
    return fdata.FaceDataset(str(data), split="train", size=cfg.image_size, require_landmarks=True)


def make_preview(dataset, cfg: LaFInConfig, n: int = 8, seed: int = 0) -> dict[str, Tensor]:
    """A fixed batch (first ``n`` faces, seeded masks) that the sample grids show at every step."""
    from ... import masks

    n = min(n, len(dataset))
    items = [dataset[i] for i in range(n)]
    return {"image": torch.stack([it["image"] for it in items]),
            "landmarks": torch.stack([torch.as_tensor(it["landmarks"]).float() for it in items]),
            "hole": masks.generate(cfg.mask_kind, cfg.image_size, n, seed)}


def _trainer_config(cfg: LaFInConfig, stage: str, out: Path, seed: int, progress: bool, device: str):
    from ...train import TrainerConfig

    steps, batch = (cfg.lmk_steps, cfg.lmk_batch_size) if stage == "landmark" else (cfg.steps, cfg.batch_size)
    return TrainerConfig(steps=steps, batch_size=batch, seed=seed, log_every=cfg.log_every,
                         sample_every=cfg.sample_every, sample_n=8, ckpt_every=cfg.ckpt_every,
                         out_dir=str(out / stage), progress=progress, device=device)


def fit_stage(stage: str, cfg: LaFInConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0,
              progress: bool = True, device: str = "auto", features: nn.Module | None = None) -> Path:
    """Train one stage (``"landmark"`` or ``"inpaint"``) through the Trainer into ``out/<stage>/``;
    returns its Trainer checkpoint. The stages are independent (§ 2.3): either can be rerun."""
    from ...train import Trainer, derive_seed, seed_everything

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    out = Path(out)
    seed_everything(derive_seed(seed, STAGES.index(stage)))  # initial weights: from the seed only
    preview = make_preview(dataset, cfg, seed=seed)
    task = LandmarkTask(cfg, preview) if stage == "landmark" else InpaintTask(cfg, features, preview)
    tcfg = _trainer_config(cfg, stage, out, seed, progress, device)
    meta = {"preset": cfg.preset, "stage": stage, "lafin_config": cfg.to_dict()}
    if stage == "inpaint":
        meta["vgg"] = getattr(task.features, "source", type(task.features).__name__)
    result = Trainer(task, dataset, tcfg, meta=meta).fit(resume=resume)
    return Path(result.checkpoint or out / stage / "checkpoint.pt")


def predictor_source(cfg: LaFInConfig) -> Path:
    """The file named by ``cfg.predictor_from``, checked: it exists, holds a predictor ``P``
    and that predictor has this config's architecture and training size."""
    from ...paths import repo_root
    from ...train import read_checkpoint

    path = Path(cfg.predictor_from)
    path = path if path.is_absolute() else repo_root() / path
    if not path.is_file():
        raise FaceInpaintError(f"{path}: no LaFIn model to take the landmark predictor from (predictor_from of "
                               f"preset {cfg.preset!r}); train the full model first, e.g. {TRAIN_HINT}, and copy "
                               f"its {METHOD}_cpu.pt there")
    ckpt = read_checkpoint(path)
    src = (ckpt.get("meta") or {}).get("lafin_config")
    if src is None or "P" not in ckpt["nets"]:
        raise FaceInpaintError(f"{path}: not a LaFIn file with a landmark predictor 'P' (predictor_from)")
    for k in ("lmk_width", "lmk_last", "image_size"):
        if src.get(k) != getattr(cfg, k):
            raise FaceInpaintError(f"{path}: its predictor has {k}={src.get(k)!r}, preset {cfg.preset!r} "
                                   f"needs {getattr(cfg, k)!r} (predictor_from of another scale?)")
    return path


def fit(cfg: LaFInConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0, progress: bool = True,
        device: str = "auto", features: nn.Module | None = None) -> Path:
    """Both stages in sequence, then the combined inference file ``out/``:func:`inference_name`
    (:func:`export_inference`). The landmark stage is skipped without landmarks, and replaced by
    the predictor of ``cfg.predictor_from`` when that is set (:func:`predictor_source`)."""
    out = Path(out)
    ckpts = {}
    if cfg.use_landmarks and cfg.predictor_from:
        ckpts["landmark"] = predictor_source(cfg)  # checked before the (long) inpainting stage
    elif cfg.use_landmarks:
        ckpts["landmark"] = fit_stage("landmark", cfg, dataset, out, resume=resume, seed=seed, progress=progress,
                                      device=device)
    ckpts["inpaint"] = fit_stage("inpaint", cfg, dataset, out, resume=resume, seed=seed, progress=progress,
                                 device=device, features=features)
    return export_inference(ckpts.get("landmark"), ckpts["inpaint"], out / inference_name(cfg.preset))


def export_inference(landmark_ckpt: str | Path | None, inpaint_ckpt: str | Path, dest: str | Path) -> Path:
    """One inference file in the Trainer's format: ``nets = {"P": predictor, "G_ema" or "G":
    generator}`` — the EMA generator when the run kept one (it is what inference uses), no D,
    no optimizer or RNG state. ``meta["stages"]`` records each stage's step and checkpoint (paths
    inside the repository relative to it: :func:`~faceinpaint.paths.repo_relative`).

    ``landmark_ckpt`` may be a landmark-stage Trainer checkpoint or another exported file
    (``predictor_from``): its own ``stages["landmark"]`` record is carried over, with ``from``."""
    from ...paths import repo_relative
    from ...train import read_checkpoint

    inp = read_checkpoint(inpaint_ckpt)
    nets = inp["nets"]
    keep = {"G_ema": nets["G_ema"]} if "G_ema" in nets else {"G": nets["G"]}
    stages = {"inpaint": {"step": inp["step"], "checkpoint": repo_relative(inpaint_ckpt)}}
    if landmark_ckpt is not None:
        lmk = read_checkpoint(landmark_ckpt)
        keep["P"] = lmk["nets"]["P"]
        earlier = ((lmk.get("meta") or {}).get("stages") or {}).get("landmark")
        stages["landmark"] = ({**earlier, "from": repo_relative(landmark_ckpt)} if earlier else
                              {"step": lmk["step"], "checkpoint": repo_relative(landmark_ckpt)})
    slim = {k: inp[k] for k in ("format", "step", "config") if k in inp}
    slim["meta"] = {**inp.get("meta", {}), "stages": stages}
    slim["nets"] = keep
    torch_save(slim, dest)
    return Path(dest)


def train(preset: str = "cpu", data: str | None = None, out: str | Path = "runs/lafin", resume: bool = False,
          seed: int = 0) -> Path:
    """The registry's entry point (``faceinpaint train --method lafin --preset P``): both stages
    (ablation presets: the inpainting stage only), one file ``out/``:func:`inference_name`."""
    cfg = preset_config(preset)
    return fit(cfg, default_dataset(cfg, data), out, resume=resume, seed=seed)
