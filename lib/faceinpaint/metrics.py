"""Evaluation metrics — one protocol for the four papers (PAPERS.md, 'One evaluation protocol').

Inputs are our images, ``N×3×H×W`` in ``[-1, 1]``; every metric converts them to ``[0, 1]`` RGB
(clamped) first and computes in float64: *metrics on the composite in [0, 1] RGB*. Per-image
functions return ``(N,)`` tensors; :func:`compute_all` returns their means as plain floats.

=====================  =============================================================  =====
key                    definition                                                     best
=====================  =============================================================  =====
``psnr``               ``10·log10(1 / MSE)`` over all pixels and channels (data       ↑
                       range 1); ``inf`` for identical images
``ssim``               Wang et al. 2004 eq. 13, Gaussian window 11×11 σ 1.5, K1 .01,  ↑
                       K2 .03, per channel then averaged; valid region only (as
                       scikit-image ``gaussian_weights=True, sigma=1.5,
                       use_sample_covariance=False, data_range=1, channel_axis``)
``ms_ssim``            Wang et al. 2003 eq. 7 (pytorch-msssim's algorithm): 5 scales  ↑
                       ≥ 161 px, fewer below (see :func:`ms_ssim_scales`)
``l1``, ``mse``        mean absolute / squared error                                  ↓
``psnr_hole``,         the same restricted to hole pixels (``hole`` = 1)              ↑/↓
``l1_hole``
``vgg19_perceptual``   LPIPS eq. 1 *form* with unit weights on VGG19 relu1_1…relu5_1  ↓
                       — **not LPIPS** (no learned heads, a different trunk)
``lpips``              Zhang et al. 2018, official linear heads (``lpips`` package)   ↓
                       on the official torchvision VGG16 — only when that file exists
``fid``                Heusel et al. 2017 eq. 6 on TF-FID Inception pool features     ↓
``u_ids``, ``p_ids``   Co-Mod-GAN (Zhao et al. 2021) §4: linear SVM real vs fake     ↑
``identity``           cosine of face-recognition embeddings (fake vs exemplar)       ↑
``nme``                landmark error / outer-eye-corner distance (36–45)             ↓
=====================  =============================================================  =====

:class:`MetricResult` (a ``dict`` of floats) also records, in ``.networks``, which network
produced each network-based value.
"""
from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import assets
from .errors import AssetError, FaceInpaintError

PER_IMAGE_METRICS = ("psnr", "ssim", "ms_ssim", "l1", "mse", "vgg19_perceptual", "lpips")
SET_METRICS = ("fid", "u_ids", "p_ids")
DEFAULT_METRICS = ("psnr", "ssim", "ms_ssim", "l1", "mse", "vgg19_perceptual", "lpips")

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, §3.2


class LPIPSUnavailable(FaceInpaintError):
    """Real LPIPS needs the official torchvision trunk weights, which are not present."""


# ----------------------------------------------------------------------------- helpers
def to_unit(x: Tensor) -> Tensor:
    """``[-1, 1]`` → ``[0, 1]`` (clamped), float64."""
    return ((x.double() + 1.0) * 0.5).clamp(0.0, 1.0)


def _check_pair(real: Tensor, fake: Tensor) -> None:
    if real.shape != fake.shape or real.dim() != 4 or real.shape[1] != 3:
        raise ValueError(f"real and fake must both be N×3×H×W, got {tuple(real.shape)} and {tuple(fake.shape)}")


def _hole_weights(hole: Tensor, like: Tensor) -> Tensor:
    if hole.dim() != 4 or hole.shape[1] != 1 or hole.shape[0] != like.shape[0] or hole.shape[2:] != like.shape[2:]:
        raise ValueError(f"hole must be N×1×H×W matching {tuple(like.shape)}, got {tuple(hole.shape)}")
    return hole.to(like.device, torch.float64).expand_as(like)


