"""The exemplar picker: one ipywidgets app for every method of the registry.

Top to bottom: the face (a gallery of held-out test faces, an upload, a random pick); the
mask editor (:mod:`.editor`); the exemplars (the same gallery, uploads, several at once,
and for each what every ticked method will take from it); the methods (a tick box per
``methods.available()`` name with that method's controls from :data:`.controls.CONTROLS`);
Run (methods one after another, a progress bar and each method's time); the results grid
(rows = exemplars, columns = methods, beside the masked input; hole L1 / PSNR under each
result when the face came from the dataset); Save (PNGs under ``outputs/app/`` and a zip
to download).

Every button calls a public method (:meth:`ExemplarPicker.pick_face`, :meth:`upload_face`,
:meth:`toggle_exemplar`, :meth:`run`, :meth:`save` ...), which is also how notebook 70 and the
tests drive it. A user mistake never raises out of a callback: it becomes one line in the
message bar, in the CLI's words, and the app keeps its previous state.
"""
from __future__ import annotations

import functools
import html
from pathlib import Path
from typing import Mapping, Sequence

import ipywidgets as W
import numpy as np
from torch import Tensor

from .. import methods as registry
from ..errors import FaceInpaintError
from ..paths import repo_root
from ..viz import masked_input
from .controls import MethodControls, RunInput, controls_for
from .editor import MaskEditor
from .faces import Face, Gallery, read_upload, upload_files
from .files import download_html, one_line, png_bytes, save_results, slug, zip_bytes
from .runner import Cell, Methods, Progress, run_grid

THUMB = 64      # gallery thumbnails, display pixels
RESULT = 160    # result images, display pixels (the PNG itself is at the working size)


