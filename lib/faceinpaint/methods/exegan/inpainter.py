"""EXE-GAN's Inpainter: exemplar style (E) on the φ layers + stochastic style f(z) → G → composite.

The four kinds of diversity of § IV-E are arguments of one call:

* inherent stochasticity — ``seed`` (z and the per-pixel noise) and the truncation ``psi`` of
  the stochastic code (fig. 8);
* several exemplars — :meth:`ExeGAN.inpaint_exemplars` (one output per exemplar, fig. 1);
* style mixing of two exemplars — ``mix_with=b, crossover=k``: layers < k from the exemplar's
  code, the rest from b's (fig. 9);
* code tuning — ``phi``: which style layers take the exemplar's code (eq. 1; fig. 10).

Without an exemplar the stochastic style alone drives every layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from ...errors import FaceInpaintError
from ...paths import checkpoints_dir
from ..base import Guide, run_at_resolution
from .config import METHOD, TRAIN_HINT, ExeGANConfig, encoder_name, inference_name
from .networks import (MultiStyleGenerator, StyleEncoder, build_generator, build_style_encoder,
                       crossover_styles, mix_exemplar_styles, phi_mask)


@dataclass
class ExeGANResult:
    """What the last :meth:`ExeGAN.inpaint` used (model resolution, on the CPU).

    ``styles``: ŵ fed to G (N×L×D, eq. 1); ``exemplar_styles``: the exemplar code w = E(I_exe)
    (after style mixing with ``mix_with`` when given), None without an exemplar;
    ``stochastic_styles``: w̃ = f(z) after truncation; ``phi``: the L bools used (all False
    without an exemplar); ``psi``, ``crossover``, ``seed`` as used; ``prediction``: I_pred.
    """

    styles: Tensor
    exemplar_styles: Tensor | None
    stochastic_styles: Tensor
    phi: Tensor
    psi: float
    crossover: int | None
    seed: int
    prediction: Tensor
    source: str = "stochastic"
    notes: list[str] = field(default_factory=list)


def check_exemplar(exemplar: Tensor, n: int, what: str = "exemplar") -> Tensor:
    """An exemplar batch for ``n`` images: 1×3×H×W (shared) or N×3×H×W, finite, in [-1, 1].
    Raises :class:`FaceInpaintError` with one line otherwise (a user's file gone wrong)."""
    if not isinstance(exemplar, Tensor):
        raise FaceInpaintError(f"{what}: expected an image tensor N×3×H×W in [-1, 1], got {type(exemplar).__name__}")
    if exemplar.dim() == 3:
        exemplar = exemplar.unsqueeze(0)
    if exemplar.dim() != 4 or exemplar.shape[1] != 3:
        raise FaceInpaintError(f"{what}: expected an RGB image N×3×H×W, got shape {tuple(exemplar.shape)}")
    if min(exemplar.shape[-2:]) < 8:
        raise FaceInpaintError(f"{what}: too small ({exemplar.shape[-1]}×{exemplar.shape[-2]} px) to be a face")
    if exemplar.shape[0] not in (1, n):
        raise FaceInpaintError(f"{what}: {exemplar.shape[0]} exemplars for {n} images (give one, or one per image)")
    if not torch.isfinite(exemplar).all():
        raise FaceInpaintError(f"{what}: has NaN or infinite pixels")
    lo, hi = float(exemplar.min()), float(exemplar.max())
    if lo < -1.001 or hi > 1.001:
        raise FaceInpaintError(f"{what}: pixel values in [{lo:.3g}, {hi:.3g}]; expected [-1, 1] (faceinpaint.io.load_image)")
    return exemplar.float().expand(n, -1, -1, -1) if exemplar.shape[0] == 1 and n > 1 else exemplar.float()


class ExeGAN:
    """Inpainter ``"exegan"``: ``inpaint(image, hole, Guide(exemplar=…), seed=…)`` → composite.

    ``generator``: G (its EMA), ``encoder``: the frozen style encoder E; both at ``size``. Any
    input size (through ``run_at_resolution``; known pixels unchanged bit for bit). Defaults
    for each call: ``psi`` (truncation of f(z), 1 = none), ``phi`` (L bools, default the
    paper's φ = [0, 0, 0, 0, 0, 1, …, 1]), ``noise_mode`` (``"random"`` from the seed,
    ``"const"`` the fixed buffers, ``"none"``). ``seed=None`` means seed 0: same call, same bytes.
    """

    name = METHOD

    def __init__(self, generator: MultiStyleGenerator, encoder: StyleEncoder, *, size: int,
                 phi: Sequence[bool] | Tensor | None = None, psi: float = 1.0, noise_mode: str = "random",
                 device: str | torch.device = "cpu", label: str | None = None, first_exemplar_layer: int = 5):
        self.device = torch.device(device)
        self.G = generator.to(self.device).eval().requires_grad_(False)
        self.E = encoder.to(self.device).eval().requires_grad_(False)
        self.size = int(size)
        self.n_styles = self.G.n_styles
        self.phi = self._phi(phi if phi is not None else phi_mask(self.n_styles, first_exemplar_layer))
        self.psi = float(psi)
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        self.noise_mode = noise_mode
        if label is not None:
            self.name = label
        self.last: ExeGANResult | None = None

    # -- codes
    def _phi(self, phi) -> Tensor:
        """φ as L bools; also accepts the layer indices (e.g. ``(5, 6, …, L−1)``, as the app's slider gives)."""
        t = torch.as_tensor(phi).flatten()
        if t.dtype != torch.bool and (t.numel() != self.n_styles or bool(((t != 0) & (t != 1)).any())):
            idx = t.long()
            if bool(((idx < 0) | (idx >= self.n_styles)).any()):
                raise FaceInpaintError(f"phi layer indices must lie in [0, {self.n_styles - 1}], got {t.tolist()}")
            p = torch.zeros(self.n_styles, dtype=torch.bool)
            p[idx] = True
            return p
        p = t.bool()
        if p.numel() != self.n_styles:
            raise FaceInpaintError(f"phi must have {self.n_styles} entries (one per style layer), got {p.numel()}")
        return p

    @torch.no_grad()
    def encode(self, faces: Tensor) -> Tensor:
        """E's W+ code of faces (any size; E resizes): N×L×D on the CPU."""
        return self.E(check_exemplar(faces, faces.shape[0] if faces.dim() == 4 else 1).to(self.device)).cpu()

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(int(seed))

    # -- inpainting
    @torch.no_grad()
    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None,
                psi: float | None = None, phi: Sequence[bool] | Tensor | None = None,
                mix_with: Tensor | None = None, crossover: int | None = None) -> Tensor:
        """The composite at the input's size. ``guide.exemplar`` (1 or N faces, any size, in
        [-1, 1]) gives the style of the φ layers; ``mix_with`` a second exemplar whose code
        replaces the first's on layers ≥ ``crossover`` (style mixing, fig. 9)."""
        seed = 0 if seed is None else int(seed)
        psi = self.psi if psi is None else float(psi)
        phi_t = self.phi if phi is None else self._phi(phi)
        n = image.shape[0]
        exemplar = guide.exemplar if guide is not None else None
        if exemplar is None and mix_with is not None:
            raise FaceInpaintError("style mixing needs two exemplars: give Guide(exemplar=a) with mix_with=b")
        if mix_with is not None and crossover is None:
            raise FaceInpaintError(f"style mixing needs a crossover index in [0, {self.n_styles}]")
        if crossover is not None and not 0 <= int(crossover) <= self.n_styles:
            raise FaceInpaintError(f"crossover index {crossover}: must be in [0, {self.n_styles}]")
        ex = None if exemplar is None else check_exemplar(exemplar, n).to(self.device)
        mb = None if mix_with is None else check_exemplar(mix_with, n, "second exemplar (mix_with)").to(self.device)

        def fill(img_s: Tensor, hole_s: Tensor) -> Tensor:
            img_s, hole_s = img_s.to(self.device).float(), hole_s.to(self.device).float()
            gen = self._generator(seed)
            z = torch.randn(n, self.G.style_dim, generator=gen, device=self.device)
            w_sto = self.G.stochastic_styles(z, psi=psi)
            noise = self.G.decoder.make_noise(n, mode=self.noise_mode, generator=gen, device=self.device)
            w_exe = None
            if ex is not None:
                w_exe = self.E(ex)
                if mb is not None:
                    w_exe = crossover_styles(w_exe, self.E(mb), int(crossover))
                w_hat = mix_exemplar_styles(w_exe, w_sto, phi_t.to(self.device))
                used_phi, source = phi_t.clone(), ("mixed exemplars" if mb is not None else "exemplar")
            else:
                w_hat, used_phi, source = w_sto, torch.zeros_like(phi_t), "stochastic"
            pred = self.G(img_s, hole_s, w_hat, noise=noise)
            self.last = ExeGANResult(
                styles=w_hat.cpu(), exemplar_styles=None if w_exe is None else w_exe.cpu(),
                stochastic_styles=w_sto.cpu(), phi=used_phi, psi=psi,
                crossover=None if mb is None else int(crossover), seed=seed, prediction=pred.cpu(), source=source)
            return pred.clamp(-1, 1).to(image.device)

        return run_at_resolution(fill, image.float(), hole.float(), self.size)

    def inpaint_exemplars(self, image: Tensor, hole: Tensor, exemplars: Sequence[Tensor] | Tensor, *,
                          seed: int | None = None, **kw) -> list[Tensor]:
        """One composite per exemplar (§ IV-E-2, fig. 1): ``exemplars`` is a list of faces (each
        1×3×H×W or 3×H×W, any size) or a K×3×H×W tensor; the same seed for each, so only the
        exemplar differs. ``.last`` is a list of the K results."""
        items = list(exemplars) if not isinstance(exemplars, Tensor) else list(exemplars.unbind(0))
        if not items:
            raise FaceInpaintError("no exemplar given")
        outs, lasts = [], []
        for k, ex in enumerate(items):
            if isinstance(ex, Tensor) and ex.dim() == 3:
                ex = ex.unsqueeze(0)
            check_exemplar(ex, image.shape[0], f"exemplar {k + 1}")
            outs.append(self.inpaint(image, hole, Guide(exemplar=ex), seed=seed, **kw))
            lasts.append(self.last)
        self.last = lasts  # type: ignore[assignment]
        return outs


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / inference_name("cpu")


