"""The evaluation protocol (evaluate.py): same masks for every method, deterministic exemplars,
aggregation (mean ± std), the papers' table layout, atomic outputs."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import torch

from faceinpaint import evaluate as ev
from faceinpaint import masks as masks_mod
from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods.base import composite


def faces(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.8
    yy, xx = torch.meshgrid(torch.linspace(-0.2, 0.2, size), torch.linspace(-0.2, 0.2, size), indexing="ij")
    return (base + xx + yy).clamp(-1, 1).float()


class Recorder:
    """A method that records what it was given and fills holes with a constant."""

    def __init__(self, name="recorder", fill=0.0):
        self.name, self.fill, self.calls = name, fill, []

    def inpaint(self, image, hole, guide=None, *, seed=None):
        self.calls.append({"image": image.clone(), "hole": hole.clone(), "exemplar": guide.exemplar.clone(),
                           "seed": seed})
        return composite(image, torch.full_like(image, self.fill), hole)


class Cheater:
    name = "cheater"

    def inpaint(self, image, hole, guide=None, *, seed=None):
        return torch.zeros_like(image)  # not a composite


@pytest.fixture
def simple_metrics(monkeypatch):
    """metrics stand-in with hand-checkable values (L1 and MSE on [0, 1] over the whole image),
    so these tests check the protocol's bookkeeping, not the metrics (tests/test_metrics.py does)."""
    import faceinpaint.metrics as m

    def compute_per_image(real, fake, hole=None, which=(), *, exemplar=None, device="cpu"):
        r, f = (real + 1) / 2, (fake + 1) / 2
        vals = {"l1": (r - f).abs().mean(dim=(1, 2, 3)), "mse": ((r - f) ** 2).mean(dim=(1, 2, 3))}
        return vals, {"l1": "none"}, {}

    monkeypatch.setattr(m, "compute_per_image", compute_per_image)
    monkeypatch.setattr(m, "set_scores", lambda real, fake, **kw: {"fid": 42.0, "u_ids": 0.25, "p_ids": 0.125})


def test_protocol_masks_are_test_masks_in_bins():
    masks = ev.protocol_masks(32, 3, seed=5)
    assert list(masks) == masks_mod.BIN_NAMES == ev.BINS
    ref = masks_mod.test_masks(32, 3, seed=5)
    for b in masks:
        assert torch.equal(masks[b], ref[b])
    for lo_hi, b in zip(masks_mod.RATIO_BINS, ev.BINS[:-1]):
        r = masks[b].mean(dim=(1, 2, 3))
        assert ((r >= lo_hi[0]) & (r < lo_hi[1])).all(), b
    assert torch.allclose(masks["centre"].mean(dim=(1, 2, 3)), torch.tensor(0.25))
    with pytest.raises(FaceInpaintError, match="unknown bin"):
        ev.protocol_masks(32, 1, bins=["bin_0_10"])


def test_default_exemplar_is_another_face():
    x = faces(3)
    ex = ev.default_exemplars(x)
    for i in range(3):
        assert torch.equal(ex[i], x[(i + 1) % 3])


def test_same_masks_and_exemplars_for_every_method(simple_metrics):
    x = faces(5)
    a, b = Recorder("a"), Recorder("b", fill=0.5)
    res = ev.evaluate([a, b], x, bins=["bin_20_30", "centre"], n_per_bin=2, seed=3, batch_size=2, progress=False)
    assert len(a.calls) == len(b.calls) == 2 * 3  # 2 bins × ceil(5/2) batches
    for ca, cb in zip(a.calls, b.calls):
        assert torch.equal(ca["hole"], cb["hole"]) and torch.equal(ca["exemplar"], cb["exemplar"])
        assert ca["seed"] == cb["seed"]
    # image i gets mask i mod n_per_bin; exemplar i = image i+1 mod N
    ref = masks_mod.test_masks(32, 2, seed=3)
    holes = torch.cat([c["hole"] for c in a.calls[:3]])
    assert torch.equal(holes, ref["bin_20_30"][torch.arange(5) % 2])
    ex = torch.cat([c["exemplar"] for c in a.calls[:3]])
    assert torch.equal(ex, torch.roll(x, -1, 0))
    # seeds differ between batches and bins (stochastic methods draw fresh noise)
    assert len({c["seed"] for c in a.calls}) == len(a.calls)
    assert res.methods == ["a", "b"] and res.bins == ["bin_20_30", "centre"]


def test_aggregation_matches_hand_computation(simple_metrics):
    x = faces(4)
    res = ev.evaluate([Recorder("zero", fill=0.0)], x, bins=["centre"], seed=0, progress=False)
    hole = masks_mod.centre(32)
    fake = composite(x, torch.zeros_like(x), torch.from_numpy(hole)[None, None])
    l1 = ((x - fake).abs() / 2).mean(dim=(1, 2, 3)).numpy()  # [0,1] scale
    cell = res.summary()["zero"]["centre"]["l1"]
    assert cell["n"] == 4
    assert math.isclose(cell["mean"], float(l1.mean()), rel_tol=1e-5)
    assert math.isclose(cell["std"], float(l1.std(ddof=1)), rel_tol=1e-4)


