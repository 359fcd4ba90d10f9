"""The README's results table and figure, generated from notebook 60's ``metrics.json`` (issue 18).

::

    faceinpaint results --metrics outputs/60_evaluation/metrics.json --out docs/results --readme README.md
    faceinpaint results --metrics docs/results/metrics.json --readme README.md --check   # is the README current?
    make results      # notebook 60 at its defaults, then the first command

The source of truth is the protocol's output (:meth:`faceinpaint.evaluate.ProtocolResult.to_json`,
written by notebook 60 and by ``faceinpaint evaluate --method all``). ``--out`` receives a slim
copy, ``metrics.json`` (the summary without the per-face values; the committed file the README's
table is regenerated from, ``tests/test_results.py``) and ``results.png`` (PSNR and hole L1 against
the hole ratio, one line per method). ``--readme`` replaces what lies between
:data:`BEGIN` and :data:`END` with the table; nothing in it is typed by hand.

Each cell is the mean over the protocol's bins of each bin's mean over the faces (every bin weighs
the same); the best value of a column is bold (none when every method ties). A column no method has (LPIPS without its official
weights) is left out; a method without a value (identity for a method that ignores the exemplar)
shows "–".
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import FaceInpaintError
from .evaluate import HIGHER_IS_BETTER
from .io import _jsonable

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
FIGURE_NAME = "results.png"

def _columns(*specs: tuple[str, str, str]) -> tuple[tuple[str, str, bool, str], ...]:
    """(summary key, name, format) → (key, header with its arrow, higher is better, format); the
    direction comes from :data:`~faceinpaint.evaluate.HIGHER_IS_BETTER`, never typed twice."""
    return tuple((key, f"{name} {'↑' if HIGHER_IS_BETTER[key] else '↓'}", HIGHER_IS_BETTER[key], fmt)
                 for key, name, fmt in specs)


COLUMNS = _columns(
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("ms_ssim", "MS-SSIM", "{:.4f}"),
    ("l1", "L1", "{:.4f}"),
    ("l1_hole", "hole L1", "{:.4f}"),
    ("vgg19_perceptual", "VGG19 dist.", "{:.3f}"),
    ("lpips", "LPIPS", "{:.4f}"),
    ("fid", "FID", "{:.1f}"),
    ("u_ids", "U-IDS", "pct"),
    ("p_ids", "P-IDS", "pct"),
    ("identity", "identity", "{:.3f}"),
    ("seconds_per_face", "s / face", "{:.3g}"),
)
# in-the-wild columns, read from the summary of "<method>-auto"
WILD_COLUMNS = _columns(
    ("l1_hole", "wild hole L1", "{:.4f}"),
    ("face_found", "wild: face found", "pct"),
)
SLIM_KEYS = ("preset", "protocol", "config", "methods", "available", "skipped", "takes_exemplar", "bins", "summary",
             "identity_reference", "networks", "findings", "seconds")
REQUIRED = ("methods", "bins", "summary", "config")


# ----------------------------------------------------------------------------- reading
def load(path: str | os.PathLike) -> dict:
    """A protocol ``metrics.json`` (notebook 60's, ``evaluate --method all``'s or its slim copy), checked."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise FaceInpaintError(f"{p}: not found (run notebook 60 or `make results` first)") from None
    except (OSError, ValueError) as e:
        raise FaceInpaintError(f"{p}: not a readable JSON file ({type(e).__name__})") from None
    missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise FaceInpaintError(f"{p}: not a protocol metrics.json (no {', '.join(missing)}); "
                               "give notebook 60's or `faceinpaint evaluate --method all`'s")
    return data


def _relative(text: str) -> str:
    """Machine paths out of a message (the repository root dropped), so the README is the same everywhere."""
    from .paths import repo_root

    root = str(repo_root()).rstrip("/") + "/"
    return text.replace(root, "")


def slim(metrics: Mapping[str, Any]) -> dict:
    """The summary part of a protocol ``metrics.json`` (no per-face values, no machine paths): what is
    committed as ``docs/results/metrics.json``. ``slim(slim(m)) == slim(m)``."""
    out = {k: metrics[k] for k in SLIM_KEYS if k in metrics}
    out["skipped"] = {m: _relative(str(why)) for m, why in (metrics.get("skipped") or {}).items()}
    wild = metrics.get("wild")
    if wild:
        cfg = wild.get("config", {})
        out["wild"] = {"config": {k: cfg[k] for k in ("source", "n_images", "aligns", "seed", "mask_size") if k in cfg},
                       "summary": wild.get("summary", {})}
    return json.loads(json.dumps(_jsonable(out)))   # plain JSON types, NaN → null: what a reload gives


