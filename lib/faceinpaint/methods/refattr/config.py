"""refattr's configuration: :class:`RefAttrConfig`, the presets (paper / cpu / smoke) and fig. 6's
ablations (without MS-SSIM, without perceptual + style, LBAM alone without attributes)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...attributes import ATTRIBUTE_NAMES_PAPER, PSEUDO_NAMES
from ...config import DictConfig, checkpoint_name, pick_preset
from ...paths import checkpoints_dir
from .losses import VGG_LAYERS
from .networks import PAPER_EXT_FC, PAPER_EXT_WIDTH, PAPER_G_WIDTH, PAPER_MAX_WIDTH

METHOD = "refattr"
TRAIN_HINT = ("`OMP_NUM_THREADS=1 faceinpaint train --method refattr --preset cpu --data data "
              "--out runs/refattr_cpu --seed 0`")


@dataclass
class RefAttrConfig(DictConfig):
    """One preset: the four networks, their training, eq. 12's weights.

    ``attributes``: the attribute names (columns of the dataset's attribute table, in this
    order — G's conditioning vector and Ext's / AE's outputs). ``use_attributes=False`` is
    fig. 6's "LBAM alone" (no Ext, no AE, one decode); ``use_ms_ssim`` / ``use_perceptual``
    (perceptual *and* style) switch eq. 12's terms for the other two ablations.
    """

    preset: str = "paper"
    image_size: int = 256                                   # § 4.1
    attributes: tuple[str, ...] = tuple(ATTRIBUTE_NAMES_PAPER)   # § 4.1's eight CelebA labels
    # the paper's labels come from CelebA(-HQ)'s annotation file: FaceDataset.from_folder finds
    # CelebAMask-HQ-attribute-anno.txt beside CelebA-HQ; None = that, or the prepared set's table
    attributes_file: str | None = None
    use_attributes: bool = True
    use_ms_ssim: bool = True
    use_perceptual: bool = True
    # -- networks (paper widths: LBAM 64 … 512; the authors' critic / AE 64 … 512; VGG-16 64 … 512)
    g_width: int = PAPER_G_WIDTH
    g_max_width: int = PAPER_MAX_WIDTH
    d_width: int = 64
    d_max_width: int = 512
    ae_width: int = 64
    ae_max_width: int = 512
    ext_width: int = PAPER_EXT_WIDTH
    ext_fc: tuple[int, ...] = PAPER_EXT_FC
    # -- optimisation: the paper says Adam only; the rest is the authors' main.py / rginp.py
    batch_size: int = 48
    steps: int = 200_000
    g_lr: float = 1e-4                                      # G and Ext
    d_lr: float = 1e-5                                      # D and AE
    g_betas: tuple[float, float] = (0.5, 0.9)
    d_betas: tuple[float, float] = (0.0, 0.9)
    # -- eq. 12 (§ 4.1): λ_adv, λ_ssim, λ_sty, λ_per, λ_hole = 0.1, 3, 120, 0.01, 6; L_valid and
    # L_attr unweighted; λ_gp of eq. 11 = 10 (code)
    lambda_adv: float = 0.1
    lambda_ssim: float = 3.0
    lambda_sty: float = 120.0
    lambda_per: float = 0.01
    lambda_hole: float = 6.0
    lambda_valid: float = 1.0
    lambda_attr: float = 1.0
    lambda_gp: float = 10.0
    vgg_layers: tuple[str, ...] = VGG_LAYERS
    vgg_weights: str = "auto"
    # Not in the paper (None = the paper): eq. 6–7 on images area-downsampled to this side,
    # and on the first ``vgg_batch`` samples of each batch only (CPU preset).
    vgg_size: int | None = None
    vgg_batch: int | None = None
    # Not in the paper: an EMA of G for inference (None = none).
    ema: float | None = None
    # § 3.1: "we design to train an auxiliary extractor by using I_gt and its attributes
    # *before* training attributes extractor with A_aux = AE(I_fake)". 0 = the authors' reading
    # (AE's step comes before G's and Ext's within every iteration); k > 0 = AE alone for the
    # first k steps (cheap steps: no G, no VGG), then everything.
    ae_pretrain_steps: int = 0
    hflip: bool = True                                      # code: RandomHorizontalFlip
    mask_kind: str = "refattr"                              # § 4.1: QuickDraw strokes + an 85×85 square
    # Not in the paper (0 = the paper): with this probability a training mask's square is replaced
    # by a box over the lower face (:func:`~.training.lower_face_box`), strokes kept.
    lower_face_prob: float = 0.0
    data: str = "celeba999"
    log_every: int = 100
    sample_every: int = 1000
    ckpt_every: int = 1000

    def __post_init__(self) -> None:
        self.attributes = tuple(self.attributes)
        if self.use_attributes and not self.attributes:
            raise ValueError("use_attributes=True needs at least one attribute name")
        if not 0.0 <= self.lower_face_prob <= 1.0:
            raise ValueError(f"lower_face_prob must be in [0, 1], got {self.lower_face_prob}")

    @property
    def n_attrs(self) -> int:
        """K, the conditioning vector's length (0 for LBAM alone)."""
        return len(self.attributes) if self.use_attributes else 0

    @property
    def variant(self) -> str:
        """``"full"`` or the ablation's name (fig. 6)."""
        if not self.use_attributes:
            return "noattr"
        if not self.use_perceptual:
            return "noperceptual"
        if not self.use_ms_ssim:
            return "nomsssim"
        return "full"

    def lambdas(self) -> dict[str, float]:
        """Eq. 12's weights by term name (the keys of the Task's loss dict)."""
        return {"adv": self.lambda_adv, "ssim": self.lambda_ssim, "sty": self.lambda_sty, "per": self.lambda_per,
                "hole": self.lambda_hole, "valid": self.lambda_valid, "attr": self.lambda_attr}



def _paper() -> RefAttrConfig:
    return RefAttrConfig(preset="paper")


# The CPU budget (one thread): 1500 AE-only steps (≈ 0.04 s each) + 4500 full steps (≈ 0.9–1.0 s
# each at 128 px, batch 8, measured on this machine) ≈ 75 min on a free core — what one
# development session can train while it works on the rest (7000 full steps would take ≈ 2 h).
CPU_AE_STEPS, CPU_FULL_STEPS = 1500, 4500


def _cpu() -> RefAttrConfig:
    """128 px, narrow nets, the offline pseudo-attributes; one CPU core for ≈ 75 minutes.

    Deviations from the paper (all for the CPU budget or the offline data; no loss term changes
    meaning):

    * attributes: the five offline pseudo-labels (Male, Young, Smiling, Mouth_Slightly_Open,
      Big_Lips; :mod:`faceinpaint.attributes`, provenance in ``attributes_provenance.json``) —
      CelebA's human labels are not offline, and nothing offline predicts the paper's other five;
    * 128 px (paper 256) — 6 encoder stages, still a 2×2 bottleneck; G widths 16 … 128 (paper
      64 … 512), critic and AE 16 … 128, Ext's VGG-16 widths 8 … 64 with FC 256-128
      (paper 64 … 512, 4096-4096-1000-512-256);
    * batch 8 (paper 48); learning rates ×2 (G/Ext 2e-4, D/AE 2e-5, the authors' 10:1 ratio) for
      the short run; an EMA of G (0.998) for inference;
    * eq. 6–7 at 64 px and on 4 of the 8 samples (``vgg_size``, ``vgg_batch``): the VGG19 passes
      would cost more than the rest of the step at 128 px;
    * AE alone for the first 1500 steps (``ae_pretrain_steps``; § 3.1 trains AE "before" Ext):
      A_aux = AE(I_fake) is eq. 9's only supervision of G's attribute use and of Ext; from an
      untrained AE it would teach both noise for the first part of a short run;
    * a quarter of the training masks cover the lower face (``lower_face_prob``; strokes kept,
      the box replacing the 85×85 square): with ≈ 900 faces and a few thousand steps, the random
      square lies on the mouth too rarely for G to learn what Smiling / Mouth_Slightly_Open /
      Big_Lips look like there, which is where those attributes live.
    """
    return RefAttrConfig(
        preset="cpu", image_size=128, attributes=tuple(PSEUDO_NAMES),
        g_width=16, g_max_width=128, d_width=16, d_max_width=128, ae_width=16, ae_max_width=128,
        ext_width=8, ext_fc=(256, 128), batch_size=8, steps=CPU_AE_STEPS + CPU_FULL_STEPS, g_lr=2e-4, d_lr=2e-5,
        vgg_size=64, vgg_batch=4, ema=0.998, ae_pretrain_steps=CPU_AE_STEPS, lower_face_prob=0.25,
        log_every=100, sample_every=1000, ckpt_every=500)


def _smoke() -> RefAttrConfig:
    """Seconds: 64 px, the smallest widths with every block, a few steps (mechanics only)."""
    return RefAttrConfig(
        preset="smoke", image_size=64, attributes=tuple(PSEUDO_NAMES),
        g_width=4, g_max_width=8, d_width=4, d_max_width=8, ae_width=4, ae_max_width=8,
        ext_width=2, ext_fc=(8,), batch_size=2, steps=3, vgg_layers=("pool1",), vgg_size=32, vgg_batch=1,
        ema=0.9, ae_pretrain_steps=1, lower_face_prob=0.5, log_every=1, sample_every=3, ckpt_every=3)


BASE_PRESETS = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}

