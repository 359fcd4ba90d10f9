"""Face identity: embeddings, similarity, verification AUC.

EXE-GAN's identity loss ``1 − cos(R(I_out), R(I_exe))`` and our identity-similarity metric
need a face-recognition network ``R``. The paper uses ArcFace IR-SE50, which cannot be had
offline; the stand-in is dlib's ResNet-34-like descriptor, re-implemented in PyTorch from
face-api's tfjs weights (:mod:`faceinpaint.pretrained.facerec`, cosine ≥ 0.999 with dlib's own
descriptors — a test). ArcFace is **not implemented** here: even when the official
``model_ir_se50.pth`` is present, :func:`load_identity_net` uses the dlib network and its
``name`` says so, so no number is ever reported under the wrong network's name.

Framing. dlib's network was trained on 150×150 "face chips" (``dlib.get_face_chip``,
5-point alignment, padding 0.25). Our inpainting models see CelebA-style aligned crops
instead: ``img_align_celeba`` 178×218, centre-cropped to 178×178 (rows 20–197) and resized
to 64/128/256 px. Measured on 142 CelebA faces (dlib HOG detector + 5-point predictor,
``get_face_chip_details``), the dlib chip is, in that square's coordinates, a box of side
0.617 (sd 0.041) centred at (0.499, 0.636) (sd 0.010, 0.011), rotated 0.3° (sd 3.5°). So
:data:`CELEBA_FRAMING` crops that fixed box (zero-padded where it leaves the image, as
dlib's chips are) and resizes it to 150×150. Inputs already framed like a chip (e.g.
Olivetti, or dlib chips) use ``framing=None``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import assets
from .pretrained.facerec import INPUT_SIZE, load_face_recognition_net

DLIB_NAME = "dlib-resnet34 (face-api port)"


@dataclass(frozen=True)
class Framing:
    """A fixed square box, as fractions of the input's width/height: centre (cx, cy), side."""

    cx: float
    cy: float
    side: float


# dlib's 150×150 chip inside a 178×178-centre-cropped CelebA face (see the module docstring)
CELEBA_FRAMING = Framing(cx=0.499, cy=0.636, side=0.617)


def crop_box(images: Tensor, framing: Framing | None, size: int = INPUT_SIZE) -> Tensor:
    """Crop ``framing``'s box out of ``N×3×H×W`` images and resize it to ``size×size``.

    Differentiable in the pixels (slicing, zero padding, antialiased bilinear resize).
    Zero padding is in dlib's pixel space (black = −1 here), like dlib's chips.
    """
    if framing is not None:
        h, w = images.shape[-2:]
        x0 = int(round((framing.cx - framing.side / 2) * w))
        y0 = int(round((framing.cy - framing.side / 2) * h))
        x1 = x0 + int(round(framing.side * w))
        y1 = y0 + int(round(framing.side * h))
        pad = (max(0, -x0), max(0, x1 - w), max(0, -y0), max(0, y1 - h))
        if any(pad):
            images = F.pad(images, pad, value=-1.0)
            x0, x1, y0, y1 = x0 + pad[0], x1 + pad[0], y0 + pad[2], y1 + pad[2]
        images = images[..., y0:y1, x0:x1]
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=images.shape[-1] > size)
    return images


class IdentityNet(nn.Module):
    """``net(images)``: ``N×3×H×W`` faces in ``[-1, 1]`` → ``N×D`` L2-normalised embeddings.

    Frozen, differentiable with respect to the images. Gray faces must be repeated to RGB.
    """

    def __init__(self, backbone: nn.Module, name: str, framing: Framing | None = CELEBA_FRAMING,
                 input_size: int = INPUT_SIZE):
        super().__init__()
        self.backbone = backbone
        self.name = name
        self.framing = framing
        self.input_size = input_size

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"identity net expects N×3×H×W images, got {tuple(images.shape)}")
        x = crop_box(images, self.framing, self.input_size)
        return F.normalize(self.backbone(x), dim=1)


def load_identity_net(device: str | torch.device = "cpu", framing: Framing | None = CELEBA_FRAMING) -> tuple[IdentityNet, str]:
    """The identity network and its name (say it next to every identity number).

    Always the dlib descriptor (see the module docstring): ArcFace IR-SE50 is not
    implemented, and when its official weights are present the name says they were ignored.
    """
    name = DLIB_NAME
    if assets.official_weights("arcface_ir_se50") is not None:
        name += "; ArcFace IR-SE50 weights found but ArcFace is not implemented"
    net = IdentityNet(load_face_recognition_net(device), name, framing).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, name


@torch.no_grad()
def embed(net: nn.Module, images: Tensor, batch_size: int = 64, progress: bool = True) -> Tensor:
    """Embeddings of many images in batches (no gradients), on the net's device, returned on CPU."""
    from tqdm.auto import tqdm

    device = next(net.parameters()).device
    out = []
    for i in tqdm(range(0, len(images), batch_size), desc="identity", disable=not progress or len(images) <= batch_size):
        out.append(net(images[i:i + batch_size].to(device)).cpu())
    return torch.cat(out) if out else torch.empty(0, 0)


def identity_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity per pair: ``cos(a_i, b_i) = a_i·b_i / (‖a_i‖ ‖b_i‖)`` → ``N``."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected two N×D embeddings of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return F.cosine_similarity(a, b, dim=1, eps=1e-12)


def pair_scores(embeddings: Tensor | np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs i < j: (cosine similarity, 1 if same person else 0)."""
    e = torch.as_tensor(np.asarray(embeddings, dtype=np.float64) if not isinstance(embeddings, Tensor) else embeddings)
    e = F.normalize(e.double(), dim=1)
    sim = (e @ e.t()).numpy()
    labels = np.asarray(labels)
    if labels.shape != (len(sim),):
        raise ValueError(f"expected {len(sim)} labels, got shape {labels.shape}")
    iu = np.triu_indices(len(sim), k=1)
    return sim[iu], (labels[:, None] == labels[None, :])[iu].astype(np.int64)


def verification_auc(embeddings: Tensor | np.ndarray, labels) -> float:
    """ROC AUC of "same person" scored by cosine similarity, over all pairs i < j."""
    from sklearn.metrics import roc_auc_score

    scores, same = pair_scores(embeddings, labels)
    if same.min() == same.max():
        raise ValueError("verification AUC needs both same-person and different-person pairs")
    return float(roc_auc_score(same, scores))
