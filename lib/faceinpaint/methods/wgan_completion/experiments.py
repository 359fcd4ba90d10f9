"""Vitoria et al.'s experiments: the ablation of tables 1–2: loss formulation × mask → MSE, PSNR, SSIM.

The paper (section 4.2; ``shared/papers/wgan_semantic_completion.md``) reports, for a central
square (table 1) and a three-squares mask (table 2), nine loss formulations:

* ``[39]`` — Yeh et al.'s semantic inpainting: contextual L1 with the weights W of eq. (7) plus
  a prior, no gradient term (:func:`~faceinpaint.methods.wgan_completion.yeh_config`);
* ``[39] + gradient loss`` — the same with the gradient term of eq. (6), for four (α, β, η);
* ``ours`` — eq. (5)–(8) (colour + gradient + the two critics' prior), the same four (α, β, η).

Each completion ends with Poisson blending (eq. 9), as in the paper (and in [39]).

**What differs here, and why.** The paper's ``[39]`` rows run on Yeh et al.'s DCGAN prior and
``ours`` on the WGAN-GP prior; we train one prior only (the WGAN-GP of section 3.1), so all
nine rows share it. What stays distinguishable is the loss: ``[39]`` rows read one critic as
their prior term (Yeh et al. have one global discriminator): ``−D(G(z))``; ``ours`` reads
both, eq. (8): ``−D(G(z)) − D_patch(G(z))``. The table therefore isolates the gradient term
(``[39]`` vs the rest) and the PatchGAN prior term (the two families), not the network.
Every row starts from the same z₀ (one seed): a paired comparison.

**Metrics** (:mod:`faceinpaint.metrics`, on the blended composite, whole 64×64 image):

* ``mse`` — mean over images of the per-image MSE on the **0–255 scale** (``255² ×``
  :func:`faceinpaint.metrics.mse`), the paper's unit;
* ``psnr`` — ``10·log10(255² / mse)`` of that mean MSE: the paper's tables are computed this
  way (every row satisfies it, e.g. 872.8672 ↔ 18.7213 dB); ``psnr_per_image`` is the mean
  of per-image PSNRs (:func:`faceinpaint.metrics.psnr`, our evaluation protocol's number);
* ``ssim`` — mean of :func:`faceinpaint.metrics.ssim` (Gaussian window 11, σ 1.5, RGB channels
  averaged; the paper does not give its SSIM settings).

>>> rows = wgan_ablation(build(), images, iters=150)            # images: N×3×64×64 in [−1, 1]
>>> print(ablation_markdown(rows))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch
from torch import Tensor

from ... import masks as masks_mod
from ... import metrics
from ...poisson import poisson_blend
from .config import LatentConfig
from .inpainter import WGANCompletion, build, complete

if TYPE_CHECKING:
    from ..base import Inpainter

MASKS: dict[str, str] = {"wgan_central": "central square", "wgan_three_squares": "three squares"}
TABLE_OF_MASK: dict[str, str] = {"wgan_central": "Table 1", "wgan_three_squares": "Table 2"}
FAMILIES: dict[str, str] = {"yeh": "[39]", "yeh_gradient": "[39] + gradient loss", "ours": "ours"}

# The (α, β, η) rows of tables 1–2, in the paper's order.
PAPER_WEIGHTS: tuple[tuple[float, float, float], ...] = ((0.1, 0.9, 1.0), (0.5, 0.5, 1.0), (0.1, 0.9, 0.5),
                                                         (0.5, 0.5, 0.5))
YEH_WEIGHTS = (1.0, 0.0, 0.003)  # Yeh et al. §3.3: α = 1, no gradient term, λ = 0.003

# The paper's CelebA columns: (mask, family, α, β, η) → (MSE on 0–255, PSNR dB, SSIM).
PAPER_CELEBA: dict[tuple[str, str, float, float, float], tuple[float, float, float]] = {
    ("wgan_central", "yeh", *YEH_WEIGHTS): (872.8672, 18.7213, 0.9071),
    ("wgan_central", "yeh_gradient", 0.1, 0.9, 1.0): (832.9295, 18.9247, 0.9087),
    ("wgan_central", "yeh_gradient", 0.5, 0.5, 1.0): (862.9393, 18.7710, 0.9117),
    ("wgan_central", "yeh_gradient", 0.1, 0.9, 0.5): (794.3374, 19.1308, 0.9130),
    ("wgan_central", "yeh_gradient", 0.5, 0.5, 0.5): (876.9104, 18.7013, 0.9063),
    ("wgan_central", "ours", 0.1, 0.9, 1.0): (855.3476, 18.8094, 0.9158),
    ("wgan_central", "ours", 0.5, 0.5, 1.0): (785.2562, 19.1807, 0.9196),
    ("wgan_central", "ours", 0.1, 0.9, 0.5): (862.4890, 18.7733, 0.9135),
    ("wgan_central", "ours", 0.5, 0.5, 0.5): (833.9951, 18.9192, 0.9146),
    ("wgan_three_squares", "yeh", *YEH_WEIGHTS): (622.1092, 20.1921, 0.9087),
    ("wgan_three_squares", "yeh_gradient", 0.1, 0.9, 1.0): (584.3051, 20.4644, 0.9067),
    ("wgan_three_squares", "yeh_gradient", 0.5, 0.5, 1.0): (600.9579, 20.3424, 0.9080),
    ("wgan_three_squares", "yeh_gradient", 0.1, 0.9, 0.5): (580.8126, 20.4904, 0.9115),
    ("wgan_three_squares", "yeh_gradient", 0.5, 0.5, 0.5): (563.4620, 20.6222, 0.9103),
    ("wgan_three_squares", "ours", 0.1, 0.9, 1.0): (424.7942, 21.8490, 0.9281),
    ("wgan_three_squares", "ours", 0.5, 0.5, 1.0): (380.4035, 22.3284, 0.9314),
    ("wgan_three_squares", "ours", 0.1, 0.9, 0.5): (321.3023, 23.0617, 0.9341),
    ("wgan_three_squares", "ours", 0.5, 0.5, 0.5): (411.8664, 21.9832, 0.9292),
}


# ----------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Formulation:
    """One row of tables 1–2: the weights of eq. (5)–(6) and which critics form the prior."""

    family: str                 # "yeh", "yeh_gradient" or "ours" (keys of FAMILIES)
    alpha: float
    beta: float
    eta: float
    patch_prior: bool           # True: eq. (8) −D − D_patch; False: −D only (one critic, as [39])

    @property
    def label(self) -> str:
        if self.family == "yeh":
            return FAMILIES["yeh"]
        return f"{FAMILIES[self.family]}, α={self.alpha:g}, β={self.beta:g}, η={self.eta:g}"

    def latent_config(self, base: LatentConfig, iters: int | None = None) -> LatentConfig:
        """``base`` (optimiser, window, clamp, restarts) with this row's weights and prior."""
        kw: dict[str, Any] = dict(alpha=self.alpha, beta=self.beta, eta=self.eta, patch_prior=self.patch_prior)
        if iters is not None:
            kw["iters"] = int(iters)
        return replace(base, **kw)