# ----------------------------------------------------------------------------- the table
def _mean(cell: Mapping | None) -> float | None:
    if not cell:
        return None
    v = cell.get("mean")
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def method_value(metrics: Mapping[str, Any], method: str, key: str) -> float | None:
    """Mean over the bins of ``method``'s per-bin mean of ``key`` (None if any bin lacks it)."""
    per_bin = metrics["summary"].get(method, {})
    vals = [_mean(per_bin.get(b, {}).get(key)) for b in metrics["bins"]]
    if not vals or any(v is None for v in vals):
        return None
    return sum(vals) / len(vals)


def wild_value(metrics: Mapping[str, Any], method: str, key: str) -> float | None:
    wild = metrics.get("wild") or {}
    cell = (wild.get("summary") or {}).get(f"{method}-auto", {})
    return _mean(next(iter(cell.values()), {}).get(key)) if cell else None


def _format(v: float | None, fmt: str) -> str:
    if v is None:
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{100 * v:.1f} %" if fmt == "pct" else fmt.format(v)


def table(metrics: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per evaluated method, in the protocol's order), best of each column in bold."""
    methods = list(metrics["methods"])
    cols = []
    for key, head, hib, fmt in COLUMNS:
        vals = [method_value(metrics, m, key) for m in methods]
        if any(v is not None for v in vals):
            cols.append((head, hib, fmt, vals))
    for key, head, hib, fmt in WILD_COLUMNS:
        vals = [wild_value(metrics, m, key) for m in methods]
        if any(v is not None for v in vals):
            cols.append((head, hib, fmt, vals))
    cells = [[f"`{m}`"] for m in methods]
    for head, hib, fmt, vals in cols:
        shown = [_format(v, fmt) for v in vals]
        ok = [s for v, s in zip(vals, shown) if v is not None]
        best = None
        if len(ok) > 1:
            finite = [(v, s) for v, s in zip(vals, shown) if v is not None]
            target = (max if hib else min)(v for v, _ in finite)
            best = {s for v, s in finite if _format(target, fmt) == s}
            if len(best) == 1 and all(s in best for _, s in finite):
                best = None   # every method ties: nothing stands out
        for row, s in zip(cells, shown):
            row.append(f"**{s}**" if best and s in best else s)
    return ["method"] + [c[0] for c in cols], cells


def caption(metrics: Mapping[str, Any]) -> str:
    """What the table is: faces, size, bins, seed, the in-the-wild set, what was left out and why."""
    from .evaluate import _bin_label

    cfg = metrics["config"]
    bins = ", ".join(_bin_label(b) for b in metrics["bins"])
    parts = [f"Notebook 60 (`preset=\"{metrics.get('preset', cfg.get('preset', '?'))}\"`): "
             f"{cfg.get('n_images', '?')} test faces at {cfg.get('size', '?')} px, seed {cfg.get('seed', '?')}, "
             f"every method on the same masks and exemplars. Each cell: the mean over the bins ({bins}) of each "
             "bin's mean over the faces."]
    kw = cfg.get("method_kw") or {}
    if kw:
        parts.append("Inference settings changed for this scale: " + "; ".join(
            f"`{m}` " + ", ".join(f"{k}={v}" for k, v in sorted(s.items())) for m, s in sorted(kw.items())) + ".")
    if any(k in metrics["summary"].get(metrics["methods"][0], {}).get(metrics["bins"][0], {}) for k in ("fid",)):
        parts.append(f"FID / U-IDS / P-IDS per (method, bin) over {cfg.get('n_images', '?')} faces: biased, a ranking "
                     "at this scale only.")
    ref = metrics.get("identity_reference")
    if ref and ref.get("mean") is not None:
        parts.append(f"Identity: face-recognition cosine to the exemplar, for methods that take one (the ground "
                     f"truth's own cosine to it: {ref['mean']:.3f}).")
    wild = metrics.get("wild")
    if wild:
        n = (wild.get("config") or {}).get("n_images", "?")
        parts.append(f"Wild: {n} face{'' if n == 1 else 's'} of the in-the-wild photos with `align=\"auto\"`, "
                     "hole L1 over the photo's hole and the share of completions on which dlib finds the face.")
    if metrics.get("seconds") is not None:
        parts.append(f"The run took {float(metrics['seconds']) / 60:.1f} min of wall time.")
    for m, why in (metrics.get("skipped") or {}).items():
        parts.append(f"Not run: `{m}` — {why}")
    return " ".join(parts)


def markdown(metrics: Mapping[str, Any]) -> str:
    head, rows = table(metrics)
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def readme_block(metrics: Mapping[str, Any], figure: str | None = None,
                 source: str = "docs/results/metrics.json") -> str:
    """The text between :data:`BEGIN` and :data:`END` (markers included)."""
    parts = [BEGIN, f"<!-- generated by `faceinpaint results` from {source}: do not edit by hand -->",
             "", caption(metrics), "", markdown(metrics), ""]
    if figure:
        parts += [f"![PSNR and hole L1 against the hole ratio, one line per method]({figure})", ""]
    parts.append(END)
    return "\n".join(parts)


def replace_block(text: str, block: str, where: str = "README.md") -> str:
    """``text`` with the span from :data:`BEGIN` to :data:`END` replaced by ``block``."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < 0 or j < i or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise FaceInpaintError(f"{where}: needs exactly one {BEGIN} … {END} pair where the results go")
    return text[:i] + block + text[j + len(END):]


def current_block(text: str, where: str = "README.md") -> str:
    """The block now in ``text`` (markers included)."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise FaceInpaintError(f"{where}: no {BEGIN} … {END} block")
    return text[i:j + len(END)]


# ----------------------------------------------------------------------------- the figure
def figure(metrics: Mapping[str, Any], keys: Sequence[str] = ("psnr", "l1_hole")):
    """PSNR ↑ and hole L1 ↓ against the hole-ratio bin, one line per method (the centre square apart)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .evaluate import _bin_label

    bins = list(metrics["bins"])
    ratio = [i for i, b in enumerate(bins) if b.startswith("bin_")]
    other = [i for i, b in enumerate(bins) if not b.startswith("bin_")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        for m in metrics["methods"]:
            y = [_mean(metrics["summary"][m][b].get(k)) for b in bins]
            y = [math.nan if v is None else v for v in y]
            line = ax.plot(ratio, [y[i] for i in ratio], marker="o", ms=3, label=m)[0] if ratio else None
            if other:
                ax.plot(other, [y[i] for i in other], marker="s", ls="none", color=line.get_color() if line else None)
        ax.set_xticks(range(len(bins)), [_bin_label(b) for b in bins], rotation=30, fontsize=8)
        ax.set_title(f"{k} {'↑' if HIGHER_IS_BETTER.get(k, False) else '↓'}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the command
def run(metrics_path: str | os.PathLike, out: str | os.PathLike | None = None,
        readme: str | os.PathLike | None = None, check: bool = False) -> dict:
    """``faceinpaint results``: read, render, then write (or, with ``check``, compare only).

    Returns ``{"written": [...], "stale": bool}``; ``stale`` is True when the README's block
    differs from the one generated (with ``check`` nothing is written).
    """
    import matplotlib.pyplot as plt

    from .io import atomic_write_text, write_json
    from .viz import save_figure

    data = slim(load(metrics_path))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise FaceInpaintError(f"{out_dir}: exists and is not a folder")
    readme_path = Path(readme) if readme is not None else None
    new_text = stale = None
    if readme_path is not None:
        try:
            text = readme_path.read_text()
        except OSError:
            raise FaceInpaintError(f"{readme_path}: cannot be read") from None
        fig_rel = None
        source = "metrics.json"
        if out_dir is not None:
            fig_rel = os.path.relpath(out_dir / FIGURE_NAME, readme_path.parent).replace(os.sep, "/")
            source = os.path.relpath(out_dir / "metrics.json", readme_path.parent).replace(os.sep, "/")
        new_text = replace_block(text, readme_block(data, fig_rel, source), str(readme_path))
        stale = new_text != text
    written: list[str] = []
    if check:
        return {"written": written, "stale": bool(stale)}
    fig = figure(data) if out_dir is not None else None   # before any write: a plotting error leaves nothing
    try:
        if out_dir is not None:
            write_json(out_dir / "metrics.json", data)
            save_figure(fig, out_dir / FIGURE_NAME)
            written += [str(out_dir / "metrics.json"), str(out_dir / FIGURE_NAME)]
        if readme_path is not None and stale:
            atomic_write_text(readme_path, new_text)
            written.append(str(readme_path))
    finally:
        if fig is not None:
            plt.close(fig)
    return {"written": written, "stale": bool(stale)}


__all__ = ["BEGIN", "END", "COLUMNS", "WILD_COLUMNS", "load", "slim", "method_value", "wild_value", "table", "caption",
           "markdown", "readme_block", "replace_block", "current_block", "figure", "run"]
