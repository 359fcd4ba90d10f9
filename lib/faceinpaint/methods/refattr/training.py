"""refattr's training (§ 3.1–3.2, § 4.1): one Task for the shared Trainer, fit(), export_inference().

Each step (after the optional AE pre-training, :attr:`RefAttrConfig.ae_pretrain_steps`):

1. one encoder pass of G on ``I_in = [I_gt ⊙ M, M]``; two decodes (eq. 2–3):
   ``I_recon = G(I_in, A_gt)`` and ``I_fake = G(I_in, A_ext)`` with ``A_ext = Ext(I_gt)``;
2. critic + AE step (optimizer ``"D"``, lr 1e-5): eq. 11 with the sign that *trains* a
   Wasserstein critic, ``E[D(I_fake)] − E[D(I_gt)] + λ_gp·GP``, plus eq. 9's second term
   ``MSE(A_gt, AE(I_gt))``;
3. G + Ext step (optimizer ``"G"``, lr 1e-4) on eq. 12 with D and AE frozen (gradients pass
   *through* them): inpainting terms on I_recon, ``λ_adv·(−E[D(I_fake)])`` and eq. 9's first
   term ``MSE(AE(I_fake), A_ext)`` on I_fake. Nothing is under ``no_grad`` (the authors' trap:
   G never received the adversarial or attribute gradient there).

The "LBAM alone" ablation has one decode without attributes, no Ext and no AE.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ... import losses as shared
from ... import masks as masks_mod
from ...errors import DataError
from ...io import torch_save
from .config import METHOD, RefAttrConfig, inference_name, preset_config
from .losses import (attribute_consistency_loss, auxiliary_extractor_loss, completion, inpainting_losses,
                     loss_features, total_loss)
from .networks import AttributeExtractor, AuxiliaryExtractor, Critic, LBAMGenerator


# ============================================================================ networks of a config
def build_generator(cfg: RefAttrConfig) -> LBAMGenerator:
    return LBAMGenerator(cfg.image_size, cfg.n_attrs, cfg.g_width, cfg.g_max_width)


def build_critic(cfg: RefAttrConfig) -> Critic:
    return Critic(cfg.image_size, cfg.d_width, cfg.d_max_width)


def build_extractor(cfg: RefAttrConfig) -> AttributeExtractor:
    return AttributeExtractor(cfg.n_attrs, cfg.ext_width, tuple(cfg.ext_fc))


def build_auxiliary(cfg: RefAttrConfig) -> AuxiliaryExtractor:
    return AuxiliaryExtractor(cfg.image_size, cfg.n_attrs, cfg.ae_width, cfg.ae_max_width)


# ============================================================================ data
class AttributeFaces(torch.utils.data.Dataset):
    """A face dataset restricted to faces whose attributes ``names`` are all known, with the
    item's ``attributes`` reordered to ``names`` (G's conditioning order).

    Wraps :class:`faceinpaint.data.FaceDataset` (items ``image``, ``landmarks``,
    ``attributes`` in ``dataset.attribute_names`` order, NaN = unknown)."""

    def __init__(self, dataset, names: Sequence[str], source: str = "dataset"):
        have = list(dataset.attribute_names)
        missing = [n for n in names if n not in have]
        if missing:
            raise DataError(f"{source}: no attribute column {', '.join(missing)} (it has: {', '.join(have) or 'none'}); "
                            "give a CelebA attribute file or choose a preset whose attributes it has")
        self.dataset, self.names = dataset, list(names)
        self.columns = [have.index(n) for n in names]
        vals = np.asarray(dataset._attrs.values, dtype=np.float32)[np.asarray(dataset.indices)][:, self.columns] \
            if len(self.columns) else np.zeros((len(dataset), 0), np.float32)
        self.keep = np.flatnonzero(np.isfinite(vals).all(axis=1))
        if len(self.keep) == 0:
            raise DataError(f"{source}: no face has all of {', '.join(names)} known")
        self.values = vals[self.keep]

    def __len__(self) -> int:
        return len(self.keep)

    def mean_attributes(self) -> list[float]:
        """The prior mean of each attribute over these faces (inference's default)."""
        return [float(v) for v in self.values.mean(0)] if self.values.size else []

    def __getitem__(self, k: int) -> dict:
        item = self.dataset[int(self.keep[k])]
        return {"image": item["image"], "landmarks": item["landmarks"],
                "attributes": item["attributes"][self.columns], "index": item["index"]}


def default_dataset(cfg: RefAttrConfig, data: str | Path | None, split: str = "train") -> AttributeFaces:
    """The training faces at ``cfg.image_size`` with ``cfg.attributes``: ``None`` / the data
    root → the prepared CelebA-999 ``split``; a folder with ``prepared/<cfg.data>`` → that
    root; another folder → its images (CelebA-HQ / FFHQ layout or any images) with the
    attribute file ``cfg.attributes_file`` (CelebA format; found automatically beside CelebA-HQ)."""
    from ... import data as fdata
    from ...paths import data_root

    names = list(cfg.attributes) if cfg.use_attributes else []
    if data is None or (Path(data).is_dir() and Path(data).resolve() == data_root().resolve()):
        ds = fdata.FaceDataset(cfg.data, split=split, size=cfg.image_size, root=None if data is None else data)
        src = str(ds.folder / "attributes.csv")
    else:
        path = Path(data)
        if path.is_dir() and (path / "prepared" / cfg.data).is_dir():
            ds = fdata.FaceDataset(cfg.data, split=split, size=cfg.image_size, root=path)
            src = str(ds.folder / "attributes.csv")
        elif path.is_dir():
            ds = fdata.FaceDataset.from_folder(path, size=cfg.image_size, attributes_file=cfg.attributes_file,
                                               split=split)
            src = str(cfg.attributes_file or path)
        else:
            ds = fdata.FaceDataset(str(data), split=split, size=cfg.image_size)
            src = str(data)
    return AttributeFaces(ds, names, source=src)


# ============================================================================ masks
# iBUG-68 (0-based): jaw 2–14 bound the lower face sideways, the nose tip (30) above, the chin (8) below.
LOWER_FACE_JAW = tuple(range(2, 15))
NOSE_TIP, CHIN = 30, 8
# Mean positions over the CelebA-999 faces (fractions of the side), for faces without landmarks.
TEMPLATE_LOWER_FACE = (0.26, 0.643, 0.74, 0.923)


def lower_face_box(landmarks: np.ndarray | Tensor | None, size: int, rng: np.random.Generator | None = None,
                   jitter: float = 0.0, margin: float = 0.02) -> np.ndarray:
    """A hole covering the lower face: from the nose tip to ``margin`` below the chin, between
    the jaw points 2–14 (a ``size×size`` float32 mask). ``landmarks`` ``68×2`` pixels at
    ``size`` (NaN or None → the CelebA-999 mean template). ``jitter``: each edge moves by
    U(−jitter, jitter)·size (training); 0 → deterministic (the steering measurements)."""
    lm = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    if lm is not None and np.isfinite(lm).all():
        x0, x1 = lm[list(LOWER_FACE_JAW), 0].min(), lm[list(LOWER_FACE_JAW), 0].max()
        y0, y1 = lm[NOSE_TIP, 1], lm[CHIN, 1] + margin * size
    else:
        x0, y0, x1, y1 = (t * size for t in TEMPLATE_LOWER_FACE)
        y1 += margin * size
    if jitter > 0:
        rng = rng or np.random.default_rng()
        x0, y0, x1, y1 = (v + rng.uniform(-jitter, jitter) * size for v in (x0, y0, x1, y1))
    hole = np.zeros((size, size), np.float32)
    c0, c1 = int(np.clip(round(x0), 0, size - 1)), int(np.clip(round(x1), 1, size))
    r0, r1 = int(np.clip(round(y0), 0, size - 1)), int(np.clip(round(y1), 1, size))
    hole[r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)] = 1.0
    return hole


