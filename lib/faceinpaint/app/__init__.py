"""The exemplar picker: one interactive app for every method (notebook 70, ``make app``).

>>> from faceinpaint.app import ExemplarPicker
>>> app = ExemplarPicker(size=128)      # in JupyterLab: display(app); served by Voilà: ``make app``
>>> app.pick_face(0); app.editor.apply_preset("centre"); app.toggle_exemplar(1)
>>> app.tick("telea"); app.tick("lafin"); cells = app.run(); app.save()

A package rather than one ``widgets.py`` module: the parts that hold rules (the mask and its
undo, uploads read with the CLI's checks, the per-method controls table, the run over the
grid, the files written) are separate, widget-free where they can be, and tested on their
own; the widget layout (:mod:`.picker`, :mod:`.editor`) only wires them together.

* :mod:`.faces` — the test-split gallery, uploads (:func:`faceinpaint.io.read_rgb_array`'s rules);
* :mod:`.mask` — :class:`MaskState`: strokes, eraser, presets from :mod:`faceinpaint.masks`, undo;
* :mod:`.editor` — the ipycanvas mask editor driving it with the mouse;
* :mod:`.controls` — each method's controls, one table keyed by method name (:data:`CONTROLS`);
* :mod:`.runner` — building methods (one-line errors) and running the exemplar × method grid;
* :mod:`.files` — PNGs, the atomic save under ``outputs/app/``, download links;
* :mod:`.picker` — :class:`ExemplarPicker`, the app itself.
"""
from __future__ import annotations

from .controls import CONTROLS, MethodControls, RunInput, controls_for
from .faces import Face, Gallery, read_upload
from .mask import MaskState
from .picker import ExemplarPicker
from .runner import Cell, Methods, run_grid

__all__ = ["ExemplarPicker", "CONTROLS", "MethodControls", "RunInput", "controls_for", "Face", "Gallery",
           "read_upload", "MaskState", "Cell", "Methods", "run_grid"]
