"""dlib's face-recognition ResNet (128-d metric descriptor) in PyTorch, from face-api's tfjs port.

dlib's ``dlib_face_recognition_resnet_model_v1`` is a ResNet-34-like metric network (29 conv
layers, 150×150 aligned face chips, 128-d output trained with a pair-wise hinge metric loss).
face-api (``src/faceRecognitionNet``) re-implements it in TensorFlow.js with the weights
converted from dlib, each batch norm folded into a per-channel affine "scale" layer:

    conv(x)      = scale(W ∗ x + b),  scale(y) = γ ⊙ y + β         (dlib ``affine`` layer)
    block(x)     = ReLU(conv₂(ReLU(conv₁(x))) + x)                  (``residual``)
    down(x)      = ReLU(conv₂(ReLU(conv₁ₛ₂(x))) ⊕ pad_c(avgpool₂(x))) (``residualDown``)

where ``conv₁ₛ₂`` is a 3×3 stride-2 *valid* conv and ``⊕`` adds tensors of different spatial
sizes by zero-padding the smaller one at the bottom/right (dlib's ``add_prev`` semantics), the
pooled shortcut being zero-padded in channels when the width doubles. Layout:

    7×7/2 conv 32 (valid) → 3×3/2 max pool (valid)
    → 3 × block 32 → down 64 + 3 × block 64 → down 128 + 2 × block 128
    → down 256 + 2 × block 256 → down 256 → global mean → 128×256 linear (no bias)

Input normalisation: dlib's ``input_rgb_image_sized<150>`` computes ``(p − μ) / 256`` with
μ = (122.782, 117.001, 104.298) (R, G, B). face-api divides by 255 instead; we follow dlib,
whose network the weights are. (Either divisor gives the same cosine to dlib's descriptors
to 1e-5: the residual 3e-4 comes from the 8-bit quantisation of face-api's weights.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tfjs import conv_weight, load_pretrained

MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 150
DESCRIPTOR_DIM = 128

# (name, channels, stride-2 first conv?) in face-api's order
_BLOCKS = [
    ("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
    ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
    ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
    ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
]


class ScaledConv(nn.Module):
    """``γ ⊙ (W ∗ x + b) + β`` — a conv followed by dlib's affine (folded batch-norm) layer."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
        self.gamma = nn.Parameter(torch.ones(cout))
        self.beta = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * self.gamma[:, None, None] + self.beta[:, None, None]

    def load_tfjs(self, w: dict[str, Tensor], prefix: str) -> None:
        with torch.no_grad():
            self.conv.weight.copy_(conv_weight(w[f"{prefix}/conv/filters"]))
            self.conv.bias.copy_(w[f"{prefix}/conv/bias"])
            self.gamma.copy_(w[f"{prefix}/scale/weights"])
            self.beta.copy_(w[f"{prefix}/scale/biases"])


def _add_padded(a: Tensor, b: Tensor) -> Tensor:
    """``a + b`` where the smaller spatial map is zero-padded at the bottom/right (dlib ``add_prev``)."""
    h, w = max(a.shape[2], b.shape[2]), max(a.shape[3], b.shape[3])
    a = F.pad(a, (0, w - a.shape[3], 0, h - a.shape[2]))
    b = F.pad(b, (0, w - b.shape[3], 0, h - b.shape[2]))
    return a + b


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        # dlib: strided convs have no padding, stride-1 3×3 convs pad 1 (= TF 'same')
        self.conv1 = ScaledConv(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = ScaledConv(cout, cout, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        if not self.down:
            return F.relu(out + x)
        short = F.avg_pool2d(x, 2, 2)
        if short.shape[1] != out.shape[1]:  # width doubles: zero channels on the shortcut
            short = F.pad(short, (0, 0, 0, 0, 0, out.shape[1] - short.shape[1]))
        return F.relu(_add_padded(out, short))


class FaceRecognitionNet(nn.Module):
    """dlib ResNet face descriptor. ``forward(x)``: ``N×3×H×W`` RGB in ``[-1, 1]`` → ``N×128``.

    ``x`` should be 150×150 dlib-style aligned chips (see :func:`faceinpaint.identity` for
    CelebA crops); other sizes run (the architecture is fully convolutional up to the global
    mean) but are not what the network was trained on. The output is dlib's raw descriptor
    (not normalised; dlib compares descriptors by Euclidean distance, threshold 0.6).
    """

    def __init__(self):
        super().__init__()
        self.stem = ScaledConv(3, 32, 7, 2, 0)
        cin = 32
        blocks = []
        for _, c, down in _BLOCKS:
            blocks.append(ResidualBlock(cin, c, down))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, DESCRIPTOR_DIM, bias=False)
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def normalise(self, x: Tensor) -> Tensor:
        """``[-1, 1]`` RGB → dlib's input ``(p − μ) / 256`` with ``p`` in 0…255."""
        return ((x + 1) * 127.5 - self.mean) / 256.0

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.stem(self.normalise(x)))
        out = F.max_pool2d(out, 3, 2)
        for block in self.blocks:
            out = block(out)
        return self.fc(out.mean(dim=(2, 3)))

    def load_tfjs(self, w: dict[str, Tensor]) -> "FaceRecognitionNet":
        self.stem.load_tfjs(w, "conv32_down")
        for (name, _, _), block in zip(_BLOCKS, self.blocks):
            block.conv1.load_tfjs(w, f"{name}/conv1")
            block.conv2.load_tfjs(w, f"{name}/conv2")
        with torch.no_grad():
            self.fc.weight.copy_(w["fc"].t())  # TF dense kernel 256×128 → Linear 128×256
        return self


def load_face_recognition_net(device: str | torch.device = "cpu") -> FaceRecognitionNet:
    """The pretrained descriptor net (assets ``faceapi_recognition_*``), frozen, in eval mode."""
    return load_pretrained(FaceRecognitionNet(), "faceapi_recognition_manifest", "faceapi_recognition_weights", device)
