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


# ----------------------------------------------------------------------------- every method, one protocol
def _png_folder(folder, n=3, size=32):
    from faceinpaint.io import save_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(faces(n, size)):
        save_image(img[None], folder / f"f{i}.png")
    return folder


def test_protocol_bookkeeping(simple_metrics, monkeypatch, tmp_path):
    """evaluate_protocol: a warm-up call then the grid, seconds per face and FID/U-IDS/P-IDS per (method,
    bin), identity only for methods that take an exemplar (against face i+1), the ground truth's reference."""
    import faceinpaint.metrics as m
    from faceinpaint import methods as registry

    built = {}

    def get(name, **kw):
        built[name] = Recorder(name, fill=0.0 if name == "telea" else 0.5)
        return built[name]

    monkeypatch.setattr(registry, "get", get)
    seen = []

    def identity_similarity(a, b, net=None, device="cpu"):
        seen.append(b.clone())
        return torch.full((a.shape[0],), 0.5 if a is not b else 0.25, dtype=torch.float64)

    monkeypatch.setattr(m, "identity_similarity", identity_similarity)
    monkeypatch.setattr(m, "_identity_cached", lambda device: (None, "stand-in"))
    monkeypatch.setattr(m, "_inception_cached", lambda device: type("Net", (), {"source": "stand-in"})())
    monkeypatch.setattr(m, "inception_features", lambda x, *a, **k: torch.linspace(0, 1, x.shape[0] * 8)
                        .view(x.shape[0], 8).double() + x.mean())
    folder = _png_folder(tmp_path / "faces", 3)
    res = ev.evaluate_protocol(["telea", "lafin"], preset="smoke", images=folder, n_images=3, size=32, wild=False,
                               bins=["bin_30_40", "centre"], progress=False)
    assert res.methods == ["telea", "lafin"] and res.skipped == {} and res.wild is None
    assert len(built["telea"].calls) == 1 + 2  # warm-up + 2 bins × 1 batch
    s = res.grid.summary()
    for meth in res.methods:
        for b in res.grid.bins:
            cell = s[meth][b]
            assert cell["seconds_per_face"]["mean"] >= 0 and cell["seconds_per_face"]["std"] is None
            assert {"fid", "u_ids", "p_ids"} <= set(cell) and cell["fid"]["std"] is None
            assert ("identity" in cell) == (meth == "lafin")
    assert s["lafin"]["centre"]["identity"]["mean"] == 0.5 and s["lafin"]["centre"]["identity"]["n"] == 3
    assert torch.allclose(seen[0], ev.default_exemplars(res.images))   # the exemplar of face i is face i+1
    assert res.identity_reference["n"] == 3
    data = res.to_json(per_image=False)
    assert data["takes_exemplar"] == {"telea": False, "lafin": True} and "per_image" not in data
    assert json.loads(json.dumps(data, default=str))["config"]["n_images"] == 3
    written = res.write(tmp_path / "out")
    assert "## seconds_per_face ↓" in (tmp_path / "out" / "table.md").read_text()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["methods"] == ["telea", "lafin"]
    assert written and res.gallery("centre", faces=[0, 1]) is not None


def test_protocol_skips_what_cannot_be_built_and_refuses_an_empty_set(monkeypatch):
    from faceinpaint import methods as registry

    def get(name, **kw):
        if name == "lafin":
            raise FaceInpaintError("checkpoints/lafin_cpu.pt: no shipped CPU checkpoint for method 'lafin'")
        return Recorder(name)

    monkeypatch.setattr(registry, "get", get)
    built, skipped = ev.protocol_methods(["telea", "lafin"], exclude=["biharmonic"])
    assert list(built) == ["telea"] and "no shipped CPU checkpoint" in skipped["lafin"]
    built, skipped = ev.protocol_methods("all", exclude=[n for n in registry.available() if n != "telea"])
    assert list(built) == ["telea"] and not skipped
    with pytest.raises(FaceInpaintError, match="unknown method 'nope'"):
        ev.protocol_methods(["telea"], exclude=["nope"])
    with pytest.raises(FaceInpaintError, match="no method to evaluate.*lafin: checkpoints/lafin_cpu.pt"):
        ev.evaluate_protocol(["lafin"], preset="smoke")
    with pytest.raises(FaceInpaintError, match="protocol preset 'huge'"):
        ev.protocol_settings("huge")
    assert ev.takes_exemplar("refattr") and not ev.takes_exemplar("yeh") and not ev.takes_exemplar("telea-auto")