def test_table_layout_and_files(simple_metrics, tmp_path):
    x = faces(3)
    res = ev.evaluate([Recorder("zero"), Recorder("half", fill=0.5)], x, n_per_bin=3, seed=1, fid=True,
                      out_dir=tmp_path / "out", progress=False)
    out = tmp_path / "out"
    md = (out / "table.md").read_text()
    # one block per metric; rows = methods; columns = the six bins
    assert "## l1 ↓" in md and "## fid ↓" in md
    header = next(line for line in md.splitlines() if line.startswith("| method"))
    assert header == "| method | 10–20 % | 20–30 % | 30–40 % | 40–50 % | 50–60 % | centre |"
    block = md.split("## l1 ↓")[1].split("##")[0]
    rows = [line for line in block.splitlines() if line.startswith("| zero") or line.startswith("| half")]
    assert [r.split("|")[1].strip() for r in rows] == ["zero", "half"]
    assert all(r.count("±") == 6 for r in rows)
    # CSV long format agrees with the summary
    table = list(csv.DictReader(io.StringIO((out / "table.csv").read_text())))
    s = res.summary()
    assert len(table) == 2 * 6 * 5  # methods × bins × (l1, mse, fid, u_ids, p_ids)
    for row in table:
        assert math.isclose(float(row["mean"]), s[row["method"]][row["bin"]][row["metric"]]["mean"], rel_tol=1e-12)
    data = json.loads((out / "metrics.json").read_text())
    assert data["config"]["n_per_bin"] == 3 and len(data["per_image"]) == 2 * 6 * 3
    assert data["summary"]["zero"]["centre"]["fid"]["mean"] == 42.0
    assert data["summary"]["half"]["centre"]["p_ids"]["mean"] == 0.125 and "## u_ids ↑" in md
    png = (out / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    composites = sorted((out / "images" / "half").rglob("*.png"))
    assert len(composites) == 6 * 3
    assert len(sorted((out / "masks").rglob("*.png"))) == 6 * 3


def test_larger_holes_score_worse_for_a_real_method(simple_metrics):
    """Sanity of the bins: Telea's L1 grows with the hole ratio."""
    from faceinpaint import methods

    x = faces(4, size=48)
    res = ev.evaluate([methods.get("telea")], x, bins=ev.BINS[:-1], seed=0, progress=False)
    l1 = [res.mean("telea", b, "l1") for b in ev.BINS[:-1]]
    assert all(a < b for a, b in zip(l1, l1[1:])), l1


def test_method_breaking_the_composite_is_caught(simple_metrics, tmp_path):
    with pytest.raises(RuntimeError, match="changed known pixels"):
        ev.evaluate([Cheater()], faces(2), bins=["centre"], out_dir=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_deterministic(simple_metrics):
    from faceinpaint import methods

    x = faces(3)
    a = ev.evaluate(["navier_stokes"], x, bins=["bin_40_50"], seed=9, progress=False)
    b = ev.evaluate([methods.get("navier_stokes")], x, bins=["bin_40_50"], seed=9, progress=False)
    assert a.records == b.records
    assert all(np.array_equal(p, q) for p, q in zip(a.composites[("navier_stokes", "bin_40_50")],
                                                       b.composites[("navier_stokes", "bin_40_50")]))


def test_real_metrics_on_telea(tmp_path):
    """End to end with faceinpaint.metrics: keys present, PSNR equal to scikit-image's on the composite."""
    from skimage.metrics import peak_signal_noise_ratio

    from faceinpaint import metrics

    x = faces(2, size=32)
    res = ev.evaluate(["telea"], x, bins=["centre"], seed=0, progress=False)
    keys = set(res.metric_names())
    assert {"psnr", "ssim", "ms_ssim", "l1", "vgg19_perceptual", "psnr_hole", "l1_hole"} <= keys
    assert ("lpips" in keys) == metrics.lpips_available("vgg")  # never a stand-in under LPIPS's name
    from faceinpaint import methods

    hole = torch.from_numpy(masks_mod.centre(32))[None, None].expand(2, 1, 32, 32)
    fake = methods.get("telea").inpaint(x, hole)  # deterministic: the same composites evaluate() scored
    for i, rec in enumerate(r for r in res.records if r["bin"] == "centre"):
        real = ((x[i] + 1) / 2).permute(1, 2, 0).double().numpy()
        ours = ((fake[i] + 1) / 2).permute(1, 2, 0).double().numpy()
        assert rec["metrics"]["psnr"] == pytest.approx(peak_signal_noise_ratio(real, ours, data_range=1.0), rel=1e-6)
    assert "vgg19_perceptual" in res.config["networks"]