# ----------------------------------------------------------------------------- pixel metrics
def mse(real: Tensor, fake: Tensor, hole: Tensor | None = None) -> Tensor:
    """Mean squared error per image in ``[0, 1]`` units; with ``hole``, over hole pixels only
    (``Σ hole·(x − y)² / (3·Σ hole)``; NaN when an image has no hole pixel)."""
    _check_pair(real, fake)
    sq = (to_unit(real) - to_unit(fake)).pow(2)
    if hole is None:
        return sq.flatten(1).mean(1)
    w = _hole_weights(hole, sq)
    return (sq * w).flatten(1).sum(1) / w.flatten(1).sum(1)


def psnr(real: Tensor, fake: Tensor, hole: Tensor | None = None) -> Tensor:
    """``PSNR = 10·log10(R² / MSE)`` with data range ``R = 1``; ``inf`` when MSE is 0."""
    return 10.0 * torch.log10(1.0 / mse(real, fake, hole))


def l1(real: Tensor, fake: Tensor, hole: Tensor | None = None) -> Tensor:
    """Mean absolute error per image in ``[0, 1]`` units; with ``hole``, over hole pixels only."""
    _check_pair(real, fake)
    ab = (to_unit(real) - to_unit(fake)).abs()
    if hole is None:
        return ab.flatten(1).mean(1)
    w = _hole_weights(hole, ab)
    return (ab * w).flatten(1).sum(1) / w.flatten(1).sum(1)


# ----------------------------------------------------------------------------- SSIM family
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalised 1-D Gaussian ``g_i ∝ exp(−i²/2σ²)``, ``i = −(size−1)/2 … (size−1)/2``, float64.

    ``size`` 11 with σ 1.5 is scikit-image's window (truncate 3.5 → radius 5).
    """
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur_valid(x: Tensor, win: Tensor) -> Tensor:
    """Separable Gaussian filter, 'valid' region only (no padding), per channel."""
    c = x.shape[1]
    k = win.to(x)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)


def _ssim_cs(x: Tensor, y: Tensor, data_range: float = 1.0) -> tuple[Tensor, Tensor]:
    """Per-channel mean SSIM and contrast-structure term, ``N×C`` each (Wang et al. 2004).

    ``SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))`` (eq. 13),
    ``cs = (2σxy + C2) / (σx² + σy² + C2)``, ``C1 = (K1·R)²``, ``C2 = (K2·R)²``, local
    statistics under the Gaussian window, population (not sample) covariance.
    """
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} px, got {tuple(x.shape[-2:])}")
    win = gaussian_window()
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    # one grouped convolution for the five local moments E[x], E[y], E[x²], E[y²], E[xy]
    moments = _blur_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), win).chunk(5, dim=1)
    mu_x, mu_y, exx, eyy, exy = moments
    sxx = exx - mu_x ** 2
    syy = eyy - mu_y ** 2
    sxy = exy - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1) * cs_map
    return ssim_map.flatten(2).mean(2), cs_map.flatten(2).mean(2)


def ssim(real: Tensor, fake: Tensor) -> Tensor:
    """SSIM per image: Gaussian window 11, σ 1.5, K1 .01, K2 .03, channels averaged → ``(N,)``."""
    _check_pair(real, fake)
    s, _ = _ssim_cs(to_unit(real), to_unit(fake))
    return s.mean(1)


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales an image allows: the most ``s ≤ 5`` with ``min(H, W) > 10·2^(s−1)``.

    Each scale halves the image and the coarsest one must still hold the 11-px window —
    pytorch-msssim asserts ``min side > 160`` for its fixed 5 scales. 256 px → 5, 128 → 4,
    64 → 3, 32 → 2, 16 → 1 (plain SSIM).
    """
    side = min(height, width)
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and side > (SSIM_WINDOW - 1) * 2 ** scales:
        scales += 1
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images larger than {SSIM_WINDOW - 1} px, got {height}×{width}")
    return scales


