"""LaFIn's Inpainter: landmarks (predicted, given, or an exemplar's aligned to the input) → G_P → composite."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ...errors import FaceInpaintError
from ...landmarks import N_LANDMARKS, similarity_align
from ...paths import checkpoints_dir
from ..base import Guide, resize_face, run_at_resolution
from .config import METHOD, TRAIN_HINT, LaFInConfig
from .networks import (InpaintGenerator, LandmarkPredictor, build_generator, build_predictor, landmark_channel,
                       masked_input)


# ============================================================================ inference
@dataclass
class LaFInResult:
    """What the last :meth:`LaFIn.inpaint` used, for plots.

    ``landmarks``: ``N×68×2`` in pixels of the input image; ``landmarks_model``: the same at
    the model's resolution; ``source``: ``"predicted"``, ``"given"`` or ``"exemplar"``;
    ``attention``: ``N×P×P`` short+long-term attention (P = (size/4)², row i = where
    position i looks) or None; ``prediction``: the raw output at the model's resolution;
    ``exemplar_landmarks``: the exemplar's own landmarks (model resolution) before alignment.
    """

    landmarks: Tensor
    landmarks_model: Tensor
    source: str
    attention: Tensor | None = None
    prediction: Tensor | None = None
    exemplar_landmarks: Tensor | None = None
    visible: Tensor | None = None


def to_model_pixels(lm: Tensor, hw: tuple[int, int], size: int) -> Tensor:
    """Landmarks in pixels of an ``H×W`` image → pixels of its ``size×size`` resize (each axis
    rescaled on its own, as :func:`~faceinpaint.methods.base.resize_pair` squashes; pixel centres)."""
    h, w = hw
    s = lm.new_tensor([size / w, size / h])
    return (lm + 0.5) * s - 0.5


def from_model_pixels(lm: Tensor, hw: tuple[int, int], size: int) -> Tensor:
    h, w = hw
    s = lm.new_tensor([w / size, h / size])
    return (lm + 0.5) * s - 0.5


class LaFIn:
    """Inpainter "lafin": landmarks (predicted / given / from an exemplar) → G_P → composite.

    Works at the model's resolution (any input size through ``run_at_resolution``; known
    pixels are returned unchanged). Deterministic: ``seed`` is accepted and unused.
    Landmarks, in priority order: ``Guide.landmarks`` (pixels of the input image);
    ``Guide.exemplar`` — its landmarks (predicted by G_L on the unmasked exemplar, or dlib
    with ``exemplar_landmarks="dlib"``) moved onto the input by the similarity that best
    fits them to the landmarks predicted on the input at the points outside its hole
    (:func:`~faceinpaint.landmarks.similarity_align`); else G_L's prediction on the input.

    ``label``: its ``name``, the row label in evaluation tables (the ablations share the
    method "lafin"; ``name`` itself is the registry's argument).
    """

    name = METHOD

    def __init__(self, generator: InpaintGenerator, predictor: LandmarkPredictor | None, *, size: int,
                 use_landmarks: bool = True, device: str | torch.device = "cpu", exemplar_landmarks: str = "predict",
                 min_visible: int = 3, label: str | None = None):
        if exemplar_landmarks not in ("predict", "dlib"):
            raise ValueError(f"exemplar_landmarks must be 'predict' or 'dlib', got {exemplar_landmarks!r}")
        if use_landmarks and predictor is None:
            raise ValueError("a landmark-guided LaFIn needs a predictor")
        self.device = torch.device(device)
        self.G = generator.to(self.device).eval()
        self.P = predictor.to(self.device).eval() if predictor is not None else None
        self.size, self.use_landmarks = int(size), use_landmarks
        self.exemplar_landmarks, self.min_visible = exemplar_landmarks, min_visible
        if label is not None:
            self.name = label
        self.last: LaFInResult | None = None

    @property
    def variant(self) -> str:
        """``"full"``, ``"nolandmarks"`` (table 3's w/o LMK) or ``"noattention"`` (w/o LSTA)."""
        if not self.use_landmarks:
            return "nolandmarks"
        return "full" if self.G.use_attention else "noattention"

    # -- landmarks
    @torch.no_grad()
    def predict_landmarks(self, image: Tensor, hole: Tensor | None = None) -> Tensor:
        """G_L on ``size×size`` images (holes filled white): ``N×68×2`` pixels at ``size``."""
        if self.P is None:
            raise FaceInpaintError("this LaFIn model has no landmark predictor (trained without landmarks)")
        x = image.to(self.device).float()
        if hole is not None:
            x = masked_input(x, hole.to(self.device).float())
        return self.P(x) * x.shape[-1]

    def _exemplar_landmarks(self, exemplar: Tensor, n: int) -> Tensor:
        ex = exemplar.to(self.device).float()
        if ex.shape[0] == 1 and n > 1:
            ex = ex.expand(n, -1, -1, -1)
        if ex.shape[0] != n:
            raise ValueError(f"{ex.shape[0]} exemplars for {n} images")
        hw = tuple(ex.shape[-2:])
        if self.exemplar_landmarks == "dlib":
            from ...io import tensor_to_array
            from ...landmarks import detect_landmarks

            out = []
            for i in range(n):
                lm = detect_landmarks(tensor_to_array(ex[i:i + 1].cpu()))
                if lm is None:  # no face found by dlib: fall back to the predictor
                    out.append(self.predict_landmarks(resize_face(ex[i:i + 1], self.size))[0])
                else:
                    out.append(to_model_pixels(torch.from_numpy(lm).to(self.device), hw, self.size))
            return torch.stack(out)
        return self.predict_landmarks(resize_face(ex, self.size))

    def _align(self, ex_lm: Tensor, target: Tensor, hole_s: Tensor) -> tuple[Tensor, Tensor]:
        """Each exemplar's landmarks moved onto the input by the similarity fitted on the
        target landmarks that lie outside the hole (all 68 when fewer than ``min_visible``)."""
        out, vis_all = [], []
        for i in range(len(target)):
            idx = torch.floor(target[i] + 0.5).long().clamp(0, self.size - 1)
            visible = hole_s[i, 0, idx[:, 1], idx[:, 0]] < 0.5
            vis = visible.cpu().numpy()
            fit_on = vis if vis.sum() >= self.min_visible else None
            aligned = similarity_align(ex_lm[i].cpu().numpy(), target[i].cpu().numpy(), fit_on)
            out.append(torch.from_numpy(aligned))
            vis_all.append(visible.cpu())
        return torch.stack(out).to(self.device), torch.stack(vis_all)

    # -- inpainting
    @torch.no_grad()
    def inpaint_at_size(self, image: Tensor, hole: Tensor, landmarks: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """G_P on ``size×size`` inputs with landmarks in pixels at ``size``: (raw output, attention)."""
        n = image.shape[0]
        lmap = landmark_channel(landmarks, self.size, n, self.device, self.use_landmarks)
        x = torch.cat([masked_input(image.float(), hole.float()), lmap], 1)
        return self.G(x, hole.float())

    def inpaint(self, image: Tensor, hole: Tensor, guide: Guide | None = None, *, seed: int | None = None) -> Tensor:
        hw = tuple(image.shape[-2:])
        n = image.shape[0]

        def fill(img_s: Tensor, hole_s: Tensor) -> Tensor:
            img_s, hole_s = img_s.to(self.device).float(), hole_s.to(self.device).float()
            ex_lm = visible = None
            if not self.use_landmarks:
                lm_s, source = None, "none"
            elif guide is not None and guide.landmarks is not None:
                lm = torch.as_tensor(guide.landmarks).float().to(self.device)
                lm = lm.expand(n, -1, -1) if lm.dim() == 3 and lm.shape[0] == 1 else lm.reshape(n, N_LANDMARKS, 2)
                lm_s, source = to_model_pixels(lm, hw, self.size), "given"
            elif guide is not None and guide.exemplar is not None:
                target = self.predict_landmarks(img_s, hole_s)
                ex_lm = self._exemplar_landmarks(guide.exemplar, n)
                lm_s, visible = self._align(ex_lm, target, hole_s)
                source = "exemplar"
            else:
                lm_s, source = self.predict_landmarks(img_s, hole_s), "predicted"
            pred, attn = self.inpaint_at_size(img_s, hole_s, lm_s)
            lm_in = from_model_pixels(lm_s, hw, self.size).cpu() if lm_s is not None else None
            self.last = LaFInResult(
                landmarks=lm_in, landmarks_model=None if lm_s is None else lm_s.cpu(), source=source,
                attention=None if attn is None else attn.cpu(), prediction=pred.cpu(),
                exemplar_landmarks=None if ex_lm is None else ex_lm.cpu(), visible=visible)
            return pred.to(image.device)

        image, hole = image.float(), hole.float()
        return run_at_resolution(fill, image, hole, self.size)


# ============================================================================ loading
def default_checkpoint() -> Path:
    return checkpoints_dir() / f"{METHOD}_cpu.pt"


def load_nets(checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
              ) -> tuple[LaFInConfig, InpaintGenerator, LandmarkPredictor | None, str]:
    """Rebuild G_P (its EMA when present) and G_L from an inference file or a Trainer checkpoint
    of the inpaint stage; returns ``(config, G, P or None, which G was loaded)``."""
    from ...train import load_net, read_method_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    ckpt, cfg_dict = read_method_checkpoint(path, METHOD, "lafin_config", TRAIN_HINT, "runs/lafin_cpu")
    cfg = LaFInConfig.from_dict(cfg_dict)
    G = build_generator(cfg)
    g_name = load_net(ckpt, "G", G)
    P = None
    if cfg.use_landmarks:
        if "P" not in ckpt["nets"]:
            raise FaceInpaintError(f"{path}: has no landmark predictor 'P' (an inpaint-stage checkpoint? "
                                   f"use the exported {METHOD}_<preset>.pt)")
        P = build_predictor(cfg)
        load_net(ckpt, "P", P, prefer_ema=False)
    dev = torch.device(device)
    return cfg, G.to(dev), None if P is None else P.to(dev), g_name


def build(checkpoint: str | Path | None = None, device: str = "cpu", **kw) -> LaFIn:
    """The ``lafin`` Inpainter from a checkpoint (default ``checkpoints/lafin_cpu.pt``).

    Keyword arguments: ``exemplar_landmarks`` (``"predict"`` or ``"dlib"``), ``min_visible``,
    ``label`` (the table-row name). An ablation's file builds its variant: ``use_landmarks`` / ``use_attention`` come
    from the checkpoint's config (no predictor is needed without landmarks).
    """
    cfg, G, P, _ = load_nets(checkpoint, device)
    return LaFIn(G, P, size=cfg.image_size, use_landmarks=cfg.use_landmarks, device=device, **kw)