def paper_grid(weights: Sequence[tuple[float, float, float]] = PAPER_WEIGHTS) -> list[Formulation]:
    """The nine rows of tables 1–2: ``[39]``, then ``[39] + gradient`` and ``ours`` for each (α, β, η)."""
    rows = [Formulation("yeh", *YEH_WEIGHTS, patch_prior=False)]
    rows += [Formulation("yeh_gradient", a, b, e, patch_prior=False) for a, b, e in weights]
    rows += [Formulation("ours", a, b, e, patch_prior=True) for a, b, e in weights]
    return rows


def paper_value(mask: str, f: Formulation) -> tuple[float, float, float] | None:
    """The paper's CelebA (MSE, PSNR, SSIM) for this mask and row, if the paper reports it."""
    return PAPER_CELEBA.get((mask, f.family, f.alpha, f.beta, f.eta))


# ----------------------------------------------------------------------------- scores
def paper_scores(real: Tensor, fake: Tensor) -> dict[str, float]:
    """MSE (0–255 scale), PSNR of that mean MSE, mean per-image PSNR and mean SSIM (module docstring)."""
    mse255 = float(metrics.mse(real, fake).mean()) * 255.0 ** 2
    return {"mse": mse255,
            "psnr": 10.0 * math.log10(255.0 ** 2 / mse255) if mse255 > 0 else math.inf,
            "psnr_per_image": float(metrics.psnr(real, fake).mean()),
            "ssim": float(metrics.ssim(real, fake).mean())}


def _prior(prior: "WGANCompletion | str | Path") -> "WGANCompletion":
    if isinstance(prior, (str, Path)):
        return build(prior, progress=False)
    return prior


