"""Poisson blending (Pérez et al. 2003), the last step of Vitoria et al.'s completion, eq. (9):

    x̂ = argmin_x ‖∇x − ∇G(ẑ)‖²₂   such that   x(i) = y(i) wherever pixel i is known.

Discretisation: ∇ is the forward difference on every edge ``(p, q)`` of the 4-connected
pixel grid *inside* the image (no wrap-around, no values outside), so the energy is
``Σ_(p,q) (x_p − x_q − (g_p − g_q))²``. Its minimiser over the hole pixels solves the sparse,
symmetric positive-definite normal equations (the discrete Poisson equation with the
known pixels as Dirichlet data and the image border as a natural boundary):

    |N_p|·x_p − Σ_{q ∈ N_p, q hole} x_q = Σ_{q ∈ N_p} (g_p − g_q) + Σ_{q ∈ N_p, q known} y_q

for every hole pixel p (N_p = its in-image 4-neighbours). The system is the same for the
three channels: one sparse LU factorisation (SciPy SuperLU), three solves. Exact up to
floating point — the test compares it with a dense least-squares solve of the edge system.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch import Tensor


def _grid_edges(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices ``(p, q)`` of every horizontal and vertical neighbour pair."""
    idx = np.arange(h * w).reshape(h, w)
    p = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    q = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return p, q


def poisson_system(hole: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """The Laplacian restricted to the hole pixels of an ``H×W`` boolean hole map.

    Returns ``(A, unknown_index, p, q)``: ``A`` is ``n×n`` over the ``n`` hole pixels (row-major
    order), ``unknown_index[flat pixel]`` is its row (−1 for known pixels) and ``(p, q)`` the edges.
    """
    h, w = hole.shape
    flat = hole.ravel().astype(bool)
    n = int(flat.sum())
    unknown = np.full(h * w, -1, dtype=np.int64)
    unknown[flat] = np.arange(n)
    p, q = _grid_edges(h, w)
    degree = np.bincount(np.concatenate([p, q]), minlength=h * w)
    rows, cols, vals = [unknown[flat.nonzero()[0]]], [unknown[flat.nonzero()[0]]], [degree[flat].astype(np.float64)]
    both = flat[p] & flat[q]  # an edge between two unknowns couples them (−1 both ways)
    rows += [unknown[p[both]], unknown[q[both]]]
    cols += [unknown[q[both]], unknown[p[both]]]
    vals += [-np.ones(both.sum()), -np.ones(both.sum())]
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return A, unknown, p, q


def poisson_rhs(guide: np.ndarray, target: np.ndarray, hole: np.ndarray, unknown: np.ndarray,
                p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Right-hand sides ``n×C``: guidance divergence plus known neighbours (Dirichlet data)."""
    c = guide.shape[0]
    g = guide.reshape(c, -1).astype(np.float64)
    y = target.reshape(c, -1).astype(np.float64)
    flat = hole.ravel().astype(bool)
    n = int(flat.sum())
    b = np.zeros((c, n))
    for a, o in ((p, q), (q, p)):  # each edge contributes to both of its ends
        sel = flat[a]
        rows = unknown[a[sel]]
        np.add.at(b, (slice(None), rows), g[:, a[sel]] - g[:, o[sel]])
        known_nb = sel & ~flat[o]
        np.add.at(b, (slice(None), unknown[a[known_nb]]), y[:, o[known_nb]])
    return b.T


def poisson_blend_array(guide: np.ndarray, target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Eq. (9) for one image: ``guide`` (G(ẑ)) and ``target`` (y) are ``C×H×W``, ``hole`` ``H×W``.

    Returns ``x`` (float64, not clamped) with ``x = y`` on known pixels and the gradients of
    ``guide`` (in the least-squares sense) inside the hole. Without any known pixel the
    problem only fixes ``x`` up to a constant: ``guide`` itself is returned.
    """
    hole = np.asarray(hole).astype(bool)
    out = np.asarray(target, dtype=np.float64).copy()
    if not hole.any():
        return out
    if hole.all():
        return np.asarray(guide, dtype=np.float64).copy()
    A, unknown, p, q = poisson_system(hole)
    b = poisson_rhs(guide, target, hole, unknown, p, q)
    x = spla.splu(A).solve(b)  # SPD system, factorised once for all channels
    out.reshape(out.shape[0], -1)[:, hole.ravel()] = x.T
    return out


def poisson_blend(guide: Tensor, target: Tensor, hole: Tensor, *, clamp: bool = True) -> Tensor:
    """Eq. (9) for a batch: ``guide``/``target`` ``N×C×H×W``, ``hole`` ``N×1×H×W`` (1 = missing).

    Known pixels of ``target`` are returned bit for bit. ``clamp`` keeps the result inside the
    image range [−1, 1] (the exact minimiser can overshoot it slightly near strong seams).
    """
    if guide.shape != target.shape or hole.shape[0] != guide.shape[0] or hole.shape[2:] != guide.shape[2:]:
        raise ValueError(f"guide {tuple(guide.shape)}, target {tuple(target.shape)} and hole {tuple(hole.shape)} differ")
    g = guide.detach().cpu().double().numpy()
    y = target.detach().cpu().double().numpy()
    m = hole.detach().cpu().numpy()[:, 0] > 0.5
    out = np.stack([poisson_blend_array(g[i], y[i], m[i]) for i in range(len(g))])
    res = torch.from_numpy(out).to(device=target.device, dtype=target.dtype)
    if clamp:
        res = res.clamp(-1, 1)
    known = (hole < 0.5).expand_as(target)
    return torch.where(known, target, res)  # exact known pixels, whatever the float round trip
