"""LaFIn's experiments (faceinpaint.methods.lafin.experiments): hole SSIM against scikit-image, table 3's
layout, the NME of completed faces with dlib, mouth editing, attention rows, menpo framing and
the augmentation fine-tuning of section 4."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from faceinpaint.methods.lafin import experiments as X
from faceinpaint import metrics
from faceinpaint.evaluate import EvalResult
from faceinpaint.methods import lafin as L


def noisy_pair(n=2, size=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)
    return a, b


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    """A smoke LaFIn trained for two steps of each stage (seconds): weights for the mechanics."""
    cfg = L.preset_config("smoke", lmk_steps=2, steps=2)
    path = L.fit(cfg, L.default_dataset(cfg, None), tmp_path_factory.mktemp("lafin"), progress=False, device="cpu")
    return L.build(path), cfg


# ----------------------------------------------------------------------------- hole scores
def test_ssim_map_is_scikit_images_map():
    a, b = noisy_pair()
    ours = X.ssim_map(a, b)
    assert ours.shape == (2, 1, 30, 30)
    for i in range(2):
        x, y = (((t[i] + 1) / 2).permute(1, 2, 0).double().numpy() for t in (a, b))
        _, full = structural_similarity(x, y, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0, full=True)
        np.testing.assert_allclose(ours[i, 0].numpy(), full[5:-5, 5:-5].mean(2), atol=1e-10)
    assert torch.allclose(ours.flatten(1).mean(1), metrics.ssim(a, b))


def test_ssim_hole_averages_the_map_over_hole_centres():
    a, b = noisy_pair()
    hole = torch.zeros(2, 1, 40, 40)
    hole[0, :, 10:20, 12:30] = 1
    hole[1, :, 0:40, 0:40] = 1
    s = X.ssim_map(a, b)
    got = X.ssim_hole(a, b, hole)
    assert got[0].item() == pytest.approx(s[0, 0, 5:15, 7:25].mean().item(), rel=1e-12)
    assert got[1].item() == pytest.approx(metrics.ssim(a[1:], b[1:]).item(), rel=1e-12)   # hole everywhere
    assert torch.allclose(X.ssim_hole(a, a, hole), torch.ones(2, dtype=torch.float64))
    # far from the hole (beyond the window), the fake does not count
    c = b.clone()
    c[0, :, 30:, :] = -1
    assert X.ssim_hole(a, c, hole)[0] == got[0]
    scores = X.hole_scores(a, b, hole)
    assert torch.equal(scores["l1_hole"], metrics.l1(a, b, hole)) and torch.equal(scores["ssim_hole"], got)


# ----------------------------------------------------------------------------- table 3 layout
def fake_result():
    r = EvalResult(["w/o LSTA", "LaFIn"], ["bin_30_40", "bin_50_60"])
    vals = {("w/o LSTA", "bin_30_40"): (20.0, 0.80), ("LaFIn", "bin_30_40"): (22.0, 0.70),
            ("w/o LSTA", "bin_50_60"): (18.0, 0.60), ("LaFIn", "bin_50_60"): (17.0, 0.65)}
    for (m, b), (p, s) in vals.items():
        for k in range(2):  # two images: mean = the value
            r.records.append({"method": m, "bin": b, "image": str(k), "metrics": {"psnr": p + (k - 0.5), "ssim": s}})
    return r


def test_table3_has_the_papers_layout():
    md = X.table3_markdown(fake_result()).splitlines()
    assert md[0] == "| metric | mask | w/o LSTA | LaFIn |"
    assert md[2] == "| psnr ↑ | 30–40 % | 20.00 | **22.00** |"
    assert md[3] == "| psnr ↑ | 50–60 % | **18.00** | 17.00 |"
    assert md[4] == "| ssim ↑ | 30–40 % | **0.8000** | 0.7000 |"
    assert len(md) == 6                                   # no l1 / fid in the result: rows left out


# ----------------------------------------------------------------------------- NME
def test_nme_between_skips_failed_detections():
    truth = np.zeros((3, 68, 2))
    truth[:, 45, 0] = 10.0                                # inter-ocular distance 10 (points 36 at 0)
    pred = truth.copy()
    pred[0] += [3.0, 4.0]                                 # every point 5 px off → 0.5
    pred[1, :] = np.nan                                   # failed on the completion
    v = X.nme_between(pred, truth)
    assert v[0] == pytest.approx(0.5) and math.isnan(v[1]) and v[2] == 0
    st = X.nme_stats(v)
    assert (st.n, st.n_failed) == (2, 1) and st.mean == pytest.approx(0.25)
    assert st.std == pytest.approx(np.std([0.5, 0.0], ddof=1))


def test_paired_difference_pairs_faces_and_skips_failures():
    nan = float("nan")
    table = {"a": {"b1": X.nme_stats([0.1, 0.2, nan]), "b2": X.nme_stats([0.3, 0.1])},
             "b": {"b1": X.nme_stats([0.2, 0.2, 0.5]), "b2": X.nme_stats([nan, 0.4])}}
    d = X.paired_difference(table, "a", "b")
    # pairs: (0.1, 0.2), (0.2, 0.2), (0.1, 0.4); face 3 of b1 and face 1 of b2 failed for one side
    diffs = np.array([0.1, 0.0, 0.3])
    assert d.n == 3 and d.mean == pytest.approx(diffs.mean())
    assert d.se == pytest.approx(diffs.std(ddof=1) / math.sqrt(3))
    assert d.significant(z=1.0) and not d.significant(z=2.0)   # mean 0.133, se 0.088
    assert X.paired_difference(table, "a", "b", bins=["b1"]).n == 2
    assert not X.PairedDifference(0.1, 0.0, 1).significant()    # one pair is no evidence


def test_completed_nme_with_dlib_on_real_faces(data_ready):
    images, _, _ = X.held_out_faces(128, 3)
    r = EvalResult(["same", "shifted"], ["bin_30_40"])
    shifted = torch.roll(images, shifts=4, dims=-1)       # the whole face 4 px to the right
    from faceinpaint.io import tensor_to_array

    r.composites[("same", "bin_30_40")] = [tensor_to_array(x) for x in images]
    r.composites[("shifted", "bin_30_40")] = [tensor_to_array(x) for x in shifted]
    table = X.completed_nme(r, images)
    same, moved = table["same"]["bin_30_40"], table["shifted"]["bin_30_40"]
    assert same.n == 3 and same.n_failed == 0 and same.mean < 0.01   # uint8 rounding only
    truth = X.detect(images)
    iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    assert moved.mean == pytest.approx(float(np.mean(4 / iod)), rel=0.35)   # ≈ 4 px / inter-ocular distance
    assert "(3/0)" in X.nme_markdown(table)


# ----------------------------------------------------------------------------- editing, attention
def test_edit_mouth_moves_only_the_mouth():
    lm = torch.zeros(2, 68, 2)
    lm[:, :, 0] = torch.arange(68).float()
    lm[:, 45, 0] = 36 + 20.0                               # inter-ocular distance 20
    lm[:, 48:68, 0] = 50.0                                 # a mouth centred at x = 50: corners 40 and 60
    lm[:, [48, 60], 0], lm[:, [54, 64], 0] = 40.0, 60.0
    lm[:, [49, 59, 61, 67], 0], lm[:, [53, 55, 63, 65], 0] = 45.0, 55.0
    opened = X.edit_mouth(lm, open=0.5)
    d = opened - lm
    assert torch.equal(d[:, :48], torch.zeros_like(d[:, :48]))
    assert torch.allclose(d[:, list(X.LOWER_LIP), 1], torch.full((2, 8), 10.0)) and d[..., 0].abs().max() == 0
    assert d[:, [m for m in X.MOUTH if m not in X.LOWER_LIP]].abs().max() == 0
    smiled = X.edit_mouth(lm, smile=0.25)
    ds = smiled - lm
    assert torch.allclose(ds[:, 48], torch.tensor([-2.5, -5.0])) and torch.allclose(ds[:, 54], torch.tensor([2.5, -5.0]))
    assert torch.allclose(ds[:, 49], torch.tensor([-1.25, -2.5])) and torch.allclose(ds[:, 55], torch.tensor([1.25, -2.5]))
    assert ds[:, 51].abs().max() == 0 and ds[:, :48].abs().max() == 0
    assert torch.equal(lm, X.edit_mouth(lm))


def test_moved_box_and_local_change():
    before = torch.zeros(1, 68, 2) + 5
    after = before.clone()
    after[0, 57] = torch.tensor([10.0, 12.0])
    assert X.moved_box(before, after, 2, (20, 30)) == [(3, 3, 13, 15)]
    a, b = torch.zeros(1, 3, 20, 30), torch.zeros(1, 3, 20, 30)
    b[..., 5:8, 5:8] = 0.9                                 # 9 changed pixels inside the box
    b[..., 18, 20] = 0.3                                   # one outside
    hole = torch.ones(1, 1, 20, 30)
    near, far = X.local_change(a, b, hole, [(3, 3, 13, 15)])
    assert near.item() == pytest.approx(9 * 0.9 / 120) and far.item() == pytest.approx(0.3 / (600 - 120))


def test_attention_to_reads_the_querys_row():
    attn = torch.zeros(1, 16, 16)
    attn[0, 1 * 4 + 2, 7] = 1.0                             # query at map (row 1, col 2) looks at position 7
    m = X.attention_to(attn, (9.0, 5.0), 16)                # pixel (9, 5) of a 16-px image → map (1, 2)
    assert m.shape == (1, 4, 4) and m[0, 1, 3] == 1 and m.sum() == 1


# ----------------------------------------------------------------------------- section 4
def test_crop_like_reproduces_the_training_framing(data_ready):
    images, lms, _ = X.held_out_faces(128, 20)
    fr = X.framing_of(lms, 128)
    assert 0.3 < fr.extent < 0.9 and all(0.3 < c < 0.7 for c in fr.centre)
    big = (torch.nn.functional.interpolate(images[:1], size=(300, 300), mode="bilinear") + 1) * 127.5
    arr = np.ascontiguousarray(big[0].permute(1, 2, 0).round().byte().numpy())
    lm300 = (lms[0].numpy() + 0.5) * 300 / 128 - 0.5
    img, lm = X.crop_like(arr, lm300, fr, 64)
    assert img.shape == (1, 3, 64, 64) and lm.shape == (1, 68, 2)
    got = X.framing_of(lm, 64)
    assert got.extent == pytest.approx(fr.extent, rel=0.03)
    assert got.centre == pytest.approx(fr.centre, abs=0.03)
    faces, points, names = X.menpo_set(64, fr)
    assert faces.shape == (3, 3, 64, 64) and names == ["breakingbad", "einstein", "takeo"]
    assert ((points > 0) & (points < 64)).all()


def test_predictor_nme_by_bin_and_the_augmented_finetuning(data_ready, smoke_model, tmp_path):
    model, cfg = smoke_model
    images, lms, _ = X.held_out_faces(64, 4)
    table = X.predictor_nme_by_bin(model, images, lms, ["bin_30_40"])
    assert set(table) == {"unmasked", "bin_30_40"} and table["unmasked"].n == 4
    # I_aug: re-completed faces, known pixels kept, conditioned on the ground truth
    hole = torch.zeros(4, 1, 64, 64)
    hole[..., 20:44, 16:48] = 1
    aug = X.augmented_faces(model.G, images, lms, cfg, hole)
    assert torch.equal(aug * (1 - hole), images * (1 - hole)) and not torch.equal(aug, images)
    ds = L.default_dataset(cfg, None)
    p0 = {k: v.clone() for k, v in model.P.state_dict().items()}
    plain = X.finetune_predictor(model, cfg, ds, tmp_path / "plain", 1, augment=False, progress=False)
    augm = X.finetune_predictor(model, cfg, ds, tmp_path / "aug", 1, augment=True, progress=False)
    assert all(torch.equal(p0[k], v) for k, v in model.P.state_dict().items())     # the model's G_L untouched
    w = "fc.weight"
    assert not torch.equal(plain.state_dict()[w], p0[w]) and not torch.equal(augm.state_dict()[w], plain.state_dict()[w])
    again = X.finetune_predictor(model, cfg, ds, tmp_path / "plain", 1, augment=False, progress=False)  # resumes
    assert torch.equal(again.state_dict()[w], plain.state_dict()[w])
    assert X.with_predictor(model, augm).P is augm


def test_augmented_task_doubles_the_batch(data_ready, smoke_model, monkeypatch):
    model, cfg = smoke_model
    seen = {}

    def record(self, batch, step, ctx):  # what eq. (1)'s step receives
        seen.update(n=batch["image"].shape[0], lm=batch["landmarks"])
        return {}

    monkeypatch.setattr(L.LandmarkTask, "train_step", record)
    images, lms, _ = X.held_out_faces(64, 3)
    X.AugmentedLandmarkTask(cfg, model.P.state_dict(), model.G).train_step({"image": images, "landmarks": lms}, 0, None)
    assert seen["n"] == 6 and torch.equal(seen["lm"][3:], lms)                       # (I_aug, L_gt) pairs
    X.AugmentedLandmarkTask(cfg, model.P.state_dict()).train_step({"image": images, "landmarks": lms}, 0, None)
    assert seen["n"] == 3                                                             # the control arm