def load_nets(checkpoint: str | Path | None = None, device: str | torch.device = "cpu",
              style_encoder: str | Path | None = None) -> tuple[ExeGANConfig, MultiStyleGenerator, StyleEncoder, str]:
    """G (its EMA when present) from an exported file (or an inpaint-stage Trainer checkpoint)
    and E from the style-encoder file next to it (``meta["style_encoder"]``, or
    ``exegan_style_encoder_<scale>.pt``), or from ``style_encoder``. Returns
    ``(config, G, E, which G was loaded)``; one-line errors name the missing file and the command."""
    from ...train import load_net, read_method_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    ckpt, cfg_dict = read_method_checkpoint(path, METHOD, "exegan_config", TRAIN_HINT, "runs/exegan_cpu")
    cfg = ExeGANConfig.from_dict(cfg_dict)
    if style_encoder is None:
        meta = ckpt.get("meta") or {}
        name = meta.get("style_encoder") or encoder_name(cfg.preset)
        style_encoder = path.parent / name
        if not Path(style_encoder).is_file() and meta.get("encoder"):   # an inpaint-stage checkpoint
            style_encoder = Path(meta["encoder"])
    enc_path = Path(style_encoder)
    if not enc_path.is_file():
        raise FaceInpaintError(f"{enc_path}: EXE-GAN's style encoder file is missing (needed with {path.name}); "
                               f"train both with {TRAIN_HINT} and copy runs/exegan_cpu/{encoder_name(cfg.preset)} there")
    enc_ckpt, _ = read_method_checkpoint(enc_path, METHOD, "exegan_config", TRAIN_HINT, "runs/exegan_cpu")
    G = build_generator(cfg)
    g_name = load_net(ckpt, "G", G)
    if "E" not in enc_ckpt["nets"]:
        raise FaceInpaintError(f"{enc_path}: has no style encoder 'E' (not an exegan_style_encoder file)")
    E = build_style_encoder(cfg)
    load_net(enc_ckpt, "E", E, prefer_ema=False)
    dev = torch.device(device)
    return cfg, G.to(dev), E.to(dev), g_name


def build(checkpoint: str | Path | None = None, device: str = "cpu", *, psi: float = 1.0,
          phi: Sequence[bool] | Sequence[int] | Tensor | None = None, noise_mode: str = "random",
          label: str | None = None, style_encoder: str | Path | None = None) -> ExeGAN:
    """The ``exegan`` Inpainter from ``checkpoints/exegan_cpu.pt`` (+ its style-encoder file).

    ``psi``: truncation of the stochastic style; ``phi``: the layers taking the exemplar's code (L
    bools, or the layer indices); ``noise_mode``; ``label`` (table-row name); ``style_encoder``
    (another E file). The keywords are explicit so that callers (the app) can tell what it takes."""
    cfg, G, E, _ = load_nets(checkpoint, device, style_encoder)
    return ExeGAN(G, E, size=cfg.image_size, device=device, first_exemplar_layer=cfg.phi_first_exemplar_layer,
                  psi=psi, phi=phi, noise_mode=noise_mode, label=label)