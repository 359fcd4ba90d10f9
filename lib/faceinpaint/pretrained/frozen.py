"""The base of the pretrained feature extractors used by losses and metrics (VGG19, Inception)."""
from __future__ import annotations

import torch
from torch import nn


class FrozenModule(nn.Module):
    """A pretrained network that is never trained: no gradients for its weights, always in
    eval mode — ``.train()`` on a model that holds one (e.g. a GAN task's nets) leaves it in
    eval mode, so its BatchNorm/dropout never change behaviour mid-training. Gradients still
    flow *through* it to its input (perceptual and style losses need that)."""

    def freeze(self, device: torch.device | str | None = None) -> "FrozenModule":
        """Call at the end of ``__init__``, after the weights are loaded."""
        self.requires_grad_(False)
        self.eval()
        if device is not None:
            self.to(device)
        return self

    def train(self, mode: bool = True) -> "FrozenModule":
        return super().train(False)
