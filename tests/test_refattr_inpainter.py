"""refattr's inference (methods/refattr/inpainter.py): where attributes come from, --attr parsing,
any input size with known pixels kept, intensity sweeps, pluralistic results, loading errors."""
import math

import pytest
import torch

from faceinpaint.errors import FaceInpaintError
from faceinpaint.io import torch_save
from faceinpaint.methods.base import Guide
from faceinpaint.methods.refattr import config as C
from faceinpaint.methods.refattr import inpainter as I
from faceinpaint.methods.refattr import training as T
from faceinpaint.train import CHECKPOINT_FORMAT, CheckpointError

NAMES = ["Male", "Young", "Smiling", "Mouth_Slightly_Open", "Big_Lips"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = C.preset_config("smoke")
    G, E = T.build_generator(cfg), T.build_extractor(cfg)
    with torch.no_grad():  # a non-trivial extractor: its output depends on the face
        E.head[-1].weight.mul_(50)
    return I.RefAttr(G, E, size=cfg.image_size, names=NAMES, prior=[0.4, 0.7, 0.5, 0.5, 0.2])


def faces(n=2, h=90, w=70, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, h, w, generator=g) * 2 - 1
    hole = torch.zeros(n, 1, h, w)
    hole[:, :, h // 2:h - 5, 10:w - 10] = 1
    return img, hole


def known_kept(img, out, hole):
    k = (hole < 0.5).expand_as(img)
    return out.shape == img.shape and torch.equal(out[k], img[k])


def test_parse_attribute_args():
    got = I.parse_attribute_args(["Smiling=1.5", "Male=0", " Young = -1 "], NAMES)
    assert got == {"Smiling": 1.5, "Male": 0.0, "Young": -1.0}
    assert I.parse_attribute_args(None, NAMES) == {}
    for bad, why in [("Mustache=1", "unknown attribute 'Mustache'"), ("Smiling=yes", "'yes' is not a number"),
                     ("Smiling", "expected NAME=VALUE"), ("Smiling=inf", "not a finite number"),
                     ("=1", "expected NAME=VALUE")]:
        with pytest.raises(FaceInpaintError, match=why) as e:
            I.parse_attribute_args([bad], NAMES)
        assert "\n" not in str(e.value) and "--attr" in str(e.value)


def test_attributes_tensor_dict_leaves_nan():
    t = I.attributes_tensor({"Smiling": 2.0}, NAMES, n=3)
    assert t.shape == (3, 5) and t[0, 2] == 2.0 and torch.isnan(t[:, [0, 1, 3, 4]]).all()
    with pytest.raises(FaceInpaintError, match="unknown attribute"):
        I.attributes_tensor({"Bald": 1.0}, NAMES)
    with pytest.raises(ValueError):
        I.attributes_tensor(torch.zeros(2, 4), NAMES)


def test_any_size_keeps_known_pixels(model):
    for h, w in [(90, 70), (64, 64), (300, 257)]:
        img, hole = faces(h=h, w=w)
        out = model.inpaint(img, hole)
        assert known_kept(img, out, hole)
        assert model.last.source == ["self"] * 5 and model.last.attributes.shape == (2, 5)


def test_exemplar_attributes_are_extracted(model):
    img, hole = faces()
    ref = torch.rand(2, 3, 120, 100) * 2 - 1
    model.inpaint(img, hole, Guide(exemplar=ref))
    assert model.last.source == ["exemplar"] * 5
    assert torch.allclose(model.last.attributes, model.extract(ref))
    assert torch.equal(model.last.exemplar_attributes, model.last.attributes)


def test_given_attributes_override_exemplar_columns(model):
    img, hole = faces()
    ref = torch.rand(1, 3, 64, 64) * 2 - 1
    ex = model.extract(ref)[0]
    given = torch.tensor([[math.nan, math.nan, 1.7, math.nan, -0.5]])
    out = model.inpaint(img, hole, Guide(exemplar=ref, attributes=given))
    a = model.last.attributes
    assert torch.allclose(a[:, [0, 1, 3]], ex[[0, 1, 3]].expand(2, 3))     # NaN → from the exemplar
    assert (a[:, 2] == 1.7).all() and (a[:, 4] == -0.5).all()               # given values, beyond {0, 1}
    assert model.last.source == ["exemplar", "exemplar", "given", "exemplar", "given"]
    assert known_kept(img, out, hole)
    model.inpaint(img, hole, Guide(exemplar=ref, attributes={"Smiling": 1.0}))   # a dict of names
    assert model.last.attributes[0, 2] == 1.0


def test_attributes_change_the_completion(model):
    img, hole = faces(n=1)
    a = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0]])
    o0 = model.inpaint(img, hole, Guide(attributes=a))
    o1 = model.inpaint(img, hole, Guide(attributes=a + torch.tensor([[0, 0, 2.0, 0, 0]])))
    assert not torch.allclose(o0, o1)
    assert torch.equal(o0, model.inpaint(img, hole, Guide(attributes=a)))   # deterministic


