"""LaFIn's configuration: one dataclass, its presets (paper / cpu / smoke) and table 3's ablations.

Every deviation of a preset from the paper is written next to the field or in the preset's
docstring, with the reason (paper: ``shared/papers/lafin_landmark_guided.md``, § 2.3).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ... import losses
from ...config import DictConfig, checkpoint_name, pick_preset
from ...paths import checkpoints_dir
from .networks import PAPER_D_CHANNELS, PAPER_G_CHANNELS, PAPER_RES_BLOCKS

METHOD = "lafin"
TRAIN_HINT = ("`OMP_NUM_THREADS=1 faceinpaint train --method lafin --preset cpu --data data "
              "--out runs/lafin_cpu --seed 0`")
STAGES = ("landmark", "inpaint")


@dataclass
class LaFInConfig(DictConfig):
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
    return pick_preset(PRESETS, name, METHOD, **overrides)


def inference_name(preset: str) -> str:
    """The exported file's name: ``lafin_cpu.pt``; ablations put the variant first,
    ``cpu_nolandmarks`` → ``lafin_nolandmarks_cpu.pt`` (the shipped names in ``checkpoints/``)."""
    return checkpoint_name(METHOD, preset)


def shipped_checkpoint(variant: str | None = None, scale: str = "cpu") -> Path:
    """``checkpoints/lafin_cpu.pt`` (``variant=None``), ``lafin_nolandmarks_cpu.pt``, ``lafin_noattention_cpu.pt``."""
    if variant is not None and variant not in ABLATIONS:
        raise ValueError(f"variant must be None or one of {list(ABLATIONS)}, got {variant!r}")
    return checkpoints_dir() / inference_name(scale if variant is None else f"{scale}_{variant}")