def wgan_ablation(prior: "WGANCompletion | str | Path", images: Tensor, grid: Sequence[Formulation] | None = None,
                  masks: Sequence[str] = tuple(MASKS), iters: int | None = None, seed: int = 0, *,
                  poisson: bool = True, progress: bool = True) -> list[dict[str, Any]]:
    """Run every formulation of ``grid`` (default :func:`paper_grid`) on ``images`` with every
    mask kind of ``masks`` (:func:`faceinpaint.masks.generate` kinds; default the paper's two).

    ``prior``: a ``wgan_completion`` Inpainter (its G, D, D_patch and optimiser settings) or a
    checkpoint path. ``images``: ``N×3×S×S`` in [−1, 1] at the prior's resolution. ``iters``:
    latent-search iterations (None: the prior's, the paper's 1000). Returns one plain dict per
    (mask, formulation): ``mask, mask_name, formulation, family, alpha, beta, eta, patch_prior,
    n_images, iters, seed, mse, psnr, psnr_per_image, ssim, paper`` (the paper's CelebA
    ``{mse, psnr, ssim}`` or None) — render it with :func:`ablation_markdown`.
    """
    from tqdm.auto import tqdm

    m = _prior(prior)
    grid = list(grid) if grid is not None else paper_grid()
    size = m.G.image_size
    if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (size, size):
        raise ValueError(f"images must be N×3×{size}×{size} (the prior's resolution), got {tuple(images.shape)}")
    images = images.float().to(m.device)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(masks) * len(grid), desc="ablation", disable=not progress)
    for kind in masks:
        hole = masks_mod.generate(kind, size, images.shape[0], seed).to(m.device)
        for f in grid:
            cfg = f.latent_config(m.latent, iters)
            # one seed for every row: all formulations start from the same z₀ (a paired comparison)
            gen = torch.Generator(m.device).manual_seed(seed)
            res = complete(m.G, m.D, m.D_patch, images, hole, cfg, generator=gen)
            out = poisson_blend(res.image, images, hole) if poisson else images * (1 - hole) + res.image * hole
            ref = paper_value(kind, f)
            rows.append({"mask": kind, "mask_name": MASKS.get(kind, kind), "formulation": f.label,
                         "family": f.family, "alpha": f.alpha, "beta": f.beta, "eta": f.eta,
                         "patch_prior": f.patch_prior, "n_images": int(images.shape[0]), "iters": cfg.iters,
                         "seed": seed, "poisson": poisson, **paper_scores(images, out),
                         "paper": None if ref is None else dict(zip(("mse", "psnr", "ssim"), ref))})
            bar.update(1)
    bar.close()
    return rows


def compare_methods(methods: Mapping[str, "Inpainter"], images: Tensor, hole: Tensor, seed: int = 0
                    ) -> tuple[list[dict[str, Any]], dict[str, Tensor]]:
    """Each Inpainter on the same images and holes → ``(rows, composites)``: one row
    ``{method, n_images, mse, psnr, psnr_per_image, ssim}`` per method (the metrics of
    :func:`paper_scores`, on the returned composites) and each method's composites, for figures."""
    rows, outs = [], {}
    for name, method in methods.items():
        outs[name] = method.inpaint(images, hole, seed=seed).detach().to(images.device)
        rows.append({"method": name, "n_images": int(images.shape[0]), **paper_scores(images, outs[name])})
    return rows, outs


# ----------------------------------------------------------------------------- markdown
_BETTER = {"mse": min, "psnr": max, "ssim": max}
_FMT = {"mse": "{:.1f}", "psnr": "{:.2f}", "ssim": "{:.4f}"}


def _marked(value: float, key: str, best_all: float, best_family: float | None) -> str:
    """The paper's marks: **bold** = best of the table, underline = best of its family."""
    s = _FMT[key].format(value)
    if value == best_all:
        return f"**{s}**"
    if best_family is not None and value == best_family:
        return f"<u>{s}</u>"
    return s


def ablation_markdown(rows: Sequence[Mapping[str, Any]], paper: bool = True) -> str:
    """Tables 1–2 in the paper's layout: one table per mask, one line per formulation, MSE
    (0–255), PSNR, SSIM; bold = best in the table, underlined = best of a family of several
    rows (as the paper marks them); with ``paper``, the paper's CelebA values beside ours."""
    out: list[str] = []
    for kind in dict.fromkeys(r["mask"] for r in rows):
        sub = [r for r in rows if r["mask"] == kind]
        r0 = sub[0]
        title = f"{TABLE_OF_MASK.get(kind, 'Table')} — {MASKS.get(kind, kind)} mask"
        out.append(f"**{title}** ({r0['n_images']} faces, {r0['iters']} iterations, seed {r0['seed']})\n")
        head = "| Loss formulation | MSE ↓ | PSNR ↑ | SSIM ↑ |"
        rule = "|---|---:|---:|---:|"
        if paper:
            head += " paper MSE | paper PSNR | paper SSIM |"
            rule += "---:|---:|---:|"
        out += [head, rule]
        best = {k: _BETTER[k](r[k] for r in sub) for k in _BETTER}
        fam_best = {}
        for fam in dict.fromkeys(r["family"] for r in sub):
            members = [r for r in sub if r["family"] == fam]
            if len(members) > 1:
                fam_best[fam] = {k: _BETTER[k](r[k] for r in members) for k in _BETTER}
        for r in sub:
            fb = fam_best.get(r["family"], {})
            cells = [_marked(r[k], k, best[k], fb.get(k)) for k in ("mse", "psnr", "ssim")]
            if paper:
                p = r.get("paper")
                cells += [_FMT[k].format(p[k]) if p else "—" for k in ("mse", "psnr", "ssim")]
            out.append(f"| {r['formulation']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per method: MSE (0–255), PSNR, SSIM, best in bold."""
    best = {k: _BETTER[k](r[k] for r in rows) for k in _BETTER}
    lines = ["| method | MSE ↓ | PSNR ↑ | SSIM ↑ |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | " + " | ".join(_marked(r[k], k, best[k], None) for k in ("mse", "psnr", "ssim"))
                     + " |")
    return "\n".join(lines)