# Fig. 6's ablations, as presets ``<scale>_<variant>``, each with its scale's whole budget.
ABLATIONS: dict[str, dict[str, Any]] = {
    "nomsssim": {"use_ms_ssim": False},
    "noperceptual": {"use_perceptual": False},      # neither perceptual nor style loss
    "noattr": {"use_attributes": False},            # LBAM alone
}


def _ablation(base: str, variant: str):
    def make() -> RefAttrConfig:
        over = dict(ABLATIONS[variant], preset=f"{base}_{variant}")
        cfg = BASE_PRESETS[base]()
        if variant == "noattr":
            # Nothing to pretrain without attributes; G gets the same number of steps as the
            # full model's G (its AE-only steps do not train G), not the whole budget.
            over.update(ae_pretrain_steps=0, steps=cfg.steps - cfg.ae_pretrain_steps)
        return replace(cfg, **over)

    make.__doc__ = f"Fig. 6's {variant} ablation at the {base} preset's scale and budget."
    return make


PRESETS = {**BASE_PRESETS, **{f"{b}_{v}": _ablation(b, v) for b in BASE_PRESETS for v in ABLATIONS}}


def preset_config(name: str, **overrides) -> RefAttrConfig:
    """The named preset (``paper``, ``cpu``, ``smoke``, ``cpu_nomsssim``, ``cpu_noperceptual``,
    ``cpu_noattr``, …) with field overrides."""
    return pick_preset(PRESETS, name, METHOD, **overrides)


def inference_name(preset: str) -> str:
    """The exported file's name: ``refattr_cpu.pt``; an ablation puts its variant first,
    ``cpu_nomsssim`` → ``refattr_nomsssim_cpu.pt`` (the shipped names in ``checkpoints/``)."""
    return checkpoint_name(METHOD, preset)


def shipped_checkpoint(variant: str | None = None, scale: str = "cpu") -> Path:
    """``checkpoints/refattr_cpu.pt`` (``variant=None``), ``refattr_nomsssim_cpu.pt``, …"""
    if variant is not None and variant not in ABLATIONS:
        raise ValueError(f"variant must be None or one of {list(ABLATIONS)}, got {variant!r}")
    return checkpoints_dir() / inference_name(scale if variant is None else f"{scale}_{variant}")


__all__ = ["METHOD", "TRAIN_HINT", "RefAttrConfig", "PRESETS", "BASE_PRESETS", "ABLATIONS", "preset_config",
           "inference_name", "shipped_checkpoint"]
