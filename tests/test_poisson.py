"""Poisson blending (Vitoria et al. eq. 9) against an independent dense least-squares solve."""
import numpy as np
import pytest
import torch

from faceinpaint.poisson import poisson_blend, poisson_blend_array


def dense_poisson(guide: np.ndarray, target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """min Σ_edges (x_p − x_q − (g_p − g_q))² with x = y on known pixels, by dense lstsq.

    Written from the energy itself (one row per grid edge), not from the normal equations.
    """
    c, h, w = guide.shape
    unknown = {(i, j): k for k, (i, j) in enumerate(zip(*np.nonzero(hole)))}
    edges = [((i, j), (i, j + 1)) for i in range(h) for j in range(w - 1)]
    edges += [((i, j), (i + 1, j)) for i in range(h - 1) for j in range(w)]
    out = target.astype(np.float64).copy()
    for ch in range(c):
        rows, rhs = [], []
        for a, b in edges:
            if a not in unknown and b not in unknown:
                continue
            row = np.zeros(len(unknown))
            r = guide[ch][a] - guide[ch][b]
            if a in unknown:
                row[unknown[a]] += 1
            else:
                r -= target[ch][a]
            if b in unknown:
                row[unknown[b]] -= 1
            else:
                r += target[ch][b]
            rows.append(row)
            rhs.append(r)
        x, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
        for (i, j), k in unknown.items():
            out[ch, i, j] = x[k]
    return out


def _case(seed: int, size: int = 12):
    rng = np.random.default_rng(seed)
    guide = rng.uniform(-1, 1, (3, size, size))
    target = rng.uniform(-1, 1, (3, size, size))
    hole = np.zeros((size, size), bool)
    hole[3:9, 2:7] = True
    hole[0:2, 9:12] = True    # touches the image border: natural boundary there
    hole[10, 0] = True        # a single pixel in a corner
    return guide, target, hole


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_dense_least_squares(seed):
    guide, target, hole = _case(seed)
    sparse = poisson_blend_array(guide, target, hole)
    dense = dense_poisson(guide, target, hole)
    assert np.abs(sparse - dense).max() <= 1e-6
    assert np.array_equal(sparse[:, ~hole], target[:, ~hole])


def test_same_gradients_reproduce_the_target():
    # guide = y + c has exactly y's gradients: the constrained minimiser is y itself
    _, target, hole = _case(3)
    out = poisson_blend_array(target + 0.3, target, hole)
    assert np.abs(out - target).max() < 1e-10


def test_torch_wrapper_batches_and_keeps_known_pixels():
    g = torch.Generator().manual_seed(0)
    guide = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    target = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    hole = torch.zeros(2, 1, 16, 16)
    hole[0, :, 4:10, 4:10] = 1
    hole[1, :, 0:5, 8:16] = 1
    out = poisson_blend(guide, target, hole, clamp=False)
    assert out.dtype == torch.float32 and out.shape == target.shape
    known = (hole < 0.5).expand_as(target)
    assert torch.equal(out[known], target[known])
    for i in range(2):
        ref = dense_poisson(guide[i].double().numpy(), target[i].double().numpy(), hole[i, 0].numpy() > 0.5)
        assert np.abs(out[i].double().numpy() - ref).max() < 1e-5  # float32 output
    clamped = poisson_blend(guide, target, hole)
    assert clamped.min() >= -1 and clamped.max() <= 1


def test_no_hole_and_all_hole():
    rng = np.random.default_rng(4)
    guide, target = rng.uniform(-1, 1, (2, 3, 8, 8))
    assert np.array_equal(poisson_blend_array(guide, target, np.zeros((8, 8), bool)), target)
    assert np.array_equal(poisson_blend_array(guide, target, np.ones((8, 8), bool)), guide)
