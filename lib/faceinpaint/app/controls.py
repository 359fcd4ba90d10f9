"""Each method's own controls, in one table keyed by method name (:data:`CONTROLS`).

A new method adds its controls here, in one place: a :class:`MethodControls` subclass and
one row of :data:`CONTROLS`. A method the table does not know gets :class:`ExemplarGuided`
(it is handed each exemplar, as every method accepts one — DESIGN.md, 'One interface').

What a controls object says, for one method:

* ``widgets()`` — its sliders and boxes, shown under the method's tick box;
* ``build_kwargs()`` — keyword arguments for ``methods.get(name, **kw)`` (the app builds
  the method again only when they change);
* ``uses_exemplar()`` — False: the method ignores the exemplar, so it runs once and its
  composite fills every exemplar row;
* ``guide(model, inp)`` / ``seed(inp)`` — the :class:`~faceinpaint.methods.base.Guide` and
  seed of one call ``model.inpaint(image, hole, guide, seed=seed)``;
* ``takes(inp)`` — what the method will take from the exemplar (a picture and a line);
* ``used(model, inp, result)`` — what the last call used, read from ``model.last``.

Interfaces the app expects from methods still being written (tested only once they exist):

* **refattr** — the Inpainter has ``attribute_names`` (K names) and
  ``extract(exemplar) -> N×K`` scores (0 absent, 1 present); ``Guide.attributes``
  (N×K floats, the sliders allow −1…2 as fig. 4's intensity sweep) wins over the exemplar's.
* **exegan** — ``build(psi=ψ, crossover=k, phi=layers)``: truncation ψ ∈ [0, 1]; style
  mixing at crossover index ``k`` (layers ≥ k take a second stochastic style; None = off);
  ``phi`` the style layers that take the exemplar's code (tuple of indices; None = the
  method's default). The Inpainter may tell its number of style layers as ``n_styles``.
  A control the builder does not accept is disabled with a note, never passed.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

import cv2
import ipywidgets as W
import numpy as np
import torch
from torch import Tensor

from ..io import tensor_to_array
from ..methods.base import Guide, resize_pair
from ..viz import masked_input


@dataclass
class RunInput:
    """One call: the face, its hole, this row's exemplar (None = no exemplar picked), the run's seed."""

    image: Tensor
    hole: Tensor
    exemplar: Tensor | None
    seed: int


def draw_points(img: Tensor | np.ndarray, points, zoom: int = 2, color=(60, 255, 60)) -> np.ndarray:
    """``img`` enlarged ``zoom``× with each ``(x, y)`` point (input pixels) drawn as a dot."""
    arr = tensor_to_array(img) if isinstance(img, Tensor) else np.asarray(img, np.uint8)
    big = np.ascontiguousarray(np.repeat(np.repeat(arr, zoom, 0), zoom, 1))
    pts = np.asarray(points.detach().cpu() if isinstance(points, Tensor) else points, np.float64).reshape(-1, 2)
    for x, y in pts:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(big, (int(round((x + 0.5) * zoom - 0.5)), int(round((y + 0.5) * zoom - 0.5))),
                       max(1, zoom), color, thickness=-1, lineType=cv2.LINE_AA)
    return big


def builder_accepts(name: str) -> set[str] | None:
    """The keyword arguments the method's builder takes (None: any, it has ``**kw``)."""
    from .. import methods

    spec = methods.SPECS[name]
    fn = getattr(importlib.import_module(spec.module), spec.builder, None)
    if fn is None:  # not written yet: methods.get says so in its own words
        return None
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


