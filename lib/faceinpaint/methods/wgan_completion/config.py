"""wgan_completion's configuration: the prior's training (section 4) and the latent search's weights.

:class:`WGANCompletionConfig` holds one preset (networks, WGAN-GP training, latent search);
:class:`LatentConfig` is eq. (5)–(8)'s weights and optimiser, :class:`ConditionalConfig`
eq. (10)–(12)'s, :func:`yeh_config` the baseline's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ...config import DictConfig, pick_preset
from .networks import PAPER_D_CHANNELS, PAPER_G_CHANNELS, PAPER_PATCH_CHANNELS

METHOD = "wgan_completion"
TRAIN_HINT = "`faceinpaint train --method wgan_completion --preset cpu --out runs/wgan_completion_cpu`"


# ----------------------------------------------------------------------------- configs
@dataclass
class LatentConfig:
    """Weights and optimiser of eq. (5)–(8).

    Defaults α = 0.1, β = 0.9, η = 0.5: the best CelebA row of table 2 (three-squares masks,
    MSE 321.3, PSNR 23.06, SSIM 0.934) and the best SVHN row of table 1. On CelebA with the
    central square, table 1's best is α = 0.5, β = 0.5, η = 1.0 (MSE 785.3) — a close call.
    """

    alpha: float = 0.1          # colour term of eq. (6)
    beta: float = 0.9           # gradient term of eq. (6)
    eta: float = 0.5            # prior term of eq. (5)
    iters: int = 1000
    lr: float = 0.03
    betas: tuple[float, float] = (0.9, 0.999)
    window: int = 7             # N_i of eq. (7), Yeh et al.'s 7×7
    z_clamp: float = 1.0        # z ∈ [−1, 1] after each step
    restarts: int = 1           # > 1: keep, per image, the restart with the lowest final loss
    patch_prior: bool = True    # eq. (8) with −D_patch; False: global critic only


@dataclass
class ConditionalConfig:
    """Weights of eq. (10)–(12). The paper gives no values: we reuse those of eq. (5)–(6)
    (α₁ = α for colour, α₂ = α₃ = β for structure, prior weight = η)."""

    alpha1: float = 0.1         # colour of y₁ on M, eq. (11)
    alpha2: float = 0.9         # structure of y₁ on M, eq. (11)
    alpha3: float = 0.9         # structure of the reference y₂ on 1 − M, eq. (12)
    prior: float = 0.5          # β of eq. (10) in front of −D(G(z)), eq. (13)



# ============================================================================ configuration
@dataclass
class WGANCompletionConfig(DictConfig):
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
    return pick_preset(PRESETS, name, METHOD, **overrides)


def yeh_config(**kw) -> LatentConfig:
    """Yeh et al.: ``L = ‖W ⊙ (G(z) − y)‖₁ + λ·L_p`` with λ = 0.003 (their section 3.3), so α = 1,
    β = 0, η = 0.003; z clamped to [−1, 1] as in their code. Their prior term reads one global
    discriminator, so ours reads the global critic only (``patch_prior=False``: −D, not eq. 8's
    −D − D_patch). Differences, because the prior is shared: −D of our WGAN critic instead of
    their DCGAN's log(1 − D), and z₀ ~ N(0, I) as this prior was trained (their DCGAN: U[−1, 1])."""
    return replace(LatentConfig(alpha=1.0, beta=0.0, eta=0.003, patch_prior=False), **kw)
