"""The exemplar picker in a real browser: Voilà serves notebook 70, Chromium clicks through it.

The test starts Voilà on a free localhost port and stops it at the end; Debian's
``chromium`` (``make test`` installs it when missing) is driven by Playwright through
``executable_path`` — Playwright's own browser download is never used. It draws a stroke
on the mask canvas with the mouse, picks an exemplar, switches LaFIn to the exemplar's
landmarks, runs telea (classical) and lafin (learned), waits for the result images, saves a
screenshot under ``outputs/``, reads both result PNGs back out of the page and checks them
against the test face: pixels away from the stroke are bit-identical, pixels on it changed.

Without chromium the test skips locally; in CI (``CI=true``) it fails instead, saying how
to install it.
"""
from __future__ import annotations

import ast
import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acceptance_helpers import skip_or_fail  # tests/acceptance_helpers.py

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "70_demo_exemplar_picker.ipynb"
SHOT = ROOT / "outputs" / "browser" / "exemplar_picker.png"
STROKE = ((40.0, 44.0), (92.0, 80.0))  # image pixels: across the nose and a cheek of a 128-px face
TIMEOUT_S = 150


@pytest.fixture
def chromium() -> str:
    """Debian's chromium, found before Voilà is started (skip locally / fail in CI when missing)."""
    return _chromium()


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = ("Debian's chromium is not installed: `apt-get install -y chromium` (make test does it); "
               "Playwright's own browser download is not used")
        skip_or_fail(msg)
    return path


def _parameters() -> dict:
    """The notebook's parameters cell (plain literals): the face and size the page starts with."""
    import nbformat

    book = nbformat.read(NOTEBOOK, as_version=4)
    [cell] = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_url(chromium):
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    voila = Path(sys.executable).with_name("voila")
    cmd = [str(voila) if voila.exists() else "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    log = (ROOT / "outputs" / "browser")
    log.mkdir(parents=True, exist_ok=True)
    with open(log / "voila.log", "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + 60
            while True:
                try:  # the server listens: ready (a GET of the page would start a kernel)
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"Voilà did not start (see {log / 'voila.log'})")
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # Voilà and the kernels it started: its own session
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


_CANVAS_FILLED = """() => { const c = document.querySelector('canvas.fi-mask-canvas');
  if (!c) return 0; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (d.length / 4); }"""

_IMG_BYTES = """async (sel) => { const img = document.querySelector(sel);
  const buf = await (await fetch(img.src)).arrayBuffer(); let s = '';
  const b = new Uint8Array(buf); for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s); }"""


def _distance_to_segment(size: int, a, b) -> np.ndarray:
    """Distance of each pixel centre of a ``size×size`` image to the segment a–b (image pixels)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(xx - (ax + t * dx), yy - (ay + t * dy))


def test_browser_draw_pick_run(chromium, voila_url):
    executable = chromium
    from playwright.sync_api import sync_playwright

    from faceinpaint.data import FaceDataset

    params = _parameters()
    size, face_k = int(params["size"]), int(params["face"])
    zoom = max(1, 384 // size)  # the app's default canvas zoom
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 2600})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(voila_url, timeout=TIMEOUT_S * 1000)
            canvas = page.wait_for_selector("canvas.fi-mask-canvas", timeout=TIMEOUT_S * 1000)
            page.wait_for_function(f"({_CANVAS_FILLED})() > 0.99", timeout=60_000)  # the face is drawn

            # a stroke with the mouse: down, ten moves, up
            box = canvas.bounding_box()
            (x0, y0), (x1, y1) = [(box["x"] + (x + 0.5) * zoom, box["y"] + (y + 0.5) * zoom) for x, y in STROKE]
            page.mouse.move(x0, y0)
            page.mouse.down()
            for i in range(1, 11):
                page.mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
                time.sleep(0.03)
            page.mouse.up()
            page.wait_for_function("() => !document.querySelector('.fi-hole-ratio').innerText.includes(' 0.0%')",
                                   timeout=30_000)

            # an exemplar, and LaFIn takes its landmarks
            page.click(".fi-exemplar-1")
            page.locator(".fi-method-telea input").check()
            page.locator(".fi-method-lafin input").check()
            page.locator(".fi-lafin-source button", has_text="exemplar").click()
            page.wait_for_function("() => document.querySelectorAll('.fi-exemplar-1.mod-active').length > 0",
                                   timeout=30_000)
            page.click(".fi-run")
            for m in ("telea", "lafin"):
                page.wait_for_selector(f"img.fi-result-0-{m}", timeout=TIMEOUT_S * 1000)
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".fi-app").screenshot(path=str(SHOT))
            results = {m: np.asarray(Image.open(io.BytesIO(base64.b64decode(
                page.evaluate(_IMG_BYTES, f"img.fi-result-0-{m}")))).convert("RGB")) for m in ("telea", "lafin")}
            log = page.locator(".fi-progress-log").inner_text()
            message = page.locator(".fi-message").inner_text()
            assert not errors, f"errors in the page: {errors}"
        finally:
            browser.close()

    assert SHOT.is_file() and SHOT.stat().st_size > 10_000
    face = np.asarray(FaceDataset("celeba999", split="test", size=size)[face_k]["image"]
                      .add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0))
    dist = _distance_to_segment(size, *STROKE)
    brush = max(2, size // 12)  # the editor's default brush diameter
    far = dist > brush / 2 + 2        # clearly outside the stroke: must be the input's bytes
    core = dist < brush / 2 - 1.5     # clearly inside it: must have been inpainted
    for m, img in results.items():
        assert img.shape == face.shape, f"{m}: result is {img.shape}, expected {face.shape}"
        changed = (img.astype(int) != face.astype(int)).any(axis=2)
        assert not changed[far].any(), f"{m}: {int(changed[far].sum())} pixels outside the stroke changed"
        assert changed[core].mean() > 0.6, f"{m}: only {changed[core].mean():.0%} of the stroke's pixels changed"
    assert "lafin" in log and "telea" in log, f"progress log lacks a method: {log!r}"
    assert "skipped" not in log, f"a method was skipped: {log!r} {message!r}"
