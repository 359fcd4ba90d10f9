"""Small WGAN prior networks and a smoke-trained checkpoint shared by tests/test_wgan_completion_*.py."""
import pytest
import torch
from torch import nn

from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.wgan_completion.networks import GlobalCritic, Generator, PatchCritic
from synthetic import faces  # tests/synthetic.py


def tiny_nets(seed=0):
    torch.manual_seed(seed)
    return Generator(16, (16, 8, 8, 8, 8)), GlobalCritic((4, 4, 8, 8, 8)), PatchCritic((4, 4, 8, 8))


class FixedImage(nn.Module):
    """A 'generator' that always returns the same image (plus 0·z so gradients flow)."""

    z_dim = 4

    def __init__(self, x):
        super().__init__()
        self.x = nn.Parameter(x.clone())

    def forward(self, z):
        return self.x.expand(z.shape[0], -1, -1, -1) + 0 * z.sum()


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("wgan_smoke")
    data = [{"image": img} for img in faces(12, seed=4)]
    path = W.fit(W.preset_config("smoke"), data, out, seed=0, progress=False)
    return out, path
