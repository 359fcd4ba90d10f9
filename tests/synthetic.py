"""Synthetic test inputs shared by the method tests: smooth "faces" and square holes."""
import torch


def faces(n, size=64, seed=0):
    """``n×3×size×size`` in [-1, 1]: a diagonal ramp plus seeded noise (smooth enough to inpaint)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(-0.8, 0.8, size)
    ramp = (base[None, :] + base[:, None]).clamp(-1, 1) / 2
    return (ramp + 0.3 * torch.rand(n, 3, size, size, generator=g) - 0.15).clamp(-1, 1)


def square_hole(n, size=64, a=16, b=48):
    """``n×1×size×size`` holes (1 = missing) on rows and columns ``a:b``."""
    hole = torch.zeros(n, 1, size, size)
    hole[..., a:b, a:b] = 1
    return hole
