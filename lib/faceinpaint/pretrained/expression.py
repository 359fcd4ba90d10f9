"""face-api's FaceExpressionNet in PyTorch, loaded from its tfjs weights.

Architecture (``src/faceFeatureExtractor`` + ``src/faceExpressionNet``): a
``FaceFeatureExtractor`` of four dense blocks on a 112×112 face, then a linear classifier
256 → 7 and a softmax over (neutral, happy, sad, angry, fearful, disgusted, surprised).

A dense block (``denseBlock4``) with stride-2 entry ``c₀`` and separable convs ``c₁…c₃``:

    o₁ = ReLU(c₀(x));  o₂ = c₁(o₁);  o₃ = c₂(ReLU(o₁ + o₂));  o₄ = c₃(ReLU(o₁ + o₂ + o₃))
    out = ReLU(o₁ + o₂ + o₃ + o₄)

``c₀`` of the first block is a plain 3×3 conv (RGB in), all others are depthwise-separable
(3×3 depthwise, 1×1 pointwise, one bias after the pointwise — ``tf.separableConv2d``). All
use TensorFlow ``'same'`` padding, which for a stride-2 conv on an even size pads one pixel
at the bottom/right only (:func:`~faceinpaint.pretrained.tfjs.same_padding`).
Sizes 112 → 56 → 28 → 14 → 7, then a 7×7 average pool → 256 features.

Input: ``(p − μ) / 255`` with μ = (122.782, 117.001, 104.298), ``p`` RGB in 0…255 (face-api
trained this network itself, so face-api's ``/255`` is the right divisor here).

Face crop (:func:`expression_crop`): face-api's ``alignedRect`` — the tight box of the 68
landmarks, enlarged by 20 % of its width/height (10 % each side), clipped to the image,
zero-padded to a square (centred) and resized bilinearly to 112×112.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tfjs import conv_weight, dense_weight, depthwise_weight, load_pretrained, same_padding

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 112


def _pad_same(x: Tensor, kernel: int, stride: int) -> Tensor:
    top, bottom = same_padding(x.shape[2], kernel, stride)
    left, right = same_padding(x.shape[3], kernel, stride)
    return F.pad(x, (left, right, top, bottom))


class SameConv(nn.Module):
    """A plain ``k×k`` conv + bias with TensorFlow ``'same'`` padding."""

    def __init__(self, cin: int, cout: int, stride: int, k: int = 3):
        super().__init__()
        self.stride, self.k = stride, k
        self.conv = nn.Conv2d(cin, cout, k, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(_pad_same(x, self.k, self.stride))

    def load_tfjs(self, w: dict[str, Tensor], prefix: str) -> None:
        with torch.no_grad():
            self.conv.weight.copy_(conv_weight(w[f"{prefix}/filters"]))
            self.conv.bias.copy_(w[f"{prefix}/bias"])


class SeparableConv(nn.Module):
    """``pointwise(depthwise(x)) + b`` — ``tf.separableConv2d`` then a bias, 'same' padding."""

    def __init__(self, cin: int, cout: int, stride: int, k: int = 3):
        super().__init__()
        self.stride, self.k = stride, k
        self.depthwise = nn.Conv2d(cin, cin, k, stride=stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(_pad_same(x, self.k, self.stride)))

    def load_tfjs(self, w: dict[str, Tensor], prefix: str) -> None:
        with torch.no_grad():
            self.depthwise.weight.copy_(depthwise_weight(w[f"{prefix}/depthwise_filter"]))
            self.pointwise.weight.copy_(conv_weight(w[f"{prefix}/pointwise_filter"]))
            self.pointwise.bias.copy_(w[f"{prefix}/bias"])


class DenseBlock4(nn.Module):
    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.conv0 = SameConv(cin, cout, 2) if first else SeparableConv(cin, cout, 2)
        self.conv1 = SeparableConv(cout, cout, 1)
        self.conv2 = SeparableConv(cout, cout, 1)
        self.conv3 = SeparableConv(cout, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        o1 = F.relu(self.conv0(x))
        o2 = self.conv1(o1)
        o3 = self.conv2(F.relu(o1 + o2))
        o4 = self.conv3(F.relu(o1 + o2 + o3))
        return F.relu(o1 + o2 + o3 + o4)

    def load_tfjs(self, w: dict[str, Tensor], prefix: str) -> None:
        for i, conv in enumerate((self.conv0, self.conv1, self.conv2, self.conv3)):
            conv.load_tfjs(w, f"{prefix}/conv{i}")


class FaceExpressionNet(nn.Module):
    """``forward(x)``: ``N×3×112×112`` RGB face crops in ``[-1, 1]`` → ``N×7`` logits.

    :meth:`probabilities` applies the softmax (face-api's output).
    """

    def __init__(self):
        super().__init__()
        widths = (3, 32, 64, 128, 256)
        self.dense = nn.ModuleList(DenseBlock4(widths[i], widths[i + 1], first=(i == 0)) for i in range(4))
        self.fc = nn.Linear(256, len(EXPRESSIONS))
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def features(self, x: Tensor) -> Tensor:
        out = ((x + 1) * 127.5 - self.mean) / 255.0
        for block in self.dense:
            out = block(out)
        return F.avg_pool2d(out, 7, 2).flatten(1)  # 7×7 map → 1×1 at 112 px input

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))

    def probabilities(self, x: Tensor) -> Tensor:
        return F.softmax(self.forward(x), dim=1)

    def load_tfjs(self, w: dict[str, Tensor]) -> "FaceExpressionNet":
        for i, block in enumerate(self.dense):
            block.load_tfjs(w, f"dense{i}")
        with torch.no_grad():
            self.fc.weight.copy_(dense_weight(w["fc/weights"]))
            self.fc.bias.copy_(w["fc/bias"])
        return self


def load_expression_net(device: str | torch.device = "cpu") -> FaceExpressionNet:
    """The pretrained expression net (assets ``faceapi_expression_*``), frozen, in eval mode."""
    return load_pretrained(FaceExpressionNet(), "faceapi_expression_manifest", "faceapi_expression_weights", device)


def aligned_rect(landmarks: Tensor, width: int, height: int, padding: float = 0.2) -> tuple[int, int, int, int]:
    """face-api's ``alignedRect`` for one face: landmark bbox grown by ``padding`` × its size,
    clipped to the image. Returns integer (x0, y0, x1, y1), exclusive end."""
    x_min, y_min = landmarks.min(dim=0).values.tolist()
    x_max, y_max = landmarks.max(dim=0).values.tolist()
    bw, bh = x_max - x_min, y_max - y_min
    x0, y0 = x_min - bw * padding / 2, y_min - bh * padding / 2
    x1, y1 = x_max + bw * padding / 2, y_max + bh * padding / 2
    x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
    x1, y1 = min(width, int(round(x1))), min(height, int(round(y1)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def expression_crop(images: Tensor, landmarks: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """Crop each face like face-api does before its expression net (see the module docstring).

    ``images`` ``N×3×H×W`` in ``[-1, 1]``, ``landmarks`` ``N×68×2`` pixels → ``N×3×size×size``.
    """
    crops = []
    for img, lm in zip(images, landmarks):
        x0, y0, x1, y1 = aligned_rect(lm, img.shape[-1], img.shape[-2])
        face = img[:, y0:y1, x0:x1]
        h, w = face.shape[-2:]
        d = abs(h - w)
        # padToSquare(isCenter=True): round(d/2) appended after, the rest before; black = −1
        after, before = int(round(d * 0.5)), d - int(round(d * 0.5))
        pad = (before, after, 0, 0) if h > w else (0, 0, before, after)
        face = F.pad(face[None], pad, value=-1.0)
        # half-pixel bilinear; tfjs resizeBilinear uses the legacy corner-aligned grid (≤ ½ px shift)
        crops.append(F.interpolate(face, size=(size, size), mode="bilinear", align_corners=False))
    return torch.cat(crops) if crops else images.new_zeros(0, 3, size, size)
