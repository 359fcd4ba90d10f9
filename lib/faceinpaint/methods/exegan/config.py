"""EXE-GAN's configuration: one dataclass, presets ``paper`` / ``cpu`` / ``smoke``.

Sources: the paper (§ III, § IV-A-3; ``shared/papers/exegan_exemplar_guided.md``); where it is
silent, the authors' code (LonglongaaaGo/EXE-GAN ``train.py``, ``models/exe_gan_nets.py``),
marked "code" below. Where the two disagree we follow the paper and say so.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...config import DictConfig, checkpoint_name, pick_preset

METHOD = "exegan"
TRAIN_HINT = ("`OMP_NUM_THREADS=1 faceinpaint train --method exegan --preset cpu --data data "
              "--out runs/exegan_cpu --seed 0`")
# The three trainings, in order (training.py): G_u, then E inverting G_u, then EXE-GAN itself.
STAGES = ("prior", "encoder", "inpaint")


@dataclass
class ExeGANConfig(DictConfig):
    """One preset: the four networks' sizes and EXE-GAN's training hyper-parameters.

    Widths per resolution are ``min(channel_base // res, channel_max)``
    (:func:`~faceinpaint.methods.exegan.layers.channel_table`); 32768 / 512 is StyleGAN2's
    config-f, the authors' ``channel_multiplier = 2``.
    """

    preset: str = "paper"
    image_size: int = 256                       # § IV-A-1: 256×256
    # -- mapping network f (§ III-A-1): z ∈ R^512 → w ∈ R^512, PixelNorm + 8 FC, lr × 0.01
    style_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    w_avg_beta: float = 0.995                   # StyleGAN2's tracked mean w (for truncation ψ)
    # -- multi-style generator G (§ III-B)
    g_channel_base: int = 32768
    g_channel_max: int = 512
    dropout: float = 0.5                        # on the global code c (Co-Mod-GAN; code)
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    # φ of eq. (1): layers ≥ this index (0-based) take the exemplar's code. Paper:
    # φ = [0, 0, 0, 0, 0, 1, …, 1] → 5; the code's psp_start_latent is 4 — we follow the paper.
    phi_first_exemplar_layer: int = 5
    # -- discriminator D (§ III-A-4): StyleGAN2 residual D on the composite only (3 channels)
    d_channel_base: int = 32768
    d_channel_max: int = 512
    d_in_channels: int = 3
    mbstd_group: int = 4
    mbstd_features: int = 1
    # -- style encoder E (pSp-style, trained here to invert G_u) and G_u (issue 15, item 3)
    e_channel_base: int = 32768
    e_channel_max: int = 512
    e_fpn_channels: int | None = None           # None: style_dim (pSp: 512)
    gu_channel_base: int = 32768
    gu_channel_max: int = 512
    # -- training (§ III-C, § IV-A-3, Algorithm 1)
    batch_size: int = 8                         # § IV-A-3
    steps: int = 800_000                        # § IV-A-3: 800 000 iterations
    lr: float = 0.002                           # § IV-A-3
    # § IV-A-3 writes β₁ = 0.5, β₂ = 0.99 "following StyleGAN2 and Co-Mod-GAN"; the authors' code
    # (and StyleGAN2 / Co-Mod-GAN) use β₁ = 0. We follow the paper's text.
    betas: tuple[float, float] = (0.5, 0.99)
    # StyleGAN2's lazy-regularisation correction (code): with a regulariser every k steps, Adam's
    # lr and β are raised to the power c = k/(k+1) (lr·c, β^c) for that network.
    lazy_reg_correction: bool = True
    r1_gamma: float = 10.0                      # eq. (4): γ = 10
    d_reg_every: int = 16                       # code: lazy R1 every 16 D steps
    path_reg_weight: float = 2.0                # code (paper silent): StyleGAN2 path-length reg.
    g_reg_every: int = 4                        # code: every 4 G steps
    path_batch_shrink: int = 2                  # code
    path_decay: float = 0.01                    # code: EMA of the path length
    mixing_prob: float = 0.5                    # § IV-A-3: mixing regularisation p = 0.5
    tau: float = 0.9                            # Algorithm 1: P(exemplar = another face); code: 0.8
    lambda_id: float = 0.1                      # eq. (8); code default 0
    lambda_lpips: float = 0.5                   # eq. (8); code default 1.5
    lambda_attr: float = 0.1                    # eq. (8)
    # EMA of G for sampling (code: 0.5^(32/10 000), StyleGAN2's 10-kimg half-life at batch 32).
    ema: float = 0.5 ** (32 / 10_000)
    # SVGL weight maps (§ III-D, eq. 11): 64×64 Gaussian, σ = 40, t = 7 iterations
    svgl_kernel: int = 64
    svgl_sigma: float = 40.0
    svgl_iterations: int = 7
    # Training masks (§ IV-A-3: strokes + rectangles, masks kind "exegan"). The authors' code
    # draws one mask for the whole batch; the paper does not say. ``mask_per_sample`` draws
    # one per face (more mask variety per step for the CPU's small batches and short runs).
    mask_kind: str = "exegan"
    mask_per_sample: bool = False
    # Perceptual term of eq. (6): "lpips" = real LPIPS (needs its VGG16 + linear-layer weights,
    # not available offline: falls back with a warning), "vgg19" = the clearly named VGG19
    # feature distance (faceinpaint.losses.perceptual_loss), "auto" = LPIPS when present.
    perceptual: str = "auto"
    # Table V switches: SVGL on the attribute / perceptual loss (eq. 10, 12, 13), or the loss off.
    use_attr: bool = True
    use_lpips: bool = True
    svgl_attr: bool = True
    svgl_lpips: bool = True
    hflip: bool = True                           # mirrored faces (StyleGAN2's x-flips); paper silent
    # -- stage "prior": G_u, the unconditional StyleGAN2 that stands in for the pretrained one
    # behind pSp (issue 15, item 3). Not EXE-GAN's; trained with StyleGAN2's own settings
    # (β = (0, 0.99), lazy R1 γ = 10 every 16, path length every 4, mixing 0.9 as config-f).
    prior_steps: int = 200_000
    prior_batch_size: int = 16
    prior_lr: float = 0.002
    prior_betas: tuple[float, float] = (0.0, 0.99)
    prior_mixing_prob: float = 0.9
    prior_path_reg_weight: float = 2.0           # 0 turns path-length regularisation off
    prior_ema: float = 0.5 ** (16 / 10_000)      # StyleGAN2's 10-kimg half-life at batch 16
    # -- stage "encoder": E inverts G_u (pSp-style), then is frozen (see training.EncoderTask)
    encoder_steps: int = 100_000
    encoder_batch_size: int = 8
    # pSp trains its IR-SE50 (plain conv + BatchNorm) at 1e-4 (Ranger). Our E is made of
    # equalised-lr layers (weights ~N(0, 1), scaled at run time), where Adam's step is relative
    # to a unit weight: StyleGAN2's 0.002 is the matching rate (at 1e-4 a 1150-step CPU run had
    # learned less than 150 steps at 0.002 — l2 0.187 vs 0.170).
    encoder_lr: float = 0.002
    encoder_betas: tuple[float, float] = (0.9, 0.999)
    encoder_w_weight: float = 1.0                 # ‖E(G_u(w)) − w‖² on G_u's samples
    encoder_l2_weight: float = 1.0                # pSp: λ_l2 = 1 on G_u(E(x)) − x, real faces
    encoder_vgg_weight: float = 0.8               # pSp: λ_lpips = 0.8 (VGG19 distance here)
    encoder_psi: float = 1.0                      # truncation of the codes E learns from
    # An earlier run's encoder (exported style-encoder file, or an encoder-stage Trainer
    # checkpoint) reused instead of training stages "prior" and "encoder": the ablations
    # (table V) change only the inpainting stage and share the full model's frozen E.
    encoder_from: str | None = None
    data: str = "celeba999"
    log_every: int = 100
    sample_every: int = 1000
    ckpt_every: int = 1000



def _paper() -> ExeGANConfig:
    return ExeGANConfig(preset="paper")


def _cpu() -> ExeGANConfig:
    """64 px with narrow networks for a 2-core CPU (every block of the paper's kept).

    Deviations from the paper, for speed only: 64 px (10 style layers, 9 noise inputs);
    style_dim 128 (paper 512); widths min(2048 // res, 128): 128 at 4–16 px, 64 at 32, 32 at 64
    (paper 512 … 128) for G, D, E's trunk and G_u; E's pyramid and map2style heads 64 wide (pSp:
    512) so that E's file stays small; batch 4 (paper 8). Mapping depth, λs, τ, R1, mixing and
    every equation are the paper's. Parameters: G 3.48 M (f 0.13 M), D 1.18 M, E 1.99 M,
    G_u 1.19 M; files: G_ema ≈ 13.9 MB (exegan_cpu.pt), E + G_u ≈ 12.8 MB
    (exegan_style_encoder_cpu.pt), each under the 15 MB limit, so the widths stay.

    Training (one core, sharing two cores with other jobs; seconds/step measured on the run
    itself): prior 1500 steps × 8 faces (1.5 s/step, 38 min), encoder 3600 × 4 (0.48 s/step,
    29 min), inpaint 3500 × 4 (≈ 0.96 s/step with eq. 6's VGG19 term on the 10 % of steps whose
    exemplar is the face itself, ≈ 56 min) — 16 epochs of the 899 training faces for EXE-GAN
    (the paper: 800 k steps × 8). EMA half-lives shortened to match
    (2000 images: a 10-kimg half-life would average over most of so short a run). SVGL's
    Gaussian 16 px, σ = 10 (the paper's 64, 40 at 256 px, scaled with the image). One mask per
    face (the code: per batch) for more mask variety in few steps. The encoder's VGG19 term
    is off: at 64 px it costs ≈ 2.5 s per step of 4 faces on one core, ~5× the rest of the step
    (eq. 6's term of the inpaint stage keeps it: it is the paper's, and runs on 10 % of steps).

    λ_id = 1.0 (paper 0.1), the one change of a loss weight. Measured: a full cpu run at the
    paper's 0.1 did not steer identity (on 100 test faces, centre hole, similarity to its own
    exemplar minus another's: −0.0017 ± 0.0039). The training log says why: the identity net's
    cosine between two faces is already ≈ 0.86, so L_id = 1 − cos ≈ 0.14 (logged over the first
    200 inpaint steps), against L_attr ≈ 5 (× λ_attr 0.1 = 0.5) and L_adv ≈ 0.8 — at λ_id 0.1 the
    term weighs 0.014, ~40× less than eq. (7). At 1.0 it weighs 0.14 — and the shipped run at 1.0
    did not steer identity either (+0.0019 ± 0.0043; L_id stayed at 0.136–0.143): at this budget
    the weight is not what is missing (checkpoints/README.md). The value stays so that the
    shipped files and the table-V ablations, which inherit it, are the same recipe.
    """
    return ExeGANConfig(
        preset="cpu", image_size=64, style_dim=128,
        g_channel_base=2048, g_channel_max=128, d_channel_base=2048, d_channel_max=128,
        e_channel_base=2048, e_channel_max=128, e_fpn_channels=64, gu_channel_base=2048, gu_channel_max=128,
        batch_size=4, steps=3500, ema=0.5 ** (4 / 2_000), log_every=50, sample_every=500, ckpt_every=500,
        svgl_kernel=16, svgl_sigma=10.0, mask_per_sample=True, lambda_id=1.0,
        prior_steps=1500, prior_batch_size=8, prior_ema=0.5 ** (8 / 2_000),
        encoder_steps=3600, encoder_batch_size=4, encoder_vgg_weight=0.0)


def _smoke() -> ExeGANConfig:
    """Seconds: the smallest networks with every block (64 px, widths ≤ 16, 2 mapping layers)."""
    return ExeGANConfig(
        preset="smoke", image_size=64, style_dim=16, n_mlp=2,
        g_channel_base=256, g_channel_max=16, d_channel_base=256, d_channel_max=16,
        e_channel_base=256, e_channel_max=16, gu_channel_base=256, gu_channel_max=16,
        batch_size=2, steps=3, ema=0.9, log_every=1, sample_every=3, ckpt_every=3,
        svgl_kernel=16, svgl_sigma=10.0, prior_steps=3, prior_batch_size=2, prior_ema=0.9,
        encoder_steps=3, encoder_batch_size=2, d_reg_every=2, g_reg_every=2)


BASE_PRESETS = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}

# Table V's variants (§ IV-F-2): (A) without the SVGL attribute loss, (B) without the SVGL LPIPS
# loss, (C) the standard (non-SVGL) attribute loss, (D) the standard LPIPS loss.
ABLATIONS: dict[str, dict[str, Any]] = {
    "nosvglattr": {"use_attr": False},
    "nosvgllpips": {"use_lpips": False},
    "stdattr": {"svgl_attr": False},
    "stdlpips": {"svgl_lpips": False},
}
TABLE_V_ROWS = {"nosvglattr": "A", "nosvgllpips": "B", "stdattr": "C", "stdlpips": "D"}
# The ablations change only the inpainting stage: they reuse the full model's frozen E (and
# G_u) from its shipped style-encoder file; the smoke scale trains its own in seconds.
ABLATION_ENCODER = {"paper": "checkpoints/exegan_style_encoder_paper.pt",
                    "cpu": "checkpoints/exegan_style_encoder_cpu.pt", "smoke": None}


def _ablation(base: str, variant: str):
    def make() -> ExeGANConfig:
        return replace(BASE_PRESETS[base](), preset=f"{base}_{variant}", encoder_from=ABLATION_ENCODER[base],
                       **ABLATIONS[variant])
    make.__doc__ = f"Table V's {TABLE_V_ROWS[variant]} ({variant}) at the {base} scale."
    return make


PRESETS = {**BASE_PRESETS, **{f"{b}_{v}": _ablation(b, v) for b in BASE_PRESETS for v in ABLATIONS}}


def preset_config(name: str, **overrides) -> ExeGANConfig:
    """The named preset with field overrides."""
    return pick_preset(PRESETS, name, METHOD, **overrides)


def inference_name(preset: str) -> str:
    """The exported generator file: ``exegan_cpu.pt``; ablations put the variant first,
    ``cpu_nosvglattr`` → ``exegan_nosvglattr_cpu.pt`` (the shipped names in ``checkpoints/``)."""
    return checkpoint_name(METHOD, preset)


def encoder_name(preset: str) -> str:
    """The exported style-encoder file (E and G_u): ``exegan_style_encoder_cpu.pt``. One per
    scale: the ablations share the full model's frozen E (``encoder_from``)."""
    return f"{METHOD}_style_encoder_{preset.partition('_')[0]}.pt"