class MethodControls:
    """A method without controls of its own that ignores the exemplar (the classical baselines)."""

    summary = "fills the hole from its border; takes nothing from the exemplar"

    def __init__(self, name: str, preset: str | None = None):
        self.name, self.preset = name, preset
        self.get_model: Callable[[], object] = lambda: None      # set by bind(): the built method
        self.get_input: Callable[[], RunInput | None] = lambda: None  # the app's face, mask, first exemplar
        self.say: Callable[[str], None] = lambda msg: None
        self.note = W.HTML()
        self.box = W.VBox(self.widgets() + [self.note], layout=W.Layout(margin="0 0 0 28px"))

    def bind(self, get_model, get_input, say) -> None:
        """Give the controls what their own buttons need (the app calls it once)."""
        self.get_model, self.get_input, self.say = get_model, get_input, say

    def widgets(self) -> list[W.Widget]:
        return []

    def build_kwargs(self) -> dict:
        return {}

    def uses_exemplar(self) -> bool:
        return False

    def guide(self, model, inp: RunInput) -> Guide | None:
        return Guide(exemplar=inp.exemplar) if self.uses_exemplar() and inp.exemplar is not None else None

    def seed(self, inp: RunInput) -> int | None:
        return inp.seed

    def takes(self, inp: RunInput) -> tuple[np.ndarray | Tensor | None, str]:
        return None, "nothing (ignores the exemplar)"

    def used(self, model, inp: RunInput, result: Tensor) -> tuple[np.ndarray | Tensor | None, str]:
        return None, ""

    def on_exemplars(self, exemplars: list[Tensor]) -> None:
        """The picked exemplars changed (refattr pre-sets its sliders from the first)."""


class ExemplarGuided(MethodControls):
    """A method the table does not know yet: it gets ``Guide(exemplar=...)``."""

    summary = "takes the exemplar as Guide(exemplar=...)"

    def uses_exemplar(self) -> bool:
        return True

    def takes(self, inp):
        return inp.exemplar, "the whole exemplar"


def _preset_iters(preset: str | None) -> int:
    from ..methods import wgan_completion as WC

    return int(WC.preset_config(preset or "cpu").latent.iters)


class LatentSearch(MethodControls):
    """wgan_completion: the latent search's length; conditional completion (eq. 10–15) with the exemplar."""

    summary = "searches the WGAN prior's latent space; conditional: matches the exemplar's region too"

    def widgets(self):
        self.iters = W.IntSlider(value=_preset_iters(self.preset), min=1, max=1000, step=1,
                                 description="iterations", tooltip="latent-search steps (paper: 1000)")
        self.conditional = W.Checkbox(value=True, description="conditional completion (use the exemplar)",
                                      indent=False)
        return [self.iters, self.conditional]

    def build_kwargs(self):
        return {"iters": int(self.iters.value), "progress": False}

    def uses_exemplar(self):
        return bool(self.conditional.value)

    def takes(self, inp):
        if not self.uses_exemplar():
            return None, "nothing (conditional completion is off)"
        # the exemplar inside the hole, the input (dimmed) around it: the region eq. 10–15 match
        dim = inp.image * 0.4 - 0.6
        return dim * (1 - inp.hole) + inp.exemplar * inp.hole, "the exemplar's region under the hole"

    def used(self, model, inp, result):
        last = getattr(model, "last", None)
        if last is None:
            return None, ""
        return last.image[:1], f"G(ẑ) before blending; loss {float(last.loss[0]):.3f}"


class YehControls(LatentSearch):
    """yeh: the same search length; no conditional mode (Yeh et al. ignore a reference)."""

    summary = "Yeh et al.'s search on the same prior; takes nothing from the exemplar"

    def widgets(self):
        self.iters = W.IntSlider(value=_preset_iters(self.preset), min=1, max=1000, description="iterations")
        return [self.iters]

    def uses_exemplar(self):
        return False

    def takes(self, inp):
        return MethodControls.takes(self, inp)


def _edit_mouth():
    """LaFIn's fig. 8 landmark edit, through the method's public names (the experiments
    module until ``edit_mouth`` is exported from :mod:`faceinpaint.methods.lafin`)."""
    from ..methods import lafin as L

    fn = getattr(L, "edit_mouth", None)
    if fn is None:
        from ..methods.lafin.experiments import edit_mouth as fn
    return fn


