"""Generator and critics of Vitoria, Sintes & Ballester (section 3.1, figs. 3–6).

The paper's architecture figures (3–6) are pictures whose layer widths the text does not
give; the text says: residual blocks in G and D (figs. 3, 4), ReLU everywhere, tanh at the
output of G, **layer norm instead of batch norm in the critics**, a global critic plus a
PatchGAN critic (fig. 5), z ∈ R^128 ~ N(0, I). Their model [34] is built "on top of
WGAN-GP [17]", so the missing details (block layout, widths, up/down-sampling, 1×1
shortcuts) follow Gulrajani et al.'s 64×64 ResNet, the network WGAN-GP used for 64-px
images:

* G: ``Linear(128 → 4·4·C0)`` → residual up-blocks (×2 each) → BN → ReLU → conv3×3 → tanh,
  widths ``(512, 512, 256, 128, 64)`` at 4, 8, 16, 32, 64 px;
* D: conv3×3 → residual down-blocks → ``Linear(4·4·C → 1)``, widths ``(64, 128, 256, 512, 512)``;
* D_patch: the same trunk stopped at 8×8, then a conv3×3 to one channel: one decision per
  patch (receptive field ≈ 46 px of the 64-px image), as in PatchGAN [20].

Both critics return one score per image (``N``); the patch critic's score is the mean of its
patch decisions (:meth:`PatchCritic.patch_map` gives the map), so the WGAN-GP losses and the
gradient penalty apply to both unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:  # the builder reads a config; the config reads this module's constants
    from .config import WGANCompletionConfig

PAPER_G_CHANNELS = (512, 512, 256, 128, 64)
PAPER_D_CHANNELS = (64, 128, 256, 512, 512)
PAPER_PATCH_CHANNELS = (64, 128, 256, 512)


class LayerNorm2d(nn.GroupNorm):
    """Layer norm over (C, H, W) per sample with a per-channel gain and bias.

    Ba et al.'s layer norm as WGAN-GP applies it to conv features: statistics of one sample
    only, so the critic's output for one image never depends on the rest of the batch
    (which batch norm would break and the gradient penalty assumes). = ``GroupNorm(1, C)``.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(1, channels, eps=eps)


class GenResBlock(nn.Module):
    """Generator residual block (fig. 3): ``x ↦ F(x) + shortcut(x)``, upsampling ×2.

    F = BN → ReLU → nearest ×2 → conv3×3 → BN → ReLU → conv3×3;
    shortcut = nearest ×2 → conv1×1 (identity when neither size nor width changes).
    """

    def __init__(self, cin: int, cout: int, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or upsample) else nn.Identity()

    def _up(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(self._up(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(self._up(x))


class CriticResBlock(nn.Module):
    """Critic residual block (fig. 4), layer norm instead of batch norm, downsampling ×2.

    F = LN → ReLU → conv3×3 → LN → ReLU → conv3×3 → mean-pool 2×2;
    shortcut = mean-pool 2×2 → conv1×1 (identity when neither size nor width changes).
    """

    def __init__(self, cin: int, cout: int, downsample: bool = True):
        super().__init__()
        self.downsample = downsample
        self.ln1 = LayerNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.ln2 = LayerNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or downsample) else nn.Identity()

    def _down(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.relu(self.ln1(x)))
        h = self._down(self.conv2(F.relu(self.ln2(h))))
        return h + self.shortcut(self._down(x))


class Generator(nn.Module):
    """G: z ∈ R^{z_dim} → image ``N×3×S×S`` in [−1, 1], ``S = 4·2^(len(channels)−1)`` (fig. 6)."""

    def __init__(self, z_dim: int = 128, channels: Sequence[int] = PAPER_G_CHANNELS):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError("the generator needs at least two widths (4×4 and one up-block)")
        self.z_dim, self.channels = z_dim, channels
        self.fc = nn.Linear(z_dim, 4 * 4 * channels[0])
        self.blocks = nn.Sequential(*[GenResBlock(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.bn = nn.BatchNorm2d(channels[-1])
        self.to_rgb = nn.Conv2d(channels[-1], 3, 3, padding=1)

    @property
    def image_size(self) -> int:
        return 4 * 2 ** (len(self.channels) - 1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(z.shape[0], self.channels[0], 4, 4)
        h = self.blocks(h)
        return torch.tanh(self.to_rgb(F.relu(self.bn(h))))


class GlobalCritic(nn.Module):
    """D: image → one unbounded score per image (fig. 5, top). No batch norm (section 3.1)."""

    def __init__(self, channels: Sequence[int] = PAPER_D_CHANNELS, image_size: int = 64):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        n_down = len(channels) - 1
        if image_size != 4 * 2 ** n_down:
            raise ValueError(f"{len(channels)} widths take a {4 * 2 ** n_down}-px image to 4×4, not {image_size}")
        self.channels = channels
        self.from_rgb = nn.Conv2d(3, channels[0], 3, padding=1)
        self.blocks = nn.Sequential(*[CriticResBlock(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.fc = nn.Linear(4 * 4 * channels[-1], 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.from_rgb(x))
        return self.fc(h.flatten(1)).squeeze(1)


class PatchCritic(nn.Module):
    """D_patch: one decision per image patch (fig. 5, bottom; PatchGAN [20]).

    ``forward`` returns the mean decision per image (``N``), which is what the WGAN losses
    and the prior term −D_patch(G(z)) of eq. (8) use; :meth:`patch_map` returns the
    ``N×1×h×w`` decisions themselves.
    """

    def __init__(self, channels: Sequence[int] = PAPER_PATCH_CHANNELS):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        self.channels = channels
        self.from_rgb = nn.Conv2d(3, channels[0], 3, padding=1)
        self.blocks = nn.Sequential(*[CriticResBlock(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.ln = LayerNorm2d(channels[-1])
        self.head = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def patch_map(self, x: Tensor) -> Tensor:
        h = self.blocks(self.from_rgb(x))
        return self.head(F.relu(self.ln(h)))

    def forward(self, x: Tensor) -> Tensor:
        return self.patch_map(x).mean(dim=(1, 2, 3))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_nets(cfg: WGANCompletionConfig) -> dict[str, nn.Module]:
    G = Generator(cfg.z_dim, cfg.g_channels)
    if G.image_size != cfg.image_size:
        raise ValueError(f"g_channels {cfg.g_channels} make {G.image_size}-px images, not {cfg.image_size}")
    return {"G": G, "D": GlobalCritic(cfg.d_channels, cfg.image_size), "D_patch": PatchCritic(cfg.patch_channels)}
