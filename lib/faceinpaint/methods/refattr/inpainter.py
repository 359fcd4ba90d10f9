"""refattr's inference (§ 3.1, fig. 1 red line): attributes from a reference face (Ext) or given,
injected at G's bottleneck; intensity control (fig. 4) and pluralistic results (fig. 3).

Where the attributes come from (:meth:`RefAttr.resolve_attributes`):

* ``Guide(exemplar=ref)`` → ``Ext(ref)`` (the reference resized to the model's resolution);
* ``Guide(attributes=a)`` → ``a`` — an ``N×K`` / ``1×K`` / ``K`` tensor in the model's attribute
  order (:attr:`RefAttr.attribute_names`), or a ``{name: value}`` dict;
* both → the given values override the exemplar's, column by column: a **NaN** entry (or a name
  missing from the dict) means "take this one from the exemplar";
* neither (or NaN entries without an exemplar) → ``Ext`` of the input's own completion under the
  training set's mean attributes (a first pass), i.e. the attributes the visible face suggests.

Values are not limited to ``{0, 1}``: fig. 4 sweeps an attribute from negative to beyond 1
(:func:`intensity_sweep`). Training and inference use the same range (0 = absent, 1 = present).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ...errors import FaceInpaintError
from ...paths import checkpoints_dir
from ..base import Guide, composite, resize_face, run_at_resolution
from .config import METHOD, TRAIN_HINT, RefAttrConfig
from .networks import AttributeExtractor, LBAMGenerator
from .training import build_extractor, build_generator

AttributeInput = Tensor | Mapping[str, float] | Sequence[float]


# ============================================================================ "Name=Value" strings (CLI)
def parse_attribute_args(items: Sequence[str] | None, names: Sequence[str], *, option: str = "--attr"
                         ) -> dict[str, float]:
    """``["Smiling=1.5", "Male=0"]`` → ``{"Smiling": 1.5, "Male": 0.0}`` for a model whose
    attributes are ``names``. Raises :class:`~faceinpaint.errors.FaceInpaintError` with one line
    for a malformed item, an unknown name or a value that is not a finite number. Any real
    value is allowed (fig. 4's intensity control goes beyond ``{0, 1}``); a name given twice
    keeps the last value."""
    out: dict[str, float] = {}
    known = list(names)
    for item in items or []:
        name, sep, value = str(item).partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise FaceInpaintError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} Smiling=1")
        if name not in known:
            raise FaceInpaintError(f"{option} {item!r}: unknown attribute {name!r} "
                                   f"(this model's attributes: {', '.join(known) or 'none'})")
        try:
            v = float(value)
        except ValueError:
            raise FaceInpaintError(f"{option} {item!r}: {value!r} is not a number") from None
        if not math.isfinite(v):
            raise FaceInpaintError(f"{option} {item!r}: {value!r} is not a finite number")
        out[name] = v
    return out


def attributes_tensor(values: AttributeInput, names: Sequence[str], n: int | None = None) -> Tensor:
    """Given attributes as a float tensor ``N×K`` (or ``1×K``) in the order ``names``; a dict
    leaves the names it lacks as NaN (= take from the exemplar). Unknown dict names raise."""
    k = len(names)
    if isinstance(values, Mapping):
        unknown = [key for key in values if key not in names]
        if unknown:
            raise FaceInpaintError(f"unknown attribute {unknown[0]!r} (this model's attributes: {', '.join(names)})")
        t = torch.full((1, k), float("nan"))
        for key, v in values.items():
            t[0, list(names).index(key)] = float(v)
    else:
        t = torch.as_tensor(values, dtype=torch.float32).detach().cpu().float()
        if t.dim() == 1:
            t = t[None]
        if t.dim() != 2 or t.shape[1] != k:
            raise ValueError(f"attributes must be N×{k} (order {list(names)}), got {tuple(t.shape)}")
    if n is not None and t.shape[0] != n:
        if t.shape[0] != 1:
            raise ValueError(f"{t.shape[0]} attribute rows for {n} images")
        t = t.expand(n, -1)
    return t


# ============================================================================ the Inpainter
@dataclass
class RefAttrResult:
    """What the last :meth:`RefAttr.inpaint` used: ``attributes`` ``N×K`` (the vector G got, in
    ``names`` order), ``source`` per column (``"given"``, ``"exemplar"``, ``"self"``, ``"none"``),
    ``exemplar_attributes`` (``Ext(ref)`` when a reference was given), ``prediction`` (G's raw
    output at the model's resolution) and the encoder's first forward / reverse attention maps
    (channel means, ``N×1×S/2×S/2``) for plots."""

    attributes: Tensor
    names: list[str]
    source: list[str]
    exemplar_attributes: Tensor | None = None
    prediction: Tensor | None = None
    forward_map: Tensor | None = None
    reverse_map: Tensor | None = None
    extra: dict = field(default_factory=dict)


class RefAttr:
    """Inpainter ``"refattr"``: G (LBAM + attributes at the bottleneck) and Ext.

    Any input size (``run_at_resolution``: resized to the model's side, the fill resized back;
    known pixels returned bit-identical). Deterministic; ``seed`` is used only where attributes
    are drawn at random (:meth:`pluralistic`). ``label`` renames the table row (ablations).
    """

    name = METHOD

    def __init__(self, generator: LBAMGenerator, extractor: AttributeExtractor | None, *, size: int,
                 names: Sequence[str], prior: Sequence[float] | None = None, device: str | torch.device = "cpu",
                 label: str | None = None):
        self.device = torch.device(device)
        self.G = generator.to(self.device).eval()
        self.Ext = extractor.to(self.device).eval() if extractor is not None else None
        self.size = int(size)
        self.attribute_names = list(names) if generator.n_attrs else []
        if generator.n_attrs and self.Ext is None:
            raise ValueError("an attribute-guided model needs its extractor Ext")
        if prior is None or len(prior) != len(self.attribute_names):
            prior = [0.5] * len(self.attribute_names)
        self.prior = torch.tensor(list(prior), dtype=torch.float32)
        if label is not None:
            self.name = label
        self.last: RefAttrResult | None = None

    @property
    def uses_attributes(self) -> bool:
        return bool(self.attribute_names)

    def parse_attributes(self, items: Sequence[str] | None) -> dict[str, float]:
        """:func:`parse_attribute_args` with this model's attribute names (for ``--attr``)."""
        return parse_attribute_args(items, self.attribute_names)

    # -- attributes
    @torch.no_grad()
    def extract(self, faces: Tensor) -> Tensor:
        """``Ext(faces)``: ``N×K`` in ``[0, 1]`` for faces of any size (resized to the model's)."""
        if self.Ext is None:
            raise FaceInpaintError("this refattr model has no attribute extractor (trained without attributes)")
        x = resize_face(faces.to(self.device).float(), self.size)
        return self.Ext(x).float()

    @torch.no_grad()
    def _self_attributes(self, img_s: Tensor, hole_s: Tensor) -> Tensor:
        prior = self.prior.to(self.device)[None].expand(img_s.shape[0], -1)
        first = composite(img_s, self.G(img_s, 1 - hole_s, prior), hole_s)
        return self.Ext(first).float()

    def resolve_attributes(self, img_s: Tensor, hole_s: Tensor, guide: Guide | None
                           ) -> tuple[Tensor | None, list[str], Tensor | None]:
        """The attribute vector for each image (module docstring): ``(N×K, source per column,
        Ext(exemplar) or None)``."""
        n, k = img_s.shape[0], len(self.attribute_names)
        if not k:
            return None, [], None
        given = None
        if guide is not None and guide.attributes is not None:
            given = attributes_tensor(guide.attributes, self.attribute_names, n).to(self.device)
        ex_attrs = None
        if guide is not None and guide.exemplar is not None:
            ex = torch.as_tensor(guide.exemplar).float()
            if ex.dim() == 3:
                ex = ex[None]
            if ex.shape[0] == 1 and n > 1:
                ex = ex.expand(n, -1, -1, -1)
            if ex.shape[0] != n:
                raise ValueError(f"{ex.shape[0]} exemplars for {n} images")
            ex_attrs = self.extract(ex)
        fallback, fallback_name = ex_attrs, "exemplar"
        if fallback is None:
            need_self = given is None or bool(torch.isnan(given).any())
            fallback = self._self_attributes(img_s, hole_s) if need_self else None
            fallback_name = "self"
        if given is None:
            return fallback, [fallback_name] * k, ex_attrs
        missing = torch.isnan(given)
        attrs = torch.where(missing, fallback if fallback is not None else given, given)
        source = [fallback_name if bool(missing[:, j].any()) else "given" for j in range(k)]
        return attrs, source, ex_attrs

    # -- inpainting
    @torch.no_grad()
    def inpaint_at_size(self, image: Tensor, hole: Tensor, attributes: Tensor | None) -> tuple[Tensor, object]:
        """G on ``size×size`` inputs with explicit attributes ``N×K`` (no resolution handling):
        (raw output, the encoding)."""
        enc = self.G.encode(image.float(), 1 - hole.float())
        return self.G.decode(enc, None if attributes is None else attributes.float()), enc

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        def fill(img_s: Tensor, hole_s: Tensor) -> Tensor:
            img_s, hole_s = img_s.to(self.device).float(), hole_s.to(self.device).float()
            attrs, source, ex_attrs = self.resolve_attributes(img_s, hole_s, guide)
            pred, enc = self.inpaint_at_size(img_s, hole_s, attrs)
            self.last = RefAttrResult(
                attributes=torch.zeros(img_s.shape[0], 0) if attrs is None else attrs.cpu(),
                names=list(self.attribute_names), source=source or ["none"],
                exemplar_attributes=None if ex_attrs is None else ex_attrs.cpu(), prediction=pred.cpu(),
                forward_map=enc.forward_maps[0].mean(1, keepdim=True).cpu() if enc.forward_maps else None,
                reverse_map=enc.reverse_maps[0].mean(1, keepdim=True).cpu() if enc.reverse_maps else None)
            return pred.to(image.device)

        return run_at_resolution(fill, image.float(), hole.float(), self.size)

    # -- fig. 3 and fig. 4
    def pluralistic(self, image: Tensor, hole: Tensor, n: int, *, seed: int = 0, keep: Mapping[str, float] | None = None,
                    mode: str = "bernoulli") -> tuple[Tensor, Tensor]:
        """Fig. 3: ``n`` completions of each image from random attribute vectors
        (:func:`random_attributes`); ``keep`` fixes some names. Returns ``(N·n×3×H×W composites,
        image by image, N·n×K attributes)``."""
        return pluralistic(self, image, hole, n, seed=seed, keep=keep, mode=mode)


def random_attributes(n: int, k: int, generator: torch.Generator, mode: str = "bernoulli",
                      prior: Tensor | None = None) -> Tensor:
    """``n×k`` random attribute vectors for pluralistic results (fig. 3): ``"bernoulli"`` —
    each attribute present with probability ``prior`` (0.5 when None), values in {0, 1};
    ``"uniform"`` — U[0, 1] intensities."""
    if mode == "uniform":
        return torch.rand(n, k, generator=generator)
    if mode != "bernoulli":
        raise ValueError(f"mode must be 'bernoulli' or 'uniform', got {mode!r}")
    p = torch.full((k,), 0.5) if prior is None else prior.float().cpu().clamp(0, 1)
    return (torch.rand(n, k, generator=generator) < p).float()


def pluralistic(model: RefAttr, image: Tensor, hole: Tensor, n: int, *, seed: int = 0,
                keep: Mapping[str, float] | None = None, mode: str = "bernoulli") -> tuple[Tensor, Tensor]:
    """Fig. 3 for every image: ``n`` random attribute vectors (seeded), ``keep`` names fixed."""
    if not model.uses_attributes:
        raise FaceInpaintError("pluralistic results need an attribute-guided refattr model")
    g = torch.Generator().manual_seed(int(seed))
    k = len(model.attribute_names)
    outs, attrs = [], []
    for i in range(image.shape[0]):
        a = random_attributes(n, k, g, mode)
        for name, v in (keep or {}).items():
            a[:, model.attribute_names.index(name)] = float(v)
        img = image[i:i + 1].expand(n, -1, -1, -1)
        outs.append(model.inpaint(img, hole[i:i + 1].expand(n, -1, -1, -1), Guide(attributes=a)))
        attrs.append(a)
    return torch.cat(outs), torch.cat(attrs)


def intensity_sweep(model: RefAttr, image: Tensor, hole: Tensor, attribute: str,
                    values: Sequence[float] = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0), guide: Guide | None = None
                    ) -> tuple[Tensor, list[float]]:
    """Fig. 4: one attribute swept over ``values`` (negative to beyond 1), the others from
    ``guide`` (its exemplar or attributes; the input's own when None). Returns
    ``(V×N×3×H×W composites, values)``."""
    if attribute not in model.attribute_names:
        raise FaceInpaintError(f"unknown attribute {attribute!r} (this model's: {', '.join(model.attribute_names)})")
    n = image.shape[0]
    base = guide or Guide()
    outs = []
    for v in values:
        given = {attribute: float(v)}
        if base.attributes is not None:
            a = attributes_tensor(base.attributes, model.attribute_names, n).clone()
            a[:, model.attribute_names.index(attribute)] = float(v)
        else:
            a = attributes_tensor(given, model.attribute_names, n)
        outs.append(model.inpaint(image, hole, Guide(exemplar=base.exemplar, attributes=a)))
    return torch.stack(outs), [float(v) for v in values]


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / f"{METHOD}_cpu.pt"


def load_nets(checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
              ) -> tuple[RefAttrConfig, LBAMGenerator, AttributeExtractor | None, dict]:
    """G (its EMA when present) and Ext from an inference file or a Trainer checkpoint; returns
    ``(config, G, Ext or None, meta)``. Missing or unreadable files: one-line errors."""
    from ...train import load_net, read_method_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    ckpt, cfg_dict = read_method_checkpoint(path, METHOD, "refattr_config", TRAIN_HINT, "runs/refattr_cpu")
    cfg = RefAttrConfig.from_dict(cfg_dict)
    G = build_generator(cfg)
    load_net(ckpt, "G", G)
    Ext = None
    if cfg.use_attributes:
        Ext = build_extractor(cfg)
        load_net(ckpt, "Ext", Ext, prefer_ema=False)
    dev = torch.device(device)
    return cfg, G.to(dev), None if Ext is None else Ext.to(dev), dict(ckpt.get("meta") or {})


def build(checkpoint: str | Path | None = None, device: str = "cpu", **kw) -> RefAttr:
    """The ``refattr`` Inpainter from a checkpoint (default ``checkpoints/refattr_cpu.pt``);
    ``label`` (keyword) renames its table row. An ablation's file builds its variant."""
    cfg, G, Ext, meta = load_nets(checkpoint, device)
    names = meta.get("attribute_names") or list(cfg.attributes)
    return RefAttr(G, Ext, size=cfg.image_size, names=names, prior=meta.get("attribute_prior"), device=device, **kw)


__all__ = [
    "parse_attribute_args", "attributes_tensor", "RefAttrResult", "RefAttr", "random_attributes", "pluralistic",
    "intensity_sweep", "default_checkpoint", "load_nets", "build",
]
