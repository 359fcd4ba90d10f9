"""tfjs weight reading: dequantisation by hand on a synthetic manifest, layouts, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceinpaint.errors import AssetError
from faceinpaint.pretrained import tfjs


def _write(tmp_path, weights, blobs, paths=("w.bin",)):
    (tmp_path / "m.json").write_text(json.dumps([{"paths": list(paths), "weights": weights}]))
    data = b"".join(blobs)
    if len(paths) == 1:
        (tmp_path / paths[0]).write_bytes(data)
    else:  # split across shards at an arbitrary byte
        cut = len(data) // 2
        (tmp_path / paths[0]).write_bytes(data[:cut])
        (tmp_path / paths[1]).write_bytes(data[cut:])
    return tmp_path / "m.json"


def _specs():
    q8 = np.array([0, 1, 128, 255, 7, 9], dtype=np.uint8)
    q16 = np.array([0, 65535, 1000], dtype="<u2")
    raw = np.array([1.5, -2.25], dtype="<f4")
    half = np.array([0.5, -3.0, 1e-3], dtype="<f2")
    ints = np.array([3, -4], dtype="<i4")
    weights = [
        {"name": "a", "shape": [2, 3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "b", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2.0}},
        {"name": "c", "shape": [2], "dtype": "float32"},
        {"name": "d", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "e", "shape": [2], "dtype": "int32"},
    ]
    blobs = [q8.tobytes(), q16.tobytes(), raw.tobytes(), half.tobytes(), ints.tobytes()]
    return weights, blobs


def test_dequantisation_by_hand(tmp_path):
    weights, blobs = _specs()
    w = tfjs.read_weights(_write(tmp_path, weights, blobs))
    # value = q * scale + min
    assert torch.allclose(w["a"], torch.tensor([[-1.0, -0.5, 63.0], [126.5, 2.5, 3.5]]))
    assert torch.allclose(w["b"], torch.tensor([2.0, 2.0 + 65.535, 3.0]), atol=1e-5)
    assert torch.equal(w["c"], torch.tensor([1.5, -2.25]))
    assert torch.allclose(w["d"], torch.tensor([0.5, -3.0, 1e-3]), rtol=1e-3)
    assert torch.equal(w["e"], torch.tensor([3, -4], dtype=torch.int32))
    assert w["a"].dtype == torch.float32


def test_weights_span_several_shards(tmp_path):
    weights, blobs = _specs()
    w1 = tfjs.read_weights(_write(tmp_path, weights, blobs, paths=("s1.bin", "s2.bin")))
    assert torch.allclose(w1["b"], torch.tensor([2.0, 67.535, 3.0]), atol=1e-5)


def test_shard_mapping_and_errors(tmp_path):
    weights, blobs = _specs()
    manifest = _write(tmp_path, weights, blobs)
    moved = tmp_path / "elsewhere.bin"
    (tmp_path / "w.bin").rename(moved)
    with pytest.raises(AssetError, match="shard 'w.bin' not found"):
        tfjs.read_weights(manifest)
    assert set(tfjs.read_weights(manifest, {"w.bin": moved})) == set("abcde")
    moved.write_bytes(b"".join(blobs)[:-1])  # truncated
    with pytest.raises(AssetError, match="needs bytes"):
        tfjs.read_weights(manifest, {"w.bin": moved})
    moved.write_bytes(b"".join(blobs) + b"\0")  # trailing garbage
    with pytest.raises(AssetError, match="shards hold"):
        tfjs.read_weights(manifest, {"w.bin": moved})
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(AssetError, match="bad.json"):
        tfjs.read_weights(tmp_path / "bad.json")


def test_same_padding_matches_tensorflow_rule():
    # TF: out = ceil(n / s), total = max((out - 1) s + k - n, 0), extra pixel after
    assert tfjs.same_padding(112, 3, 2) == (0, 1)
    assert tfjs.same_padding(7, 3, 2) == (1, 1)
    assert tfjs.same_padding(56, 3, 1) == (1, 1)
    assert tfjs.same_padding(5, 1, 1) == (0, 0)


def test_layout_conversions_match_tf_semantics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 5, generator=g)
    # conv: out[o] = sum_{i,dy,dx} W_tf[dy, dx, i, o] x[i, y+dy, x+dx]
    w_tf = torch.randn(3, 3, 4, 2, generator=g)
    ref = torch.einsum("abio,niab->no", w_tf, x[:, :, 0:3, 0:3])
    out = F.conv2d(x, tfjs.conv_weight(w_tf))[:, :, 0, 0]
    assert torch.allclose(out, ref, atol=1e-5)
    # depthwise: out[c*M + m] = sum W_tf[dy, dx, c, m] x[c]
    dw = torch.randn(3, 3, 4, 2, generator=g)
    ref = torch.einsum("abcm,ncab->ncm", dw, x[:, :, 0:3, 0:3]).reshape(1, 8)
    out = F.conv2d(x, tfjs.depthwise_weight(dw), groups=4)[:, :, 0, 0]
    assert torch.allclose(out, ref, atol=1e-5)
    d = torch.randn(4, 3, generator=g)
    v = torch.randn(2, 4, generator=g)
    assert torch.allclose(F.linear(v, tfjs.dense_weight(d)), v @ d)


def test_face_api_assets_read():
    w = tfjs.load_asset_weights("faceapi_recognition_manifest", "faceapi_recognition_weights")
    assert w["conv32_down/conv/filters"].shape == (7, 7, 3, 32)
    assert w["fc"].shape == (256, 128)
    assert all(torch.isfinite(t).all() for t in w.values())