class LaFInControls(MethodControls):
    """lafin: the predicted landmarks (drawn; mouth open / smile edits of fig. 8) or the exemplar's, aligned."""

    summary = "inpaints guided by 68 landmarks: predicted (editable) or the exemplar's, aligned to the input"

    def widgets(self):
        self.source = W.ToggleButtons(options=["predicted", "exemplar"], value="predicted", description="landmarks",
                                      tooltips=["predicted on the masked input (editable)",
                                                "the exemplar's, aligned to the input"])
        self.source.add_class("fi-lafin-source")
        self.open = W.FloatSlider(value=0.0, min=-0.2, max=0.5, step=0.05, description="mouth open",
                                  tooltip="lower lip moved down, × the eye-corner distance (fig. 8)")
        self.smile = W.FloatSlider(value=0.0, min=-0.2, max=0.3, step=0.02, description="smile",
                                   tooltip="mouth corners up and out, × the eye-corner distance (fig. 8)")
        self.show = W.Button(description="show landmarks", icon="eye")
        self.picture = W.Image(format="png", layout=W.Layout(width="128px", height="128px", display="none"))
        self.picture.add_class("fi-lafin-landmarks")
        self.show.on_click(lambda _: self.show_landmarks())
        self.source.observe(lambda c: self._sync(), names="value")
        self._sync()
        return [self.source, self.open, self.smile, W.HBox([self.show, self.picture])]

    def _sync(self):
        self.open.disabled = self.smile.disabled = self.source.value == "exemplar"

    def uses_exemplar(self):
        return self.source.value == "exemplar"

    def predicted(self, model, inp: RunInput) -> Tensor:
        """G_L's landmarks on the masked input, in input pixels (``1×68×2``)."""
        from ..methods import lafin as L

        img_s, hole_s = resize_pair(inp.image, inp.hole, model.size)
        lm = model.predict_landmarks(img_s, hole_s).cpu()
        return L.from_model_pixels(lm, tuple(inp.image.shape[-2:]), model.size)

    def landmarks(self, model, inp: RunInput) -> Tensor:
        """The landmarks a run will use when they are the predicted ones, with the edits applied."""
        lm = self.predicted(model, inp)
        if self.open.value or self.smile.value:
            lm = _edit_mouth()(lm, open=float(self.open.value), smile=float(self.smile.value))
        return lm

    def guide(self, model, inp):
        if self.uses_exemplar():
            return Guide(exemplar=inp.exemplar) if inp.exemplar is not None else None
        if self.open.value or self.smile.value:
            return Guide(landmarks=self.landmarks(model, inp))
        return None  # the method predicts them itself

    def draw(self, inp: RunInput) -> np.ndarray:
        """The landmarks a run will use, over the masked input (the picture beside 'show landmarks')."""
        if self.uses_exemplar() and inp.exemplar is not None:
            return self.takes(inp)[0]
        return draw_points(masked_input(inp.image, inp.hole), self.landmarks(self.get_model(), inp)[0])

    def show_landmarks(self) -> None:
        from .files import one_line, png_bytes

        inp = self.get_input()
        if inp is None:
            self.say("lafin: pick a face first")
            return
        try:
            self.picture.value = png_bytes(self.draw(inp))
            self.picture.layout.display = ""
        except Exception as e:  # e.g. no checkpoint: the same line as the CLI
            self.say(f"lafin: {one_line(e)}")

    def takes(self, inp):
        if not self.uses_exemplar():
            return None, "nothing (landmarks: predicted)"
        model = self.get_model()
        model.inpaint(inp.image, inp.hole, Guide(exemplar=inp.exemplar))  # fast: one feed-forward pass
        return (draw_points(masked_input(inp.image, inp.hole), model.last.landmarks[0]),
                "the exemplar's landmarks, aligned to the input")

    def used(self, model, inp, result):
        last = getattr(model, "last", None)
        if last is None or last.landmarks is None:
            return None, ""
        return draw_points(result, last.landmarks[0]), f"landmarks: {last.source}"


