"""The asset registry: verified paths, clear errors for missing or corrupt files."""
from __future__ import annotations

import shutil

import pytest

from faceinpaint import assets
from faceinpaint.errors import AssetError


def test_every_entry_is_complete():
    for a in assets.REGISTRY.values():
        assert a.source.split(":")[0] in ("pypi", "pypi-sdist", "npm"), a.name
        assert len(a.sha256) == 64, f"{a.name}: sha256 missing"
        assert a.licence and a.description, a.name


def test_path_is_verified_and_cached():
    p = assets.path("gender_onnx")
    assert p.is_file() and assets.sha256_file(p) == assets.get("gender_onnx").sha256


def test_unknown_asset_names_known_ones():
    with pytest.raises(AssetError, match="unknown asset 'nope'"):
        assets.get("nope")


def test_missing_asset_error_names_it_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEINPAINT_DATA", str(tmp_path))
    with pytest.raises(AssetError) as e:
        assets.path("gender_onnx", download=False)
    msg = str(e.value)
    assert "gender_onnx" in msg and "faceinpaint data prepare" in msg and "\n" not in msg


def test_corrupt_asset_is_detected(tmp_path, monkeypatch):
    src = assets.path("gender_onnx")
    monkeypatch.setenv("FACEINPAINT_DATA", str(tmp_path))
    local = assets.get("gender_onnx").local_path
    local.parent.mkdir(parents=True)
    shutil.copy(src, local)
    with open(local, "r+b") as f:  # flip one byte
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(AssetError, match="corrupt"):
        assets.path("gender_onnx")


def test_folder_digest_detects_a_changed_file(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    d1 = assets.sha256_folder(tmp_path)
    (tmp_path / "b.txt").write_text("c")
    assert assets.sha256_folder(tmp_path) != d1


def test_official_weights_found_in_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("FACEINPAINT_WEIGHTS", raising=False)
    assert assets.official_weights("torchvision_vgg16") is None
    ck = tmp_path / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "vgg16-397923af.pth").write_bytes(b"x")
    assert assets.official_weights("torchvision_vgg16") == ck / "vgg16-397923af.pth"
