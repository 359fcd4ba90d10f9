"""Reading TensorFlow.js weights (a ``weights_manifest.json`` and its ``.bin`` shards).

face-api ships its networks this way. A manifest is a list of groups
``{"paths": [shard, ...], "weights": [{"name", "shape", "dtype", "quantization"?}, ...]}``;
a group's shards, concatenated in order, hold its weights back to back in manifest order.
A quantised weight is stored as integers ``q`` and restored as

    value = q · scale + min            (affine uint8 / uint16 quantisation, tfjs ``dequantize``)

or stored as IEEE half floats (``quantization.dtype == "float16"``). Unquantised weights are
stored raw in their ``dtype`` (little-endian ``float32``, ``int32``, ``bool`` as ``uint8``).

Shapes stay in TensorFlow's layout (conv filters ``H×W×Cin×Cout``, depthwise
``H×W×C×multiplier``, dense ``Cin×Cout``): converting to PyTorch's layout is the job of the
network that consumes them (:func:`conv_weight`, :func:`depthwise_weight`, :func:`dense_weight`).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from .. import assets
from ..errors import AssetError

# bytes per stored element, and how to read it
_RAW_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1")}
_QUANT_DTYPES = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}


def _decode(buf: bytes, offset: int, spec: dict, source: str) -> tuple[np.ndarray, int]:
    """Decode one weight starting at byte ``offset``; return (array, new offset)."""
    name, shape, dtype = spec["name"], list(spec["shape"]), spec.get("dtype", "float32")
    n = math.prod(shape)
    quant = spec.get("quantization")
    if quant:
        qtype = quant.get("dtype")
        if qtype not in _QUANT_DTYPES:
            raise AssetError(f"{source}: weight '{name}' has unsupported quantization dtype {qtype!r}")
        stored = _QUANT_DTYPES[qtype]
    else:
        if dtype not in _RAW_DTYPES:
            raise AssetError(f"{source}: weight '{name}' has unsupported dtype {dtype!r}")
        stored = _RAW_DTYPES[dtype]
    nbytes = n * stored.itemsize
    if offset + nbytes > len(buf):
        raise AssetError(
            f"{source}: weight '{name}' needs bytes {offset}..{offset + nbytes} but the shards hold {len(buf)}"
        )
    raw = np.frombuffer(buf, dtype=stored, count=n, offset=offset)
    if quant and quant["dtype"] == "float16":
        arr = raw.astype(np.float32)
    elif quant:
        # tfjs dequantises in float32: value = q * scale + min
        arr = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    elif dtype == "bool":
        arr = raw.astype(bool)
    else:
        arr = raw.copy()
    if quant and dtype == "int32":
        arr = np.round(arr).astype(np.int32)
    return arr.reshape(shape), offset + nbytes


def read_weights(manifest: str | os.PathLike, shards: dict[str, str | os.PathLike] | None = None) -> dict[str, torch.Tensor]:
    """Read a tfjs weights manifest and its shards into ``{name: tensor}`` (TF layouts).

    ``shards`` maps a shard name from the manifest's ``paths`` to a local file; by default a
    shard is looked for beside the manifest.
    """
    manifest = Path(manifest)
    try:
        groups = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise AssetError(f"{manifest}: tfjs manifest not found") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AssetError(f"{manifest}: not a readable tfjs weights manifest ({e})") from None
    if isinstance(groups, dict) and "weightsManifest" in groups:  # model.json form
        groups = groups["weightsManifest"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "paths" in g and "weights" in g for g in groups):
        raise AssetError(f"{manifest}: not a tfjs weights manifest (expected a list of {{paths, weights}} groups)")
    out: dict[str, torch.Tensor] = {}
    for group in groups:
        blobs = []
        for shard in group["paths"]:
            local = Path(shards[shard]) if shards and shard in shards else manifest.parent / shard
            if not local.is_file():
                raise AssetError(f"{manifest}: shard '{shard}' not found at {local}")
            blobs.append(local.read_bytes())
        buf = b"".join(blobs)
        offset = 0
        for spec in group["weights"]:
            arr, offset = _decode(buf, offset, spec, str(manifest))
            out[spec["name"]] = torch.from_numpy(np.ascontiguousarray(arr))
        if offset != len(buf):
            raise AssetError(f"{manifest}: shards hold {len(buf)} bytes but the weights use {offset}")
    return out


def load_pretrained(net, manifest_asset: str, weights_asset: str, device: str | torch.device = "cpu"):
    """``net.load_tfjs(weights)`` from two registered assets, then frozen, in eval mode, on ``device``."""
    net = net.load_tfjs(load_asset_weights(manifest_asset, weights_asset)).eval().to(device)
    return net.requires_grad_(False)


def load_asset_weights(manifest_asset: str, weights_asset: str) -> dict[str, torch.Tensor]:
    """Read tfjs weights from two registered assets (manifest + its single ``.bin`` shard)."""
    manifest = assets.path(manifest_asset)
    shard = assets.path(weights_asset)
    try:
        names = [p for g in json.loads(Path(manifest).read_text()) for p in g["paths"]]
    except (OSError, ValueError, TypeError, KeyError):
        return read_weights(manifest)  # raises the precise AssetError
    if len(names) != 1:
        raise AssetError(f"asset '{manifest_asset}': expected one shard, the manifest names {names}")
    return read_weights(manifest, {names[0]: shard})


# ----------------------------------------------------------------------------- TF → PyTorch layouts
def conv_weight(w: torch.Tensor) -> torch.Tensor:
    """TF conv filter ``H×W×Cin×Cout`` → PyTorch ``Cout×Cin×H×W``."""
    return w.permute(3, 2, 0, 1).contiguous()


def depthwise_weight(w: torch.Tensor) -> torch.Tensor:
    """TF depthwise filter ``H×W×C×M`` → PyTorch grouped conv ``(C·M)×1×H×W`` (groups = C)."""
    h, k, c, m = w.shape
    return w.permute(2, 3, 0, 1).reshape(c * m, 1, h, k).contiguous()


def dense_weight(w: torch.Tensor) -> torch.Tensor:
    """TF dense kernel ``Cin×Cout`` → ``nn.Linear`` weight ``Cout×Cin``."""
    return w.t().contiguous()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``'same'`` padding along one axis: (before, after).

    TF pads ``max((ceil(n/s) − 1)·s + k − n, 0)`` in total and puts the odd pixel **after**
    (bottom/right) — unlike PyTorch's symmetric ``padding=k//2`` when the stride is 2 and the
    size is even, which shifts every feature by one pixel.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
