"""The mask editor widget: an ipycanvas over the face, painted with the mouse.

The canvas shows the face ``zoom`` times larger with the hole tinted red. Its mouse
handlers (:meth:`MaskEditor.mouse_down` / ``mouse_move`` / ``mouse_up`` / ``mouse_out``,
registered with ipycanvas's ``on_mouse_*``) turn canvas pixels into mask pixels and drive
:class:`~faceinpaint.app.mask.MaskState`. While a brush stroke is in progress only the new
segment is drawn on the canvas (a few bytes per mouse move); the whole picture is sent
again when the stroke ends, so the canvas always ends up showing the mask exactly.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as W
import numpy as np
from ipycanvas import Canvas, hold_canvas

from .. import masks
from ..errors import FaceInpaintError
from ..io import tensor_to_array
from .files import download_html, one_line
from .mask import MaskState

HOLE_RGB = np.array([255, 40, 40], np.float32)
HOLE_ALPHA = 0.65
# every protocol of faceinpaint.masks, the evaluation's centre square first
PRESET_KINDS = ["centre"] + [k for k in masks.MASK_KINDS if k != "centre"]


def overlay(face_u8: np.ndarray, hole: np.ndarray, zoom: int) -> np.ndarray:
    """``S×S×3`` face with the hole tinted red, enlarged ``zoom``× by pixel repetition."""
    a = (hole.astype(np.float32) * HOLE_ALPHA)[..., None]
    out = (face_u8.astype(np.float32) * (1 - a) + HOLE_RGB * a).round().astype(np.uint8)
    return np.repeat(np.repeat(out, zoom, axis=0), zoom, axis=1)


class MaskEditor:
    """Brush, eraser, size, undo, clear, preset masks with a seed, live hole ratio, save / load."""

    def __init__(self, size: int, zoom: int, on_change: Callable[[], None] | None = None,
                 on_message: Callable[[str], None] | None = None, save_path=None):
        self.size, self.zoom = int(size), int(zoom)
        self.state = MaskState(size)
        self.face_u8 = np.full((size, size, 3), 128, np.uint8)
        self._on_change = on_change or (lambda: None)
        self._say = on_message or (lambda msg: None)
        self.save_path = save_path
        side = self.size * self.zoom
        self.canvas = Canvas(width=side, height=side, layout=W.Layout(width=f"{side}px", height=f"{side}px"))
        self.canvas.add_class("fi-mask-canvas")
        self.canvas.on_mouse_down(self.mouse_down)
        self.canvas.on_mouse_move(self.mouse_move)
        self.canvas.on_mouse_up(self.mouse_up)
        self.canvas.on_mouse_out(self.mouse_out)
        # Nothing is drawn before a view says it is ready: commands sent earlier are lost,
        # and under Voilà they are replayed before the view has a context and break the
        # frontend's canvas manager. Every new view (a re-opened notebook) asks again.
        self._ready = False
        self.canvas.on_client_ready(self._client_ready)

        self.brush = W.IntSlider(value=max(2, size // 12), min=1, max=max(4, size // 3), description="brush size",
                                 tooltip="brush diameter in image pixels")
        self.mode = W.ToggleButtons(options=["brush", "eraser"], value="brush", description="paint",
                                    style={"button_width": "70px"})
        self.undo_button = W.Button(description="undo", icon="undo", tooltip="undo the last stroke, preset or clear")
        self.clear_button = W.Button(description="clear", icon="eraser", tooltip="remove every hole pixel")
        self.undo_button.on_click(lambda _: self.undo())
        self.clear_button.on_click(lambda _: self.clear())
        self.kind = W.Dropdown(options=PRESET_KINDS, value="centre", description="preset",
                               tooltip="a mask protocol of faceinpaint.masks")
        self.seed = W.IntText(value=0, description="mask seed", layout=W.Layout(width="180px"))
        self.preset_button = W.Button(description="apply preset", icon="th-large")
        self.preset_button.on_click(lambda _: self.apply_preset())
        self.ratio_label = W.HTML()
        self.ratio_label.add_class("fi-hole-ratio")
        self.save_button = W.Button(description="save mask", icon="save", tooltip="the CLI's PNG: white = hole")
        self.save_button.on_click(lambda _: self.save())
        self.load = W.FileUpload(accept="image/*", multiple=False, description="load mask")
        self.load.observe(self._on_load, names="value")
        self.download = W.HTML()
        tools = W.VBox([self.brush, self.mode, W.HBox([self.undo_button, self.clear_button]),
                        self.kind, W.HBox([self.seed, self.preset_button]), self.ratio_label,
                        W.HBox([self.save_button, self.load]), self.download])
        self.widget = W.HBox([self.canvas, tools])
        self.redraw()

    def _client_ready(self) -> None:
        self._ready = True
        self.redraw(changed=False)

    # -- the face under the mask
    def set_face(self, image) -> None:
        self.face_u8 = tensor_to_array(image)
        self.redraw()

    # -- mouse handlers (canvas pixels)
    def _to_mask(self, x: float, y: float) -> tuple[float, float]:
        return (x + 0.5) / self.zoom - 0.5, (y + 0.5) / self.zoom - 0.5

    def mouse_down(self, x: float, y: float) -> None:
        self.state.begin_stroke(*self._to_mask(x, y), self.brush.value, erase=self.mode.value == "eraser")
        self._live = (x, y)
        self._draw_segment(x, y)

    def mouse_move(self, x: float, y: float) -> None:
        if not self.state.drawing:
            return
        self.state.continue_stroke(*self._to_mask(x, y))
        if self.mode.value == "eraser":
            self.redraw(changed=False)   # erasing uncovers the face: draw the whole picture
        else:
            self._draw_segment(x, y)

    def mouse_up(self, x: float, y: float) -> None:
        if not self.state.drawing:
            return
        self.state.continue_stroke(*self._to_mask(x, y))
        self.state.end_stroke()
        self.redraw()

    def mouse_out(self, x: float, y: float) -> None:
        self.mouse_up(x, y)

    def _draw_segment(self, x: float, y: float) -> None:
        if self.mode.value == "eraser" or not self._ready:
            return
        x0, y0 = getattr(self, "_live", (x, y))
        c = self.canvas
        with hold_canvas():
            c.stroke_style = f"rgba(255, 40, 40, {HOLE_ALPHA})"
            c.line_cap = "round"
            c.line_width = self.brush.value * self.zoom
            c.stroke_line(x0, y0, x, y)
        self._live = (x, y)

    # -- buttons
    def undo(self) -> None:
        if not self.state.undo():
            self._say("nothing to undo")
        self.redraw()

    def clear(self) -> None:
        self.state.clear()
        self.redraw()

    def apply_preset(self, kind: str | None = None, seed: int | None = None) -> None:
        if kind is not None:
            self.kind.value = kind
        if seed is not None:
            self.seed.value = int(seed)
        try:
            self.state.preset(self.kind.value, self.seed.value)
        except FaceInpaintError as e:
            self._say(one_line(e))
        self.redraw()

    def save(self):
        """Write the mask as the CLI's PNG (white = hole) and offer it for download."""
        from ..io import save_mask
        from .files import png_bytes

        data = png_bytes(self.state.hole * 255)
        if self.save_path is not None:
            save_mask(self.state.hole, self.save_path)
            self._say(f"mask saved: {self.save_path}")
        self.download.value = download_html("mask.png", data, "download mask.png")
        return self.save_path

    def load_bytes(self, name: str, content: bytes) -> bool:
        try:
            self.state.load(name, content)
        except FaceInpaintError as e:
            self._say(one_line(e))
            return False
        self.redraw()
        return True

    def _on_load(self, change) -> None:
        from .faces import upload_files

        files = upload_files(change["new"])
        if files:
            self.load.value = ()  # so that the same file can be chosen again
        for name, content in files:
            self.load_bytes(name, content)

    # -- drawing
    def picture(self) -> np.ndarray:
        """What the canvas shows: ``(S·zoom)×(S·zoom)×4`` RGBA (sent as PNG: no JPEG blur)."""
        rgb = overlay(self.face_u8, self.state.hole, self.zoom)
        return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)

    def redraw(self, changed: bool = True) -> None:
        if self._ready:
            with hold_canvas():
                self.canvas.put_image_data(self.picture(), 0, 0)
        self.ratio_label.value = f"hole ratio <b>{self.state.ratio:.1%}</b>"
        self.undo_button.disabled = not self.state.can_undo
        if changed:
            self._on_change()
