"""Small LaFIn models and inputs shared by the tests/test_lafin_*.py files."""
import torch
from torch import nn

from faceinpaint.methods import lafin as L


def smoke(**kw):
    return L.preset_config("smoke", **kw)


def spread_landmarks(n, size=64, seed=0):
    """68 distinct points on a grid inside the image."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(size * size // 4, generator=g)[:68]
    xy = torch.stack([perm % (size // 2), perm // (size // 2)], 1).float() * 2 + 1
    return xy[None].expand(n, -1, -1).clone()


def tiny_model(cfg=None, seed=0):
    cfg = cfg or smoke()
    torch.manual_seed(seed)
    P = L.build_predictor(cfg) if cfg.use_landmarks else None
    return L.LaFIn(L.build_generator(cfg), P, size=cfg.image_size, use_landmarks=cfg.use_landmarks)


class LinearFeatures(nn.Module):
    """A fixed two-layer 'feature network' (cheap stand-in for VGG in the sum test)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.requires_grad_(False)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return {"relu1_1": h, "relu2_1": torch.relu(self.b(h))}