def test_evaluate_method_all_cli(capsys, tmp_path, data_ready):
    """`faceinpaint evaluate --method all` — the protocol of notebook 60 — here with the learned methods
    excluded (seconds, not minutes): every remaining available method, every requested bin, FID/U-IDS/P-IDS,
    seconds per face, the identity reference; --method all cannot be mixed with names or --wild."""
    from faceinpaint import cli, methods

    learned = [m for m in methods.available() if m not in methods.CLASSICAL]
    out = tmp_path / "all"
    code = cli.main(["evaluate", "--method", "all", "--exclude", ",".join(learned), "--preset", "smoke",
                     "--limit", "2", "--bins", "bin_20_30", "centre", "--no-wild", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    data = json.loads((out / "metrics.json").read_text())
    assert data["methods"] == [m for m in methods.available() if m in methods.CLASSICAL] and data["skipped"] == {}
    assert data["bins"] == ["bin_20_30", "centre"] and data["config"]["n_images"] == 2 and data["wild"] is None
    for m in data["methods"]:
        for b in data["bins"]:
            cell = data["summary"][m][b]
            assert {"psnr", "ssim", "ms_ssim", "l1", "vgg19_perceptual", "fid", "u_ids", "p_ids",
                    "seconds_per_face"} <= set(cell) and "identity" not in cell
    assert data["identity_reference"]["n"] == 2 and len(data["per_image"]) == 3 * 2 * 2
    assert "## seconds_per_face ↓" in cap.out and (out / "plot.png").is_file()
    assert len(list((out / "images" / "telea").rglob("*.png"))) == 2 * 2
    for argv, needle in ((["--method", "all", "--method", "telea"], "give it alone"),
                         (["--method", "all", "--wild"], "--wild does not go with --method all"),
                         (["--method", "telea", "--exclude", "yeh"], "go with --method all")):
        code = cli.main(["evaluate", *argv, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert code == 1 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_paired_difference_of_two_methods(simple_metrics):
    """EvalResult.paired: per (image, bin) a − b, mean ± SE over the pairs both methods were scored on."""
    from scipy import stats

    x = torch.rand(5, 3, 32, 32) * 2 - 1
    res = ev.evaluate([Recorder("zero"), Recorder("half", fill=0.5)], x, n_per_bin=5, seed=1, bins=["centre", "bin_20_30"])
    e = res.paired("half", "zero", "l1")
    by = {(r["method"], r["bin"], r["image"]): r["metrics"]["l1"] for r in res.records}
    d = [by[("half", b, i)] - by[("zero", b, i)] for (m, b, i) in by if m == "half"]
    assert e.n == 10 and e.mean == pytest.approx(np.mean(d)) and e.se == pytest.approx(stats.sem(d))
    assert res.paired("half", "zero", "l1", bins=["centre"]).n == 5
    assert res.worse("half", "zero", "l1").mean == e.mean                      # l1: lower is better
    ev.HIGHER_IS_BETTER["l1_flipped_for_test"] = True
    try:
        for r in res.records:
            r["metrics"]["l1_flipped_for_test"] = r["metrics"]["l1"]
        assert res.worse("half", "zero", "l1_flipped_for_test").mean == pytest.approx(-e.mean)
    finally:
        del ev.HIGHER_IS_BETTER["l1_flipped_for_test"]
