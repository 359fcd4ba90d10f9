"""Shared by the EXE-GAN tests: a small frozen face embedding standing in for the identity net."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinyEmbed(nn.Module):
    """A small frozen face embedding for fast tests (the library's default is the dlib ResNet):
    one seeded conv, mean-pooled, unit norm — the same net in every run."""

    name = "tiny test embedding"

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        with torch.no_grad():  # every parameter from its own seed
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=g))
        self.requires_grad_(False)

    def forward(self, x):
        return F.normalize(self.conv(x).mean((2, 3)), dim=1)