def ms_ssim_weights(scales: int) -> tuple[float, ...]:
    """The first ``scales`` exponents of Wang et al. (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
    renormalised to sum to 1 when fewer than 5 are used (so the value stays a weighted
    geometric mean and comparable in range)."""
    w = MS_SSIM_WEIGHTS[:scales]
    if scales == len(MS_SSIM_WEIGHTS):
        return w
    total = sum(w)
    return tuple(v / total for v in w)


def ms_ssim(real: Tensor, fake: Tensor, scales: int | None = None) -> Tensor:
    """MS-SSIM per image (Wang et al. 2003, eq. 7): ``Π_{j<M} cs_j^{β_j} · ssim_M^{β_M}``.

    pytorch-msssim's algorithm exactly (tests compare against it at 256 px): per channel, cs
    at each of the first M−1 scales and SSIM at the coarsest (each clamped at 0), 2×2 average
    pooling between scales (zero-padded by one pixel on odd sides, as there), product of
    powers, then the mean over channels. ``scales=None`` picks :func:`ms_ssim_scales` —
    5 for images of ≥ 161 px, fewer for smaller ones, with :func:`ms_ssim_weights`.
    """
    _check_pair(real, fake)
    x, y = to_unit(real), to_unit(fake)
    m = ms_ssim_scales(*x.shape[-2:]) if scales is None else scales
    if m > ms_ssim_scales(*x.shape[-2:]):
        raise ValueError(f"{m} MS-SSIM scales need images larger than {(SSIM_WINDOW - 1) * 2 ** (m - 1)} px")
    beta = x.new_tensor(ms_ssim_weights(m)).view(-1, 1, 1)
    terms = []
    for j in range(m):
        s, cs = _ssim_cs(x, y)
        if j < m - 1:
            terms.append(cs.clamp_min(0))
            pad = [d % 2 for d in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    terms.append(s.clamp_min(0))
    return torch.prod(torch.stack(terms) ** beta, dim=0).mean(1)


# ----------------------------------------------------------------------------- feature distances
class PerceptualDistance(nn.Module):
    """``vgg19_perceptual``: LPIPS's distance form (Zhang et al. 2018, eq. 1) with **unit
    weights** on VGG19 relu1_1 … relu5_1 — not LPIPS, and never reported as LPIPS:

    ``d(x, y) = Σ_l  1/(H_l W_l) Σ_{h,w} ‖ φ̂_l(x)_{hw} − φ̂_l(y)_{hw} ‖²₂``,
    ``φ̂ = φ / ‖φ‖₂`` along channels.

    Channel normalisation makes it independent of the trunk's input scaling (Caffe 0–255 vs
    torchvision mean/std), so the number means the same with either VGG19 weight file.
    ``source`` names the trunk used.
    """

    LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def __init__(self, weights: str = "auto", device: torch.device | str | None = None):
        super().__init__()
        from .pretrained.vgg import VGGFeatures

        self.vgg = VGGFeatures(self.LAYERS, weights=weights, device=device)
        self.source = f"vgg19_perceptual: unit-weight LPIPS-form distance on {self.vgg.source}"

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        _check_pair(real, fake)
        dev = next(self.vgg.parameters()).device
        n = real.shape[0]
        feats = self.vgg(torch.cat([real, fake]).float().to(dev).clamp(-1, 1))
        total = torch.zeros(n, dtype=torch.float64, device=dev)
        for layer in self.LAYERS:
            f = feats[layer].double()
            f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # lpips.normalize_tensor's ε
            total = total + (f[:n] - f[n:]).pow(2).sum(1).mean((1, 2))
        return total.cpu()


def lpips_weights(net: str = "vgg") -> Path | None:
    """The official torchvision trunk file LPIPS-``net`` needs, if the user has it."""
    name = {"vgg": "torchvision_vgg16", "alex": "torchvision_alexnet"}[net]
    return assets.official_weights(name)


class LPIPS(nn.Module):
    """Real LPIPS v0.1 (Zhang et al. 2018, eq. 1): the ``lpips`` package's learned linear heads
    (shipped in the package) on the **official** torchvision VGG16 / AlexNet trunk, loaded
    from the user's file. Without that file it raises :class:`LPIPSUnavailable`: a random
    trunk (``pnet_rand``) is not LPIPS.
    """

    def __init__(self, net: str = "vgg", device: torch.device | str | None = None):
        super().__init__()
        if net not in ("vgg", "alex"):
            raise ValueError(f"LPIPS net must be 'vgg' or 'alex', got {net!r}")
        path = lpips_weights(net)
        if path is None:
            fname = assets.OFFICIAL["torchvision_vgg16" if net == "vgg" else "torchvision_alexnet"][0]
            raise LPIPSUnavailable(
                f"LPIPS-{net} needs the official torchvision weights {fname} (in $FACEINPAINT_WEIGHTS, "
                f"$TORCH_HOME/hub/checkpoints or data/official/); report vgg19_perceptual instead")
        import lpips as lpips_pkg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's 'pretrained' deprecation inside lpips
            model = lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise AssetError(f"{path}: cannot be read as a torchvision state dict ({type(e).__name__})") from None
        # lpips keeps torchvision's feature indices inside its slices: net.slice2.5.weight ↔ features.5.weight
        with torch.no_grad():
            for name, p in model.net.named_parameters():
                idx, kind = name.split(".")[-2:]
                key = f"features.{idx}.{kind}"
                if key not in sd or sd[key].shape != p.shape:
                    raise AssetError(f"{path}: no {key} of shape {tuple(p.shape)}; not a torchvision {net} file")
                p.copy_(sd[key])
        self.model = model.eval().requires_grad_(False)
        self.source = f"LPIPS v0.1 ({net}): lpips package linear heads on official torchvision weights {path.name}"
        if device is not None:
            self.to(device)

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        _check_pair(real, fake)
        dev = next(self.model.parameters()).device
        # lpips takes [-1, 1] RGB (normalize=False): exactly our convention
        d = self.model(real.float().to(dev).clamp(-1, 1), fake.float().to(dev).clamp(-1, 1))
        return d.flatten(1).mean(1).double().cpu()


@functools.lru_cache(maxsize=4)
def _perceptual_cached(weights_key: str, device: str) -> PerceptualDistance:
    return PerceptualDistance(weights="auto", device=device)


@functools.lru_cache(maxsize=4)
def _lpips_cached(net: str, weights_key: str, device: str) -> LPIPS:
    return LPIPS(net, device=device)


@functools.lru_cache(maxsize=2)
def _inception_cached(device: str):
    from .pretrained.inception import FIDInception

    return FIDInception(device=device)


def _official_key(name: str) -> str:
    # Cached networks are keyed by the weight file found, so a newly added file is picked up.
    return str(assets.official_weights(name))


def perceptual_distance(real: Tensor, fake: Tensor, net: PerceptualDistance | None = None,
                        device: torch.device | str = "cpu") -> Tensor:
    """``vgg19_perceptual`` per image (see :class:`PerceptualDistance`)."""
    if net is None:
        net = _perceptual_cached(_official_key("torchvision_vgg19"), str(device))
    with torch.no_grad():
        return net(real, fake)


def lpips_available(net: str = "vgg") -> bool:
    return lpips_weights(net) is not None


def lpips(real: Tensor, fake: Tensor, net: str = "vgg", device: torch.device | str = "cpu") -> Tensor:
    """Real LPIPS per image; raises :class:`LPIPSUnavailable` without the official weights."""
    model = _lpips_cached(net, str(lpips_weights(net)), str(device)) if lpips_available(net) else LPIPS(net)
    with torch.no_grad():
        return model(real, fake)


# ----------------------------------------------------------------------------- FID
def _as_features(feats) -> np.ndarray:
    a = feats.detach().cpu().double().numpy() if isinstance(feats, Tensor) else np.asarray(feats, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"features must be N×D, got shape {a.shape}")
    return a


def _trace_sqrt_sqrtm(s1: np.ndarray, s2: np.ndarray) -> float:
    """``tr √(Σ1Σ2)`` with ``scipy.linalg.sqrtm`` (the reference implementations' route).

    The product of two PSD matrices has a real non-negative spectrum, but sqrtm may return
    small imaginary parts from rounding (or large ones for near-singular Σ): the trace's
    real part is taken, with pytorch-fid's εI offset when the result is not finite.
    """
    import scipy.linalg

    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(s1.shape[0])
        covmean = scipy.linalg.sqrtm((s1 + eps) @ (s2 + eps))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3 * max(1.0, abs(np.trace(covmean).real)):
            warnings.warn(f"FID: sqrtm has imaginary diagonal parts up to {imag:.3g}; using the real part")
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_lowrank(a: np.ndarray, b: np.ndarray) -> float:
    """``tr √(Σ1Σ2)`` exactly from the centred features when there are fewer samples than dims.

    With ``Σ1 = A1ᵀA1``, ``Σ2 = A2ᵀA2`` (``A = centred features / √(n−1)``), the non-zero
    eigenvalues of ``Σ1Σ2`` are those of ``(A1A2ᵀ)(A1A2ᵀ)ᵀ``, so ``tr √(Σ1Σ2)`` is the sum of
    the singular values of the small ``n1×n2`` matrix ``A1A2ᵀ`` — no d×d square root, no
    complex rounding, exactly 0 distance for identical sets.
    """
    a1 = (a - a.mean(0)) / math.sqrt(a.shape[0] - 1)
    a2 = (b - b.mean(0)) / math.sqrt(b.shape[0] - 1)
    return float(np.linalg.svd(a1 @ a2.T, compute_uv=False).sum())


def fid(feats_a, feats_b, method: str = "auto") -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, eq. 6):

    ``FID = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1Σ2)^{1/2})``, float64, ``Σ`` = unbiased covariance.

    ``method``: ``"sqrtm"`` = ``scipy.linalg.sqrtm`` of the d×d product (pytorch-fid,
    TF-FID); ``"lowrank"`` = the same trace from the singular values of ``A1A2ᵀ`` (exact, see
    :func:`_trace_sqrt_lowrank`); ``"auto"`` uses the low-rank route when either set has
    fewer samples than dimensions (our small CPU test sets: Σ is singular there and sqrtm is
    both slow, ~40 s at d = 2048, and inexact), sqrtm otherwise. NaN with < 2 samples.
    """
    a, b = _as_features(feats_a), _as_features(feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if min(a.shape[0], b.shape[0]) < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    if method == "auto":
        method = "lowrank" if min(a.shape[0], b.shape[0]) <= a.shape[1] else "sqrtm"
    if method == "lowrank":
        tr_sqrt = _trace_sqrt_lowrank(a, b)
    elif method == "sqrtm":
        tr_sqrt = _trace_sqrt_sqrtm(np.atleast_2d(s1), np.atleast_2d(s2))
    else:
        raise ValueError(f"unknown FID method {method!r}")
    return float(((mu1 - mu2) ** 2).sum() + np.trace(np.atleast_2d(s1)) + np.trace(np.atleast_2d(s2)) - 2 * tr_sqrt)


def inception_features(images: Tensor, batch_size: int = 16, device: torch.device | str = "cpu",
                       progress: bool = True, net=None, desc: str = "inception") -> Tensor:
    """TF-FID Inception pool features ``N×2048`` float64 of images in ``[-1, 1]``."""
    if net is None:
        net = _inception_cached(str(device))
    return net.features(images, batch_size=batch_size, progress=progress, desc=desc)


def fid_from_images(real: Tensor, fake: Tensor, batch_size: int = 16, device: torch.device | str = "cpu",
                    progress: bool = True, net=None) -> float:
    """FID between two image sets (any sizes, ``[-1, 1]``), features batched with a progress bar."""
    fr = inception_features(real, batch_size, device, progress, net, desc="inception (real)")
    ff = inception_features(fake, batch_size, device, progress, net, desc="inception (fake)")
    return fid(fr, ff)


# ----------------------------------------------------------------------------- U-IDS / P-IDS
def ids_scores(real_feats, fake_feats, max_iter: int = 1000) -> tuple[float, float]:
    """Unpaired and paired Inception discriminative scores (Co-Mod-GAN, Zhao et al. 2021, §4).

    A linear SVM (``sklearn.svm.LinearSVC(dual=False)``, as Co-Mod-GAN's code) is fit on the
    features of reals (label 1) vs fakes (label 0), and evaluated on the same features:

    * ``U-IDS`` = misclassification rate, averaged over the two classes
      (``½(FN/n_real + FP/n_fake)``; equal to Co-Mod-GAN's ``1 − accuracy`` for equal counts);
    * ``P-IDS`` = ``P(f(fake_i) > f(real_i))``: the fraction of pairs (real, its inpainted
      fake) where the fake's decision value exceeds the real's — rows must be paired.

    Both are 0.5 when fakes are indistinguishable from reals and 0 when separable. Deterministic
    (``dual=False`` is a deterministic solver).
    """
    from sklearn.svm import LinearSVC

    r, f = _as_features(real_feats), _as_features(fake_feats)
    if r.shape[0] != f.shape[0]:
        raise ValueError(f"P-IDS needs paired features: {r.shape[0]} reals vs {f.shape[0]} fakes")
    x = np.concatenate([r, f])
    y = np.concatenate([np.ones(len(r), dtype=int), np.zeros(len(f), dtype=int)])
    svm = LinearSVC(dual=False, max_iter=max_iter)
    svm.fit(x, y)
    pred = svm.predict(x)
    u_ids = 0.5 * (np.mean(pred[: len(r)] != 1) + np.mean(pred[len(r):] != 0))
    p_ids = np.mean(svm.decision_function(f) > svm.decision_function(r))
    return float(u_ids), float(p_ids)


# ----------------------------------------------------------------------------- identity, landmarks
def identity_similarity(a: Tensor, b: Tensor, net: Callable[[Tensor], Tensor] | None = None,
                        device: torch.device | str = "cpu") -> Tensor:
    """Cosine similarity of face-recognition embeddings, per image pair → ``(N,)``.

    ``net(images) → N×D`` normalised embeddings; by default
    :func:`faceinpaint.identity.load_identity_net` (its name says which network).
    """
    _check_pair(a, b)
    if net is None:
        net = _identity_cached(str(device))[0]
    dev = next(net.parameters()).device if isinstance(net, nn.Module) else torch.device(device)
    with torch.no_grad():
        ea = F.normalize(net(a.float().to(dev)).double(), dim=1)
        eb = F.normalize(net(b.float().to(dev)).double(), dim=1)
    return (ea * eb).sum(1).cpu()


@functools.lru_cache(maxsize=2)
def _identity_cached(device: str):
    from .identity import load_identity_net

    return load_identity_net(device)


def nme(pred_lm: Tensor, gt_lm: Tensor) -> Tensor:
    """Normalised mean error per image: ``mean_k ‖p_k − g_k‖₂ / ‖g_36 − g_45‖₂`` (``N×68×2``).

    The normaliser is the inter-ocular distance between the ground truth's *outer* eye corners
    (iBUG-68 indices 36 and 45, 0-based), as in 300W / WFLW (LaFIn tables 4–5).
    """
    if pred_lm.shape != gt_lm.shape or pred_lm.dim() != 3 or pred_lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must both be N×68×2, got {tuple(pred_lm.shape)} and {tuple(gt_lm.shape)}")
    p, g = pred_lm.double(), gt_lm.double()
    iod = (g[:, 36] - g[:, 45]).norm(dim=1)
    return (p - g).norm(dim=2).mean(1) / iod


# ----------------------------------------------------------------------------- everything at once
class MetricResult(dict):
    """``{metric: float}`` plus ``networks`` (which network produced which value) and ``notes``."""

    def __init__(self, values=(), networks: dict[str, str] | None = None, notes: dict[str, str] | None = None):
        super().__init__(values)
        self.networks: dict[str, str] = dict(networks or {})
        self.notes: dict[str, str] = dict(notes or {})

    def to_json(self) -> dict:
        return {"metrics": dict(self), "networks": self.networks, "notes": self.notes}


def compute_per_image(real: Tensor, fake: Tensor, hole: Tensor | None = None,
                      which: Sequence[str] = DEFAULT_METRICS, *, exemplar: Tensor | None = None,
                      device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], dict[str, str], dict[str, str]]:
    """Per-image values ``{key: (N,)}`` of :func:`compute_all`, with networks and notes."""
    _check_pair(real, fake)
    real, fake = real.detach().cpu(), fake.detach().cpu()
    unknown = set(which) - set(PER_IMAGE_METRICS) - set(SET_METRICS) - {"identity"}
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; known: {PER_IMAGE_METRICS + SET_METRICS + ('identity',)}")
    vals: dict[str, Tensor] = {}
    networks: dict[str, str] = {}
    notes = {"range": "metrics on the composite in [0, 1] RGB"}
    if "psnr" in which:
        vals["psnr"] = psnr(real, fake)
    if "ssim" in which:
        vals["ssim"] = ssim(real, fake)
    if "ms_ssim" in which:
        m = ms_ssim_scales(*real.shape[-2:])
        vals["ms_ssim"] = ms_ssim(real, fake, scales=m)
        notes["ms_ssim"] = f"{m} scales, weights {tuple(round(w, 4) for w in ms_ssim_weights(m))}"
    if "l1" in which:
        vals["l1"] = l1(real, fake)
    if "mse" in which:
        vals["mse"] = mse(real, fake)
    if hole is not None:
        hole = hole.detach().cpu()
        if "psnr" in which:
            vals["psnr_hole"] = psnr(real, fake, hole)
        if "l1" in which:
            vals["l1_hole"] = l1(real, fake, hole)
    if "vgg19_perceptual" in which:
        net = _perceptual_cached(_official_key("torchvision_vgg19"), str(device))
        vals["vgg19_perceptual"] = perceptual_distance(real, fake, net)
        networks["vgg19_perceptual"] = net.source
    if "lpips" in which:
        if lpips_available("vgg"):
            model = _lpips_cached("vgg", str(lpips_weights("vgg")), str(device))
            with torch.no_grad():
                vals["lpips"] = model(real, fake)
            networks["lpips"] = model.source
        else:
            networks["lpips"] = "unavailable: no official torchvision vgg16-397923af.pth (vgg19_perceptual reported instead)"
    if "identity" in which and exemplar is not None:
        net, name = _identity_cached(str(device))
        vals["identity"] = identity_similarity(fake, exemplar.detach().cpu(), net)
        networks["identity"] = name
    return vals, networks, notes


def compute_all(real: Tensor, fake: Tensor, hole: Tensor | None = None,
                which: Sequence[str] = DEFAULT_METRICS, *, fid: bool = False, ids: bool = False,
                exemplar: Tensor | None = None, device: torch.device | str = "cpu",
                batch_size: int = 16, progress: bool = False) -> MetricResult:
    """Means over the batch as plain floats, with stable keys.

    Always (when in ``which``): ``psnr, ssim, ms_ssim, l1, mse, vgg19_perceptual``; ``lpips``
    only when the official weights exist (else ``.networks["lpips"]`` says why it is absent);
    with ``hole``: ``psnr_hole, l1_hole``; with ``exemplar`` and ``"identity"`` in ``which``:
    ``identity``. Set-level: ``fid`` (``fid=True`` or ``"fid"`` in ``which``) and ``u_ids,
    p_ids`` (``ids=True`` or in ``which``) from TF-FID Inception features of the whole batch.
    The mean PSNR is ``inf`` when some image is reproduced exactly.
    """
    vals, networks, notes = compute_per_image(real, fake, hole, which, exemplar=exemplar, device=device)
    out = MetricResult({k: float(v.mean()) for k, v in vals.items()}, networks, notes)
    want_fid = fid or "fid" in which
    want_ids = ids or "u_ids" in which or "p_ids" in which
    if want_fid or want_ids:
        net = _inception_cached(str(device))
        fr = inception_features(real, batch_size, device, progress, net, desc="inception (real)")
        ff = inception_features(fake, batch_size, device, progress, net, desc="inception (fake)")
        networks["inception"] = net.source
        if want_fid:
            out["fid"] = fid_fn(fr, ff)
            out.notes["fid"] = f"{real.shape[0]} vs {fake.shape[0]} images (FID is biased upwards for small sets)"
        if want_ids:
            out["u_ids"], out["p_ids"] = ids_scores(fr, ff)
        out.networks.update(networks)
    return out


fid_fn = fid  # compute_all's ``fid`` flag shadows the function inside it


def set_scores(real: Tensor, fake: Tensor, device: torch.device | str = "cpu", net=None, batch_size: int = 16,
               progress: bool = False) -> dict[str, float]:
    """The set-level scores of composites against their paired real faces, from one pass of
    TF-FID Inception features: ``fid`` (:func:`fid`), ``u_ids`` and ``p_ids`` (:func:`ids_scores`,
    rows paired: ``fake[i]`` is ``real[i]`` inpainted)."""
    if real.shape[0] != fake.shape[0]:
        raise ValueError(f"paired sets need the same count, got {real.shape[0]} real and {fake.shape[0]} fake")
    net = _inception_cached(str(device)) if net is None else net
    fr = inception_features(real, batch_size, device, progress, net, desc="inception (real)")
    ff = inception_features(fake, batch_size, device, progress, net, desc="inception (fake)")
    u, p = ids_scores(fr, ff)
    return {"fid": float(fid(fr, ff)), "u_ids": float(u), "p_ids": float(p)}


# ----------------------------------------------------------------------------- paired differences
@dataclass
class PairedEffect:
    """Mean of per-face paired differences ``a − b``, its standard error (sample std, ddof 1,
    / √n), ``n`` pairs (faces where either value is NaN are left out), the two sides' means and
    ``z = mean / se``. The acceptance tests' unit: "is ``a`` above ``b`` on the same faces"."""

    mean: float
    se: float
    n: int
    a_mean: float = math.nan
    b_mean: float = math.nan
    name: str = ""

    @property
    def z(self) -> float:
        return self.mean / self.se if self.se > 0 else math.nan

    def beyond(self, k: float = 2.0) -> bool:
        """Positive beyond ``k`` standard errors."""
        return bool(self.n > 1 and self.mean > k * self.se)


def paired_effect(a, b, name: str = "", sign: float = 1.0) -> PairedEffect:
    """:class:`PairedEffect` of ``sign·(a − b)`` over the pairs where both are finite
    (``sign = −1`` when lower is better, e.g. an age for "Young"); SE is NaN for n ≤ 1."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    d = sign * (a[ok] - b[ok])
    n = int(ok.sum())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    nan = math.nan
    return PairedEffect(float(d.mean()) if n else nan, se, n, float(a[ok].mean()) if n else nan,
                        float(b[ok].mean()) if n else nan, name)