def _numpy_rng() -> np.random.Generator:
    # from torch's global RNG, which the Trainer seeds and checkpoints: an exact resume
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


def training_holes(cfg: RefAttrConfig, landmarks: Tensor | None, n: int, rng: np.random.Generator | None = None
                   ) -> Tensor:
    """``n×1×S×S`` training holes: § 4.1's ``cfg.mask_kind`` (QuickDraw-style strokes ∪ one
    85×85 square, scaled); with probability ``cfg.lower_face_prob`` the square is replaced by a
    jittered :func:`lower_face_box` (CPU preset only)."""
    rng = rng or _numpy_rng()
    size = cfg.image_size
    out = []
    for i in range(n):
        if cfg.lower_face_prob > 0 and rng.random() < cfg.lower_face_prob:
            lm = None if landmarks is None else landmarks[i].cpu().numpy()
            out.append(np.maximum(masks_mod.quickdraw(size, rng), lower_face_box(lm, size, rng, jitter=0.04)))
        else:
            out.append(masks_mod.sample(cfg.mask_kind, size, rng))
    return masks_mod.to_tensor(out)


def hflip(image: Tensor, landmarks: Tensor, flip: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror the samples where ``flip`` is true (attributes are mirror-invariant); landmarks
    through :func:`~faceinpaint.landmarks.flip_landmarks` (they place the lower-face box)."""
    from ...landmarks import flip_landmarks

    if not bool(flip.any()):
        return image, landmarks
    flip = flip.to(image.device)
    img = torch.where(flip.view(-1, 1, 1, 1), image.flip(-1), image)
    lm = torch.where(flip.view(-1, 1, 1), flip_landmarks(landmarks, image.shape[-1]), landmarks)
    return img, lm


# ============================================================================ the Task
class RefAttrTask:
    """G, D, Ext and AE for the :class:`~faceinpaint.train.Trainer` (module docstring).

    ``nets``: ``G``, ``D`` (+ ``Ext``, ``AE`` with attributes; + ``G_ema`` with ``cfg.ema``).
    Optimizers: ``"G"`` = Adam over G and Ext (they minimise eq. 12 together; authors: lr 1e-4,
    β = (0.5, 0.9)); ``"D"`` = Adam over D and AE (lr 1e-5, β = (0, 0.9)).
    """

    method = METHOD

    def __init__(self, cfg: RefAttrConfig, features: nn.Module | None = None,
                 preview: Mapping[str, Tensor] | None = None):
        self.cfg, self.preset = cfg, cfg.preset
        self.nets: dict[str, nn.Module] = {"G": build_generator(cfg), "D": build_critic(cfg)}
        if cfg.use_attributes:
            self.nets["Ext"] = build_extractor(cfg)
            self.nets["AE"] = build_auxiliary(cfg)
        self.ema = {"G": cfg.ema} if cfg.ema else {}
        if features is None and cfg.use_perceptual:
            features = loss_features(cfg.vgg_layers, cfg.vgg_weights, cfg.vgg_size)
        self.features = features
        self.preview = dict(preview) if preview is not None else None
        self.win_size = shared.ms_ssim_window(cfg.image_size)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c, n = self.cfg, self.nets
        g_params = list(n["G"].parameters()) + (list(n["Ext"].parameters()) if "Ext" in n else [])
        d_params = list(n["D"].parameters()) + (list(n["AE"].parameters()) if "AE" in n else [])
        return {"G": torch.optim.Adam(g_params, c.g_lr, betas=c.g_betas),
                "D": torch.optim.Adam(d_params, c.d_lr, betas=c.d_betas)}

    # -- the pieces of a step (also used by the tests)
    def decodes(self, image: Tensor, known: Tensor, a_gt: Tensor | None) -> dict[str, Tensor]:
        """Eq. 2–3: one encoding, ``recon`` with A_gt and ``fake`` with ``a_ext = Ext(I_gt)``."""
        G = self.nets["G"]
        enc = G.encode(image, known)
        if not self.cfg.use_attributes:
            recon = G.decode(enc, None)
            return {"recon": recon, "fake": recon}
        a_ext = self.nets["Ext"](image)
        return {"recon": G.decode(enc, a_gt), "fake": G.decode(enc, a_ext), "a_ext": a_ext}

    def critic_loss(self, image: Tensor, fake: Tensor, a_gt: Tensor | None) -> dict[str, Tensor]:
        """Eq. 11 as a loss the critic minimises, ``E[D(fake)] − E[D(real)] + λ_gp·GP``, and
        eq. 9's second term for AE."""
        D = self.nets["D"]
        out = {"d_wgan": shared.wgan_d_loss(D(image), D(fake.detach())),
               "gp": shared.gradient_penalty(D, image, fake)}
        total = out["d_wgan"] + self.cfg.lambda_gp * out["gp"]
        if self.cfg.use_attributes:
            out["ae"] = auxiliary_extractor_loss(self.nets["AE"](image), a_gt)
            total = total + self.cfg.lambda_attr * out["ae"]
        out["total"] = total
        return out

    def generator_terms(self, image: Tensor, hole: Tensor, dec: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Eq. 12's terms for G and Ext (unweighted): inpainting terms on I_recon, ``adv``
        (eq. 10, ``−E[D(I_fake)]``) and ``attr`` (eq. 9's first term) on I_fake."""
        c = self.cfg
        terms = inpainting_losses(dec["recon"], image, hole, self.features, use_ms_ssim=c.use_ms_ssim,
                                  use_perceptual=c.use_perceptual, vgg_batch=c.vgg_batch, layers=c.vgg_layers,
                                  win_size=self.win_size)
        terms["adv"] = shared.wgan_g_loss(self.nets["D"](dec["fake"]))
        if c.use_attributes:
            terms["attr"] = attribute_consistency_loss(self.nets["AE"](dec["fake"]), dec["a_ext"])
        return terms

    def train_step(self, batch: Mapping[str, Any], step: int, ctx) -> dict[str, float]:
        c = self.cfg
        image = batch["image"]
        lm = batch["landmarks"].float()
        a_gt = batch["attributes"].float() if c.use_attributes else None
        n = image.shape[0]
        if c.hflip:
            image, lm = hflip(image, lm, torch.rand(n) < 0.5)
        if self.features is not None:
            self.features.to(image.device)
        if c.use_attributes and step < c.ae_pretrain_steps:  # § 3.1: AE first (CPU preset)
            with ctx.autocast():
                loss_ae = auxiliary_extractor_loss(self.nets["AE"](image).float(), a_gt)
            ctx.optimize("D", loss_ae)
            return {"ae": loss_ae.item(), "phase": 0.0}
        hole = training_holes(c, lm, n).to(image.device)
        known = 1 - hole
        with ctx.autocast():
            dec = {k: v.float() for k, v in self.decodes(image, known, a_gt).items()}
        d_terms = self.critic_loss(image, dec["fake"], a_gt)
        ctx.optimize("D", d_terms["total"])
        frozen = ("D", "AE") if c.use_attributes else ("D",)
        with ctx.frozen(*frozen), ctx.autocast():
            g_terms = self.generator_terms(image, hole, dec)
        g_total = total_loss(g_terms, c.lambdas())
        ctx.optimize("G", g_total)
        self.nets["G"].project_()  # LBAM: g_A's parameters stay in their ranges
        logs = {k: float(v.detach()) for k, v in g_terms.items()}
        logs.update({"g_total": float(g_total.detach()), "d_wgan": float(d_terms["d_wgan"].detach()),
                     "gp": float(d_terms["gp"].detach()), "phase": 1.0})
        if "ae" in d_terms:
            logs["ae"] = float(d_terms["ae"].detach())
        return logs

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor | None:
        """Rows of the grid: the masked inputs, I_recon (A_gt), I_fake (A_ext) — composites."""
        if self.preview is None:
            return None
        k = max(1, min(n // 3, len(self.preview["image"])))
        dev = generator.device
        image, hole = self.preview["image"][:k].to(dev), self.preview["hole"][:k].to(dev)
        a_gt = self.preview["attributes"][:k].to(dev) if self.cfg.use_attributes else None
        G = self.nets.get("G_ema", self.nets["G"])
        nets = [G] + ([self.nets["Ext"]] if "Ext" in self.nets else [])
        was = [m.training for m in nets]
        for m in nets:
            m.eval()
        enc = G.encode(image, 1 - hole)
        recon = G.decode(enc, a_gt)
        fake = G.decode(enc, self.nets["Ext"](image)) if self.cfg.use_attributes else recon
        for m, w in zip(nets, was):
            m.train(w)
        masked = image * (1 - hole) + hole  # white holes for the picture
        return torch.cat([masked, completion(recon, image, hole), completion(fake, image, hole)])

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d: Mapping) -> None:
        pass


# ============================================================================ fit / export / train
def make_preview(dataset: AttributeFaces, cfg: RefAttrConfig, n: int = 6, seed: int = 0) -> dict[str, Tensor]:
    """A fixed batch for the sample grids (the first ``n`` faces, seeded § 4.1 masks)."""
    n = min(n, len(dataset))
    items = [dataset[i] for i in range(n)]
    return {"image": torch.stack([it["image"] for it in items]),
            "attributes": torch.stack([it["attributes"] for it in items]).float(),
            "hole": masks_mod.generate(cfg.mask_kind, cfg.image_size, n, seed)}


def fit(cfg: RefAttrConfig, dataset: AttributeFaces, out: str | Path, *, resume: bool = False, seed: int = 0,
        progress: bool = True, device: str = "auto", features: nn.Module | None = None) -> Path:
    """Train through the Trainer into ``out/`` (``checkpoint.pt``, logs, sample grids), then write
    the inference file ``out/``:func:`~.config.inference_name` (:func:`export_inference`)."""
    from ...train import Trainer, TrainerConfig, seed_everything

    out = Path(out)
    seed_everything(seed)  # initial weights from the seed only
    task = RefAttrTask(cfg, features, make_preview(dataset, cfg, seed=seed))
    tcfg = TrainerConfig(steps=cfg.steps, batch_size=cfg.batch_size, seed=seed, log_every=cfg.log_every,
                         sample_every=cfg.sample_every, sample_n=18, ckpt_every=cfg.ckpt_every, out_dir=str(out),
                         progress=progress, device=device)
    meta = {"preset": cfg.preset, "refattr_config": cfg.to_dict(),
            "attribute_names": list(dataset.names), "attribute_prior": dataset.mean_attributes(),
            "attribute_provenance": {k: v for k, v in dataset.dataset.attribute_provenance.items()
                                     if k in dataset.names}}
    if task.features is not None:
        meta["vgg"] = getattr(task.features, "source", type(task.features).__name__)
    result = Trainer(task, dataset, tcfg, meta=meta).fit(resume=resume)
    ckpt = Path(result.checkpoint or out / "checkpoint.pt")
    return export_inference(ckpt, out / inference_name(cfg.preset))


def export_inference(checkpoint: str | Path, dest: str | Path) -> Path:
    """The slim inference file, in the Trainer's format: ``nets`` = the generator (``G_ema`` when
    the run kept one — inference uses it — else ``G``) and ``Ext`` (with attributes); no critic,
    no AE, no optimizer or RNG state. ``meta`` keeps the config, the attribute names, their
    prior mean and provenance, and where the weights came from."""
    from ...paths import repo_relative
    from ...train import read_checkpoint

    ck = read_checkpoint(checkpoint)
    nets = ck["nets"]
    keep = {"G_ema": nets["G_ema"]} if "G_ema" in nets else {"G": nets["G"]}
    if "Ext" in nets:
        keep["Ext"] = nets["Ext"]
    slim = {k: ck[k] for k in ("format", "step", "config") if k in ck}
    slim["meta"] = {**ck.get("meta", {}), "trained": {"step": ck["step"], "checkpoint": repo_relative(checkpoint)}}
    slim["nets"] = keep
    torch_save(slim, dest)
    return Path(dest)


def train(preset: str = "cpu", data: str | None = None, out: str | Path = "runs/refattr", resume: bool = False,
          seed: int = 0) -> Path:
    """The registry's entry point (``faceinpaint train --method refattr --preset P``); returns
    the inference file ``out/``:func:`~.config.inference_name`."""
    cfg = preset_config(preset)
    return fit(cfg, default_dataset(cfg, data), out, resume=resume, seed=seed)


__all__ = [
    "build_generator", "build_critic", "build_extractor", "build_auxiliary", "AttributeFaces", "default_dataset",
    "LOWER_FACE_JAW", "TEMPLATE_LOWER_FACE", "lower_face_box", "training_holes", "hflip", "RefAttrTask",
    "make_preview", "fit", "export_inference", "train",
]