def _safe(fn):
    """A widget callback that turns any error into the message bar's line instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(self, *a, **k):
        try:
            return fn(self, *a, **k)
        except Exception as e:
            self.say(one_line(e))
            return None
    return wrapper


def _image(data: bytes, px: int, css: str | None = None) -> W.Image:
    img = W.Image(value=data, format="png", layout=W.Layout(width=f"{px}px", height=f"{px}px"))
    if css:
        img.add_class(css)
    return img


def _choices(box: W.Widget) -> list[W.Widget]:
    """The toggles, check boxes and option pickers inside ``box`` (not the sliders: moving one
    fires many events, and what a method takes from an exemplar rarely depends on them)."""
    found, todo = [], [box]
    while todo:
        w = todo.pop()
        todo.extend(getattr(w, "children", ()))
        if isinstance(w, (W.Checkbox, W.ToggleButton, W.ToggleButtons, W.Dropdown, W.RadioButtons)):
            found.append(w)
    return found


class GalleryStrip:
    """A page of test-split thumbnails, each with a button (``use`` for faces, a toggle for exemplars)."""

    def __init__(self, gallery: Gallery, per_page: int, toggle: bool, on_pick, css: str):
        self.gallery, self.per_page, self.toggle, self.on_pick, self.css = gallery, per_page, toggle, on_pick, css
        self.page = 0
        self.selected: set[int] = set()
        self._png: dict[int, bytes] = {}
        self.prev = W.Button(icon="chevron-left", layout=W.Layout(width="36px"), tooltip="previous faces")
        self.next = W.Button(icon="chevron-right", layout=W.Layout(width="36px"), tooltip="next faces")
        self.prev.on_click(lambda _: self.show(self.page - 1))
        self.next.on_click(lambda _: self.show(self.page + 1))
        self.label = W.HTML()
        self.row = W.HBox()
        self.widget = W.HBox([self.prev, self.row, self.next, self.label], layout=W.Layout(align_items="center"))
        self.show(0)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.gallery) // self.per_page))

    def thumb(self, k: int) -> bytes:
        if k not in self._png:
            self._png[k] = png_bytes(self.gallery.face(k).image)
        return self._png[k]

    def show(self, page: int) -> None:
        self.page = int(np.clip(page, 0, self.pages - 1))
        first = self.page * self.per_page
        cells = []
        for k in range(first, min(first + self.per_page, len(self.gallery))):
            if self.toggle:
                b = W.ToggleButton(value=k in self.selected, description=f"#{k}", tooltip=f"exemplar test-{k:03d}",
                                   layout=W.Layout(width=f"{THUMB}px"))
                b.observe(functools.partial(self._toggled, k), names="value")
            else:
                b = W.Button(description=f"#{k}", tooltip=f"use test-{k:03d}", layout=W.Layout(width=f"{THUMB}px"),
                             button_style="info" if k in self.selected else "")
                b.on_click(functools.partial(lambda k, _: self.on_pick(k), k))
            b.add_class(f"{self.css}-{k}")
            cells.append(W.VBox([_image(self.thumb(k), THUMB), b]))
        self.row.children = cells
        self.label.value = f"page {self.page + 1}/{self.pages}"
        self.prev.disabled, self.next.disabled = self.page == 0, self.page >= self.pages - 1

    def _toggled(self, k: int, change) -> None:
        if bool(change["new"]) != (k in self.selected):
            self.on_pick(k)

    def set_current(self, k: int | None) -> None:
        """Highlight the button of the face in use (faces strip)."""
        self.selected = set() if k is None else {int(k)}
        for box in self.row.children:
            b = box.children[1]
            b.button_style = "info" if int(b.description[1:]) in self.selected else ""

    def set_selected(self, ks) -> None:
        self.selected = set(ks)
        for box in self.row.children:
            b = box.children[1]
            k = int(b.description[1:])
            if b.value != (k in self.selected):
                b.value = k in self.selected


class ExemplarPicker:
    """The app. ``size``: working resolution of faces and masks (the test split exists at 64,
    128 and 256; uploads are centre-cropped and resized to it); ``preset``: the methods'
    inference preset (``smoke``/``cpu``/``paper``, as ``methods.get(preset=...)``);
    ``checkpoints``: ``{method: path}`` like the CLI's ``--checkpoint METHOD=PATH``;
    ``out_dir``: where Save writes (default ``outputs/app/`` of the repository)."""

    def __init__(self, size: int = 128, *, preset: str | None = None, device: str = "cpu",
                 checkpoints: Mapping[str, str | Path] | None = None, out_dir: str | Path | None = None,
                 seed: int = 0, per_page: int = 8, dataset: str = "celeba999", zoom: int | None = None,
                 methods: Sequence[str] | None = None):
        self.size = int(size)
        self.out_dir = Path(out_dir) if out_dir is not None else repo_root() / "outputs" / "app"
        self.messages: list[str] = []
        self.message = W.HTML(layout=W.Layout(min_height="24px"))
        self.message.add_class("fi-message")
        self.face: Face | None = None
        self.exemplars: list[Face] = []
        self.cells: list[Cell] = []
        self._rng = np.random.default_rng(seed)
        self.built = Methods(preset, device, checkpoints)

        # -- face
        self.gallery = None
        try:
            self.gallery = Gallery(self.size, dataset)
        except (FaceInpaintError, ValueError) as e:  # no prepared data: uploads still work
            self.say(one_line(e))
        self.face_label = W.HTML("<i>no face yet: pick one, upload one or take a random one</i>")
        self.face_label.add_class("fi-face-label")
        self.face_upload = W.FileUpload(accept="image/*", multiple=False, description="upload face")
        self.face_upload.observe(self._on_face_upload, names="value")
        self.random_button = W.Button(description="random face", icon="random")
        self.random_button.on_click(lambda _: self.random_face())
        self.face_strip = (GalleryStrip(self.gallery, per_page, False, self.pick_face, "fi-face")
                           if self.gallery is not None else None)

        # -- mask
        self.editor = MaskEditor(self.size, zoom or max(1, 384 // self.size), on_change=self._mask_changed,
                                 on_message=self.say, save_path=self.out_dir / "mask.png")

        # -- exemplars
        self.ex_strip = (GalleryStrip(self.gallery, per_page, True, self.toggle_exemplar, "fi-exemplar")
                         if self.gallery is not None else None)
        self.ex_upload = W.FileUpload(accept="image/*", multiple=True, description="upload exemplars")
        self.ex_upload.observe(self._on_ex_upload, names="value")
        self.ex_clear = W.Button(description="no exemplar", icon="times")
        self.ex_clear.on_click(lambda _: self.clear_exemplars())
        self.ex_rows = W.VBox()

        # -- methods
        self.controls: dict[str, MethodControls] = {}
        self.ticks: dict[str, W.Checkbox] = {}
        self.problems: dict[str, str] = {}
        self.info: dict[str, W.HTML] = {}  # the line beside each tick box: its summary, or why it cannot run
        method_rows = []
        for name in self.built.available():
            try:
                ctrl = controls_for(name, preset)
            except Exception as e:  # a controls table entry that cannot be made: the method still runs
                ctrl = MethodControls(name, preset)
                ctrl.note.value = html.escape(f"controls unavailable: {one_line(e)}")
            ctrl.bind(functools.partial(self._model, name), self._first_input, self.say)
            self.controls[name] = ctrl
            for w in _choices(ctrl.box):  # e.g. LaFIn's landmark source: what it takes from an exemplar changes
                w.observe(lambda c: self._refresh_exemplars(), names="value")
            box = W.Checkbox(value=False, description=name, indent=False, layout=W.Layout(width="170px"))
            box.add_class(f"fi-method-{name}")
            box.observe(lambda c: self._methods_changed(), names="value")
            self.ticks[name] = box
            why = self.built.problem(name)
            info = self.info[name] = W.HTML(html.escape(registry.SPECS[name].summary or ""))
            if why:
                self.problems[name] = why
                info.value = f"<small style='color:#b00'>unavailable: {html.escape(why)}</small>"
            method_rows.append(W.VBox([W.HBox([box, info]), ctrl.box]))
        for name in methods or []:
            self.tick(name)
        self._methods_changed()

        # -- run, results, save
        self.seed = W.IntText(value=int(seed), description="seed", layout=W.Layout(width="160px"))
        self.run_button = W.Button(description="Run", icon="play", button_style="primary")
        self.run_button.add_class("fi-run")
        self.run_button.on_click(lambda _: self.run())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="300px"))
        self.progress_log = W.HTML()
        self.progress_log.add_class("fi-progress-log")
        self.results = W.HBox()
        self.save_button = W.Button(description="Save", icon="save", disabled=True,
                                    tooltip="composites + grid as PNGs under outputs/app/")
        self.save_button.add_class("fi-save")
        self.save_button.on_click(lambda _: self.save())
        self.download = W.HTML()

        def section(title: str, *children) -> W.VBox:
            return W.VBox([W.HTML(f"<h3 style='margin:8px 0 4px'>{title}</h3>"), *children])

        face_row = [self.face_strip.widget] if self.face_strip else []
        ex_row = [self.ex_strip.widget] if self.ex_strip else []
        self.widget = W.VBox([
            self.message,
            section("1 · Face", *face_row, W.HBox([self.face_upload, self.random_button, self.face_label])),
            section("2 · Mask — paint the hole", self.editor.widget),
            section("3 · Exemplars", *ex_row, W.HBox([self.ex_upload, self.ex_clear]), self.ex_rows),
            section("4 · Methods", *method_rows),
            section("5 · Run", W.HBox([self.seed, self.run_button, self.progress]), self.progress_log,
                    self.results, W.HBox([self.save_button, self.download])),
        ])
        self.widget.add_class("fi-app")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ messages
    def say(self, msg: str) -> None:
        """One line in the message bar (and in :attr:`messages`, for tests and notebooks)."""
        self.messages.append(msg)
        self.message.value = (f"<div style='background:#fff3cd;border:1px solid #e0c36c;padding:3px 8px'>"
                              f"⚠ {html.escape(msg)}</div>")

    @property
    def last_message(self) -> str | None:
        return self.messages[-1] if self.messages else None

    # ------------------------------------------------------------------ face
    def _set_face(self, face: Face) -> None:
        self.face = face
        self.editor.set_face(face.image)
        src = "held-out test face" if face.from_dataset else "upload (centre square)"
        self.face_label.value = f"face: <b>{html.escape(face.name)}</b> — {src}, {self.size}×{self.size}"
        self.results.children, self.cells, self.save_button.disabled = (), [], True
        if self.face_strip is not None:
            self.face_strip.set_current(face.index)
        self._refresh_exemplars()

    @_safe
    def pick_face(self, k: int) -> None:
        if self.gallery is None:
            raise FaceInpaintError("no prepared test faces: run `faceinpaint data prepare`, or upload a face")
        self._set_face(self.gallery.face(k))

    @_safe
    def random_face(self) -> None:
        if self.gallery is None:
            raise FaceInpaintError("no prepared test faces: run `faceinpaint data prepare`, or upload a face")
        self._set_face(self.gallery.random_face(self._rng))

    @_safe
    def upload_face(self, name: str, content: bytes) -> bool:
        """An uploaded face (the CLI's image rules); False, with the CLI's message, when refused."""
        self._set_face(read_upload(name, content, self.size))
        return True

    def _on_face_upload(self, change) -> None:
        files = upload_files(change["new"])
        if files:
            self.face_upload.value = ()  # so that the same file can be chosen again
        for name, content in files:
            self.upload_face(name, content)

    # ------------------------------------------------------------------ mask
    @property
    def hole(self) -> Tensor:
        return self.editor.state.tensor()

    def _mask_changed(self) -> None:
        if self.exemplars:
            self._refresh_exemplars()

    # ------------------------------------------------------------------ exemplars
    @_safe
    def toggle_exemplar(self, k: int, on: bool | None = None) -> None:
        """Add test face ``k`` to the exemplars (or remove it when it is there; ``on`` forces)."""
        if self.gallery is None:
            raise FaceInpaintError("no prepared test faces: run `faceinpaint data prepare`, or upload an exemplar")
        there = [i for i, f in enumerate(self.exemplars) if f.index == k]
        if there and on is not True:
            del self.exemplars[there[0]]
        elif not there and on is not False:
            self.exemplars.append(self.gallery.face(k))
        self._exemplars_changed()

    @_safe
    def add_exemplar(self, name: str, content: bytes) -> bool:
        self.exemplars.append(read_upload(name, content, self.size))
        self._exemplars_changed()
        return True

    def _on_ex_upload(self, change) -> None:
        files = upload_files(change["new"])
        if files:
            self.ex_upload.value = ()
        for name, content in files:
            self.add_exemplar(name, content)

    def clear_exemplars(self) -> None:
        self.exemplars = []
        self._exemplars_changed()

    def _exemplars_changed(self) -> None:
        if self.ex_strip is not None:
            self.ex_strip.set_selected(f.index for f in self.exemplars if f.index is not None)
        for name, ctrl in self.controls.items():
            if self.ticks[name].value and name not in self.problems:
                try:
                    ctrl.on_exemplars([f.image for f in self.exemplars])
                except Exception as e:
                    self.say(f"{name}: {one_line(e)}")
        self._refresh_exemplars()

    def _refresh_exemplars(self) -> None:
        """For each exemplar: its thumbnail and what every ticked method takes from it."""
        rows = []
        for r, ex in enumerate(self.exemplars):
            items = [W.VBox([_image(png_bytes(ex.image), THUMB), W.HTML(f"<small>{html.escape(ex.name)}</small>")],
                            layout=W.Layout(width="110px"))]
            for name in self.ticked():
                ctrl = self.controls[name]
                if name in self.problems or not ctrl.uses_exemplar() or self.face is None:
                    continue
                try:
                    img, text = ctrl.takes(RunInput(self.face.image, self.hole, ex.image, self.seed.value))
                except Exception as e:
                    img, text = None, one_line(e)
                kids = [W.HTML(f"<b>{name}</b>")]
                if img is not None:
                    kids.append(_image(png_bytes(img), THUMB))
                kids.append(W.HTML(f"<small>{html.escape(text)}</small>", layout=W.Layout(width="180px")))
                items.append(W.VBox(kids, layout=W.Layout(width="190px")))
            rows.append(W.HBox(items, layout=W.Layout(border="1px solid #ddd", margin="2px 0", padding="2px")))
        self.ex_rows.children = rows

    # ------------------------------------------------------------------ methods
    def ticked(self) -> list[str]:
        return [n for n, b in self.ticks.items() if b.value]

    def tick(self, name: str, on: bool = True) -> None:
        if name not in self.ticks:
            self.say(f"unknown method {name!r} (available: {', '.join(self.ticks)})")
            return
        self.ticks[name].value = on

    def _methods_changed(self) -> None:
        for name, ctrl in self.controls.items():  # a method's controls show while it is ticked and buildable
            ctrl.box.layout.display = "" if self.ticks[name].value and name not in self.problems else "none"
        self._exemplars_changed()

    def _model(self, name: str):
        return self.built.get(name, **self.controls[name].build_kwargs())

    def _first_input(self) -> RunInput | None:
        if self.face is None:
            return None
        ex = self.exemplars[0].image if self.exemplars else None
        return RunInput(self.face.image, self.hole, ex, self.seed.value)

    # ------------------------------------------------------------------ run
    @_safe
    def run(self) -> list[Cell]:
        """Every ticked method, once per exemplar; fills the results grid and returns its cells."""
        if self.face is None:
            raise FaceInpaintError("no face: pick a test face, upload one or take a random one")
        names = self.ticked()
        if not names:
            raise FaceInpaintError("no method ticked: tick at least one under '4 · Methods'")
        hole = self.editor.state.checked("mask")
        self.run_button.disabled = True
        self.progress.value, self.progress.bar_style = 0, ""
        self.progress_log.value = "running…"
        try:
            self.cells = run_grid(self.face.image, hole, [f.image for f in self.exemplars], names, self.controls,
                                  self.built, seed=int(self.seed.value), original=self.face.from_dataset,
                                  on_progress=self._on_progress)
        finally:
            self.run_button.disabled = False
        self.progress.bar_style = "success"
        failed = sorted({c.method for c in self.cells if c.image is None})
        if failed:
            self.say("; ".join(f"{m}: {next(c.message for c in self.cells if c.method == m)}" for m in failed))
        self._show_results(hole, names)
        self.save_button.disabled = not any(c.image is not None for c in self.cells)
        self.download.value = ""
        self._refresh_exemplars()
        return self.cells

    def _on_progress(self, p: Progress) -> None:
        self.progress.max, self.progress.value = p.total, p.done
        self.progress.description = f"{p.done}/{p.total}"
        self.progress_log.value = " · ".join(html.escape(line) for line in p.log)

    def row_names(self) -> list[str]:
        return [f"exemplar {f.name}" for f in self.exemplars] or ["no exemplar"]

    def _show_results(self, hole: Tensor, names: list[str]) -> None:
        rows = self.row_names()
        grid = [W.HTML("")] + [W.HTML(f"<b>{n}</b>") for n in names]
        by_key = {(c.row, c.method): c for c in self.cells}
        for r, row_name in enumerate(rows):
            if self.exemplars:
                grid.append(W.VBox([_image(png_bytes(self.exemplars[r].image), THUMB),
                                    W.HTML(f"<small>{html.escape(self.exemplars[r].name)}</small>")]))
            else:
                grid.append(W.HTML("<small>no exemplar</small>"))
            for n in names:
                c = by_key[(r, n)]
                kids = []
                if c.image is not None:
                    kids.append(_image(png_bytes(c.image), RESULT, f"fi-result-{r}-{n}"))
                    kids[0].add_class("fi-result")
                    cap = f"{c.seconds:.2f} s" + (" (same for every exemplar)" if c.shared else "")
                    if c.hole_l1 is not None:
                        cap += f"<br>hole L1 {c.hole_l1:.3f} · PSNR {c.hole_psnr:.1f} dB"
                    if c.used_text:
                        cap += f"<br>{html.escape(c.used_text)}"
                    kids.append(W.HTML(f"<small>{cap}</small>", layout=W.Layout(width=f"{RESULT}px")))
                    if c.used_image is not None:
                        kids.append(_image(png_bytes(c.used_image), THUMB))
                else:
                    kids.append(W.HTML(f"<small style='color:#b00'>skipped: {html.escape(c.message)}</small>",
                                       layout=W.Layout(width=f"{RESULT}px")))
                grid.append(W.VBox(kids))
        box = W.GridBox(grid, layout=W.Layout(grid_template_columns=f"auto repeat({len(names)}, {RESULT + 8}px)",
                                              grid_gap="4px"))
        box.add_class("fi-results")
        inp = W.VBox([W.HTML("<b>input</b>"), _image(png_bytes(masked_input(self.face.image, hole)), RESULT,
                                                     "fi-input")])
        self.results.children = [inp, box]

    # ------------------------------------------------------------------ save
    def grid_figure(self):
        """The results as one matplotlib figure (rows = exemplars, columns = input + methods)."""
        from ..viz import image_grid

        names = list(dict.fromkeys(c.method for c in self.cells))
        by_key = {(c.row, c.method): c for c in self.cells}
        hole = self.editor.state.tensor()
        rows = []
        for r in range(len(self.row_names())):
            first = self.exemplars[r].image if self.exemplars else masked_input(self.face.image, hole)
            rows.append([first] + [by_key[(r, n)].image for n in names])
        fig = image_grid(rows, col_titles=["exemplar" if self.exemplars else "input"] + names,
                         row_titles=[n[:24] for n in self.row_names()])
        return fig

    @_safe
    def save(self) -> list[Path]:
        """Write the input, mask, composites and grid as PNGs under :attr:`out_dir`; offer a zip."""
        import matplotlib.pyplot as plt

        if not any(c.image is not None for c in self.cells):
            raise FaceInpaintError("nothing to save yet: run at least one method")
        fig = self.grid_figure()
        try:
            paths = save_results(self.out_dir, self.face.image, self.editor.state.tensor(), self.cells,
                                 self.row_names(), fig)
        finally:
            plt.close(fig)
        name = f"faceinpaint_{slug(self.face.name)}.zip"
        self.download.value = (f"saved {len(paths)} PNGs in {html.escape(str(self.out_dir))} · "
                               + download_html(name, zip_bytes(paths), f"download {name}", "application/zip"))
        return paths