class RefAttrControls(MethodControls):
    """refattr: attribute sliders −1…2 (fig. 4 intensity), pre-set from the first exemplar."""

    summary = "injects attributes extracted from the exemplar (or set with the sliders) at the bottleneck"

    def widgets(self):
        self.mode = W.ToggleButtons(options=["from each exemplar", "sliders"], value="from each exemplar",
                                    description="attributes")
        self.sliders: dict[str, W.FloatSlider] = {}
        self.slider_box = W.VBox()
        return [self.mode, self.slider_box]

    def _make_sliders(self, names) -> None:
        if list(self.sliders) != list(names):
            self.sliders = {n: W.FloatSlider(value=0.0, min=-1.0, max=2.0, step=0.1, description=n,
                                             style={"description_width": "150px"}) for n in names}
            self.slider_box.children = list(self.sliders.values())

    def on_exemplars(self, exemplars):
        model = self.get_model()
        self._make_sliders(list(model.attribute_names))
        if exemplars:
            values = model.extract(exemplars[0])[0].detach().cpu().tolist()
            for s, v in zip(self.sliders.values(), values):
                s.value = float(np.clip(v, s.min, s.max))

    def uses_exemplar(self):
        return True

    def guide(self, model, inp):
        if self.mode.value == "sliders" and self.sliders:
            attrs = torch.tensor([[s.value for s in self.sliders.values()]], dtype=torch.float32)
            return Guide(exemplar=inp.exemplar, attributes=attrs)
        return Guide(exemplar=inp.exemplar) if inp.exemplar is not None else None

    def takes(self, inp):
        if inp.exemplar is None:
            return None, "attributes from the sliders"
        model = self.get_model()
        values = model.extract(inp.exemplar)[0].detach().cpu().tolist()
        return None, ", ".join(f"{n} {v:.2f}" for n, v in zip(model.attribute_names, values))


class ExeGANControls(MethodControls):
    """exegan: its own seed, truncation ψ, style mixing at a crossover index, the exemplar's layers φ."""

    summary = "mixes the input's style, a stochastic style (seed, ψ) and the exemplar's style on layers φ"
    N_STYLES = 14  # 256 px StyleGAN2 (PAPERS.md); the Inpainter's n_styles wins when it has one

    def widgets(self):
        n = self.N_STYLES
        self.own_seed = W.IntText(value=0, description="seed", layout=W.Layout(width="180px"))
        self.psi = W.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="ψ (truncation)")
        self.mixing = W.Checkbox(value=False, description="style mixing", indent=False)
        self.crossover = W.IntSlider(value=n // 2, min=0, max=n - 1, description="crossover")
        # The paper's φ (layers ≥ 5) until the user moves the slider; the method's default is used then.
        self._phi_default = (5, n - 1)
        self.phi = W.IntRangeSlider(value=self._phi_default, min=0, max=n - 1, description="φ layers",
                                    tooltip="style layers taking the exemplar's code")
        return [self.own_seed, self.psi, W.HBox([self.mixing, self.crossover]), self.phi]

    def _wanted(self) -> dict:
        a, b = self.phi.value
        phi = None if (a, b) == self._phi_default else tuple(range(int(a), int(b) + 1))
        return {"psi": float(self.psi.value), "crossover": int(self.crossover.value) if self.mixing.value else None,
                "phi": phi}

    def build_kwargs(self):
        wanted = self._wanted()
        ok = builder_accepts(self.name)
        if ok is None:
            return wanted
        dropped = [k for k in wanted if k not in ok]
        self.note.value = f"<i>not taken by this build: {', '.join(dropped)}</i>" if dropped else ""
        return {k: v for k, v in wanted.items() if k in ok}

    def uses_exemplar(self):
        return True

    def seed(self, inp):
        return int(self.own_seed.value)

    def takes(self, inp):
        return inp.exemplar, "the exemplar's style (its W+ code on layers φ)"


# The table: method name → its controls. A new method adds one row (and, if it needs one, a class above).
CONTROLS: dict[str, type[MethodControls]] = {
    "telea": MethodControls,
    "navier_stokes": MethodControls,
    "biharmonic": MethodControls,
    "wgan_completion": LatentSearch,
    "yeh": YehControls,
    "lafin": LaFInControls,
    "refattr": RefAttrControls,
    "exegan": ExeGANControls,
}


def controls_for(name: str, preset: str | None = None) -> MethodControls:
    return CONTROLS.get(name, ExemplarGuided)(name, preset)