def test_intensity_sweep_and_pluralistic(model):
    img, hole = faces(n=1)
    outs, vals = I.intensity_sweep(model, img, hole, "Smiling", values=(-1, 0, 1, 2))
    assert outs.shape == (4, 1, 3, 90, 70) and vals == [-1.0, 0.0, 1.0, 2.0]
    assert all(known_kept(img, o, hole) for o in outs)
    p1, a1 = model.pluralistic(img, hole, 4, seed=3, keep={"Male": 1.0})
    p2, a2 = model.pluralistic(img, hole, 4, seed=3, keep={"Male": 1.0})
    assert p1.shape == (4, 3, 90, 70) and torch.equal(p1, p2) and torch.equal(a1, a2)
    assert (a1[:, 0] == 1).all() and set(a1[:, 1:].unique().tolist()) <= {0.0, 1.0}
    g = torch.Generator().manual_seed(0)
    u = I.random_attributes(100, 5, g, mode="uniform")
    assert (u >= 0).all() and (u <= 1).all() and u.std() > 0.2
    with pytest.raises(FaceInpaintError, match="unknown attribute"):
        I.intensity_sweep(model, img, hole, "Bald")


def _write(path, cfg, with_ext=True):
    nets = {"G": T.build_generator(cfg).state_dict()}
    if with_ext:
        nets["Ext"] = T.build_extractor(cfg).state_dict()
    torch_save({"format": CHECKPOINT_FORMAT, "step": 0, "nets": nets,
                "meta": {"refattr_config": cfg.to_dict(), "attribute_names": list(cfg.attributes)}}, path)


def test_build_from_file_and_noattr_variant(tmp_path):
    cfg = C.preset_config("smoke")
    _write(tmp_path / "m.pt", cfg)
    m = I.build(tmp_path / "m.pt")
    assert m.attribute_names == NAMES and m.size == 64 and m.name == "refattr"
    assert m.parse_attributes(["Smiling=1"]) == {"Smiling": 1.0}
    na = C.preset_config("smoke_noattr")
    _write(tmp_path / "n.pt", na, with_ext=False)
    m2 = I.build(tmp_path / "n.pt", label="LBAM alone")
    img, hole = faces()
    out = m2.inpaint(img, hole, Guide(exemplar=img, attributes={"Smiling": 1.0}))
    assert known_kept(img, out, hole) and m2.last.source == ["none"] and m2.name == "LBAM alone"


def test_missing_or_garbled_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no refattr checkpoint; train one with") as e:
        I.build(tmp_path / "none.pt")
    assert "\n" not in str(e.value)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        I.build(bad)
    other = tmp_path / "other.pt"
    torch_save({"format": CHECKPOINT_FORMAT, "step": 0, "nets": {}, "meta": {"lafin_config": {}}}, other)
    with pytest.raises(CheckpointError, match="not a refattr checkpoint"):
        I.build(other)
    cfg = C.preset_config("smoke")
    wrong = tmp_path / "wrong.pt"
    _write(wrong, C.preset_config("smoke", g_width=8))
    sd = torch.load(wrong, weights_only=True)
    sd["meta"]["refattr_config"] = cfg.to_dict()
    torch_save(sd, wrong)
    with pytest.raises(CheckpointError, match="does not match"):
        I.build(wrong)


def test_registry_builds_refattr(tmp_path):
    from faceinpaint import methods

    assert "refattr" in methods.available()
    cfg = C.preset_config("smoke")
    _write(tmp_path / "m.pt", cfg)
    m = methods.get("refattr", checkpoint=tmp_path / "m.pt")
    assert isinstance(m, I.RefAttr)


def test_experiment_statistics_by_hand():
    from faceinpaint.methods.refattr import experiments as X

    hi, lo = [0.9, 0.8, float("nan"), 0.7], [0.1, 0.5, 0.2, 0.6]
    e = X.paired_effect(hi, lo, "Smiling", "p_happy")
    d = [0.8, 0.3, 0.1]
    assert e.n == 3 and e.mean == pytest.approx(sum(d) / 3)
    sd = math.sqrt(sum((x - sum(d) / 3) ** 2 for x in d) / 2)
    assert e.se == pytest.approx(sd / math.sqrt(3)) and e.beyond(2.0) == (e.mean > 2 * e.se)
    assert X.paired_effect([30.0], [40.0], sign=-1.0).mean == 10.0        # Young: lower age
    labels = torch.tensor([[1.0], [0.0], [1.0], [0.0], [1.0]])
    pos, neg = X.reference_pairs(labels, 0, 5)
    assert (labels[pos, 0] == 1).all() and (labels[neg, 0] == 0).all() and all(p != i for i, p in enumerate(pos))
    assert X.is_monotone({0.0: 0.1, 1.0: 0.2, -1.0: 0.0}) and not X.is_monotone({0.0: 0.3, 1.0: 0.2})
    holes = X.lower_face_holes(None, 64, n=2)
    assert holes.shape == (2, 1, 64, 64) and holes.sum() > 0


def test_extractor_auc_against_sklearn():
    from sklearn.metrics import roc_auc_score

    from faceinpaint.methods.refattr import experiments as X

    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(40, 3, 8, 8, generator=g) * 2 - 1
    score = lambda x: torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3)), x[:, 0].mean((1, 2))], 1)  # noqa: E731
    m = imgs.mean((1, 2, 3))
    labels = torch.stack([(m > m.median()).float(), (m > m.median()).float(), torch.ones(40)], 1)
    auc = X.extractor_auc(score, imgs, labels, ["a", "b", "c"], batch_size=7)
    assert auc["a"] == 1.0 and auc["b"] == 0.0 and math.isnan(auc["c"])
    s = score(imgs)[:, 0].numpy()
    assert auc["a"] == roc_auc_score(labels[:, 0].numpy(), s)
