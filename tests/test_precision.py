"""Issue 19: the precision setting (faceinpaint.precision) for inference and training, the fast
latent search of wgan_completion, and the accuracy bound of bf16 on every shipped checkpoint."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from faceinpaint import methods, metrics, precision
from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods.base import run_at_resolution
from faceinpaint.methods.wgan_completion import LatentConfig, complete
from faceinpaint.methods.wgan_completion.inpainter import SearchNet, search_nets
from faceinpaint.paths import checkpoints_dir
from faceinpaint.train import Trainer, TrainerConfig
from synthetic import faces, square_hole  # tests/synthetic.py
from wgan_helpers import tiny_nets  # tests/wgan_helpers.py

native_bf16 = pytest.mark.skipif(not precision.cpu_bf16_supported(), reason="this CPU has no native bf16")


# ----------------------------------------------------------------------------- the setting
def test_bad_precision_is_one_clear_error():
    with pytest.raises(FaceInpaintError, match="precision 'fp16': choose one of fp32, bf16, auto"):
        precision.check("fp16")
    with pytest.raises(FaceInpaintError, match="precision"):
        methods.get("telea", precision="half")
    with pytest.raises(FaceInpaintError, match="precision"):
        TrainerConfig(precision="fp64")


def test_resolve(monkeypatch):
    assert precision.resolve("fp32", "cpu") is None
    assert precision.resolve("bf16", "cpu") is torch.bfloat16          # asked for: bf16 even when emulated
    monkeypatch.setattr(precision, "AUTO_BF16", {"lafin": "measured"})
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: True)
    assert precision.resolve("auto", "cpu", "lafin") is torch.bfloat16
    assert precision.resolve("auto", "cpu", "telea") is None           # not validated: fp32
    assert "not validated" in precision.describe("auto", "cpu", "telea")
    small, big = ToyInpainter(), ToyInpainter()
    big.size = 256                                                     # works at 256 px (small: 32)
    assert precision.resolve("auto", "cpu", "lafin", small) is None    # too small to gain: fp32
    assert "too small" in precision.describe("auto", "cpu", "lafin", small)
    assert precision.resolve("auto", "cpu", "lafin", big) is torch.bfloat16
    assert precision.resolve("bf16", "cpu", "telea", small) is torch.bfloat16   # asked for: always
    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: False)
    assert precision.resolve("auto", "cpu", "lafin") is None           # no native bf16: fp32
    assert precision.describe("auto", "cpu", "lafin").startswith("fp32 (auto: no native bf16")


def test_cpu_probe_agrees_with_cpuinfo():
    flags = precision._cpu_flags()
    if {"avx512_bf16", "amx_bf16"} & flags:
        assert precision.cpu_bf16_supported()


class Doubler(nn.Module):
    """A conv whose output dtype shows whether autocast was on."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.seen: list[torch.dtype] = []

    def forward(self, x):
        y = self.conv(x)
        self.seen.append(y.dtype)
        return y


class ToyInpainter:
    name = "toy"

    def __init__(self):
        torch.manual_seed(0)
        self.net = Doubler()
        self.size = 32

    def inpaint(self, image, hole, guide=None, *, seed=None):
        return run_at_resolution(lambda a, b: torch.tanh(self.net(a)), image, hole, self.size)


def test_apply_runs_the_networks_in_bf16_and_keeps_known_pixels():
    m = ToyInpainter()
    image, hole = faces(2, 48), square_hole(2, 48, 10, 30)
    ref = m.inpaint(image, hole)
    precision.apply(m, "bf16", "cpu")
    assert m.precision == "bf16"
    out = m.inpaint(image, hole)
    assert m.net.seen[-1] == torch.bfloat16 and out.dtype == torch.float32
    known = (hole == 0).expand_as(image)
    assert torch.equal(out[known], image[known])                     # bit for bit
    assert 0 < (out - ref).abs().max() < 0.05                        # bf16, close to fp32
    twin = copy.deepcopy(m)                                          # the copy's forward is the copy's
    twin.net.conv.weight.data.zero_()
    twin.net.conv.bias.data.zero_()
    assert torch.equal(twin.inpaint(image, hole)[~known], torch.zeros_like(out[~known]))
    assert not torch.equal(m.inpaint(image, hole), twin.inpaint(image, hole))
    precision.apply(m, "fp32", "cpu")                                # back to float32 exactly
    assert m.precision == "fp32" and torch.equal(m.inpaint(image, hole), ref) and m.net.seen[-1] == torch.float32


class EncDec(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def encode(self, x):
        return self.conv(x)

    def _private(self, x):
        return self.conv(x)


def test_every_public_entry_point_of_a_network_follows_the_setting():
    net = EncDec()
    assert precision.entry_points(net) == ["forward", "encode"]
    holder = type("Holder", (), {})()
    holder.G = net
    precision.apply(holder, "bf16", "cpu")
    x = torch.randn(1, 3, 4, 4)
    with torch.autocast("cpu", enabled=False):
        assert net.encode(x).dtype == torch.float32                 # cast back to float32 …
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        inner = net.conv(x)                                         # the submodule itself is not wrapped
    assert torch.equal(net.encode(x), inner.float())                # … after a bf16 convolution
    assert net._private(x).dtype == torch.float32 and torch.equal(net._private(x), net.conv(x))
    precision.apply(holder, "fp32", "cpu")
    assert "encode" not in net.__dict__ and torch.equal(net.encode(x), net.conv(x))


def test_methods_get_sets_and_reports_precision():
    t = methods.get("telea", precision="bf16")
    assert t.precision == "fp32"                                     # no networks: nothing changes


# ----------------------------------------------------------------------------- training
class ToyTask:
    def __init__(self):
        torch.manual_seed(0)
        self.nets = {"G": nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4))}
        self.dtypes: list[torch.dtype] = []

    def make_optimizers(self):
        return {"G": torch.optim.Adam(self.nets["G"].parameters(), 1e-2)}

    def train_step(self, batch, step, ctx):
        with ctx.autocast():
            y = self.nets["G"](batch["x"])
            self.dtypes.append(y.dtype)
            loss = (y.float() - batch["x"]).square().mean()
        ctx.optimize("G", loss)
        return {"loss": loss.item()}


def _data():
    g = torch.Generator().manual_seed(0)
    return [{"x": x} for x in torch.randn(16, 4, generator=g)]


def _cfg(tmp_path, name, **kw):
    return TrainerConfig(steps=6, batch_size=4, log_every=2, sample_every=0, ckpt_every=0, device="cpu",
                         out_dir=str(tmp_path / name), progress=False, **kw)


def test_trainer_bf16_on_cpu_runs_autocast_without_scaler(tmp_path):
    fp, bf = ToyTask(), ToyTask()
    r32 = Trainer(fp, _data(), _cfg(tmp_path, "fp32")).fit()
    tr = Trainer(bf, _data(), _cfg(tmp_path, "bf16", precision="bf16"))
    assert tr.amp and tr.amp_dtype is torch.bfloat16 and tr.scalers == {} and tr.meta["precision"] == "bf16"
    r16 = tr.fit()
    assert set(fp.dtypes) == {torch.float32} and set(bf.dtypes) == {torch.bfloat16}
    assert math.isfinite(r16.losses["loss"]) and abs(r16.losses["loss"] - r32.losses["loss"]) < 0.1 * r32.losses["loss"] + 0.02


def test_training_default_comes_from_the_context(tmp_path):
    assert TrainerConfig().precision == "fp32"
    with precision.training("bf16"):
        assert TrainerConfig().precision == "bf16"
        assert TrainerConfig(precision="fp32").precision == "fp32"
    assert TrainerConfig().precision == "fp32"
    assert precision.training_dtype("auto", "cpu") == ((torch.bfloat16, False) if precision.cpu_bf16_supported()
                                                       else (None, False))
    legacy = Trainer(ToyTask(), _data(), _cfg(tmp_path, "legacy", amp=True))   # the CUDA-only flag: off on CPU
    assert legacy.amp is False and legacy.scalers == {}


def test_cli_train_passes_precision_to_the_trainer(monkeypatch, tmp_path):
    from faceinpaint import cli

    seen = {}

    def fake_train(name, preset, data, out, resume=False, seed=0):
        seen["precision"] = TrainerConfig().precision
        return tmp_path / "x.pt"

    monkeypatch.setattr(methods, "train", fake_train)
    assert cli.main(["train", "--method", "lafin", "--preset", "smoke", "--out", str(tmp_path), "--precision", "bf16"]) == 0
    assert seen["precision"] == "bf16"
    assert cli.main(["train", "--method", "lafin", "--preset", "smoke", "--out", str(tmp_path)]) == 0
    assert seen["precision"] == "fp32"


def test_cli_rejects_a_bad_precision(capsys, tmp_path):
    from faceinpaint import cli

    code = cli.main(["inpaint", "--method", "telea", "--image", "a.png", "--mask", "m.png", "--out",
                     str(tmp_path / "o.png"), "--precision", "fp8"])
    err = capsys.readouterr().err
    assert code == 1 and "--precision" in err and "\n" == err[-1] and err.count("\n") == 1


# ----------------------------------------------------------------------------- the fast latent search
def test_search_net_is_a_frozen_copy():
    G, _, _ = tiny_nets()
    G.train()
    s = SearchNet(G, torch.bfloat16)
    assert G.training and all(p.requires_grad for p in G.parameters())      # the original is untouched
    assert not s.net.training and not any(p.requires_grad for p in s.parameters())
    assert s.net.fc.weight.dtype == torch.bfloat16 and s.net.bn.weight.dtype == torch.float32
    z = torch.randn(3, G.z_dim)
    out = s(z)
    assert out.dtype == torch.float32 and (out - G.eval()(z)).abs().max() < 0.05
    with pytest.raises(ValueError, match="float16"):
        search_nets(G, dtype=torch.float16)
    _, D, P = tiny_nets()
    x = faces(2)
    for net in (D, P):                        # fp32 copies (channels-last, 8-channel norms rewritten): same function
        copy_ = SearchNet(net)
        assert any(type(m).__name__ == "_ChannelsLastLayerNorm" for m in copy_.modules())
        assert torch.allclose(copy_(x), net.eval()(x), atol=1e-5)


def test_fast_and_reference_search_agree_in_fp32():
    """Same starts, same objective: the two paths follow the same trajectory up to float rounding."""
    G, D, P = tiny_nets()
    image, hole = faces(2, seed=3), square_hole(2)
    cfg = LatentConfig(iters=5, restarts=2)
    ref = complete(G, D, P, image, hole, cfg, generator=torch.Generator().manual_seed(4), search="reference")
    new = complete(G, D, P, image, hole, cfg, generator=torch.Generator().manual_seed(4), search="fast")
    assert torch.allclose(ref.z, new.z, atol=1e-4) and torch.allclose(ref.loss, new.loss, rtol=1e-4, atol=1e-4)
    assert new.history["total"].shape == ref.history["total"].shape == (6, 2)
    with pytest.raises(FaceInpaintError, match="search='slow'"):
        complete(G, D, P, image, hole, cfg, search="slow")


def test_wgan_inpainter_takes_precision_and_search(tmp_path):
    from faceinpaint.methods import wgan_completion as W

    G, D, P = tiny_nets()
    m = W.WGANCompletion(G, D, P, latent=LatentConfig(iters=3), progress=False)
    precision.apply(m, "bf16", "cpu")
    assert m.precision == "bf16" and m.search_dtype is torch.bfloat16
    image, hole = faces(1, 80), square_hole(1, 80, 20, 50)
    out = m.inpaint(image, hole, seed=0)
    known = (hole == 0).expand_as(image)
    assert torch.equal(out[known], image[known]) and out.dtype == torch.float32
    old = W.WGANCompletion(G, D, P, latent=LatentConfig(iters=3), progress=False, search="reference")
    precision.apply(old, "bf16", "cpu")
    assert old.precision == "fp32"                                          # the reference path is float32
    with pytest.raises(FaceInpaintError, match="search="):
        W.WGANCompletion(G, D, P, search="quick")


# ----------------------------------------------------------------------------- the accuracy bound
N_FACES = 8                  # test faces per bin (the protocol's first 8, at its 128 px)
SEARCH_ITERS = 100           # wgan_completion / yeh: latent-search iterations here (checkpoint: 1000)
SEARCH_BINS = ("bin_20_30", "centre")   # the searches cost ~100× a feed-forward pass: two bins only


def shipped_checkpoints() -> list[tuple[str, str]]:
    """(method, file) for every inference checkpoint in checkpoints/ of an available method; found at
    collection time, so a checkpoint added later (exegan_cpu.pt) is covered by the next run."""
    out = []
    for name in methods.available():
        stem = methods.SPECS[name].checkpoint_stem
        if stem is None:
            continue
        for path in sorted(checkpoints_dir().glob(f"{stem}*.pt")):
            if "style_encoder" in path.name:        # EXE-GAN's companion file, not an Inpainter
                continue
            out.append((name, path.name))
    return out


def _protocol_pair(model, name: str, faces_: torch.Tensor, bins) -> dict[str, dict[str, float]]:
    """fp32 and bf16 composites of the protocol's masks (evaluate.protocol_masks, exemplar = next face,
    one batch per bin, the same seed) → per bin mean PSNR / SSIM of each and their differences."""
    from faceinpaint.evaluate import default_exemplars, protocol_masks
    from faceinpaint.methods.base import Guide

    size, n = faces_.shape[-1], faces_.shape[0]
    masks = protocol_masks(size, n, seed=0, bins=bins)
    guide = Guide(exemplar=default_exemplars(faces_))
    rows = {}
    for bi, (b, hole) in enumerate(masks.items()):
        outs = {}
        for p in ("fp32", "bf16"):
            precision.apply(model, p, "cpu", method=name)
            with torch.no_grad():
                outs[p] = model.inpaint(faces_, hole, guide, seed=bi).float()
            known = (hole == 0).expand_as(faces_)
            assert torch.equal(outs[p][known], faces_[known]), f"{name} {p}: a known pixel changed ({b})"
        vals = {p: (float(metrics.psnr(faces_, o).mean()), float(metrics.ssim(faces_, o).mean())) for p, o in outs.items()}
        rows[b] = {"psnr_fp32": vals["fp32"][0], "psnr_bf16": vals["bf16"][0],
                   "ssim_fp32": vals["fp32"][1], "ssim_bf16": vals["bf16"][1],
                   "d_psnr": vals["bf16"][0] - vals["fp32"][0], "d_ssim": vals["bf16"][1] - vals["fp32"][1]}
    precision.apply(model, "fp32", "cpu")
    return rows


@pytest.mark.parametrize("name,ckpt", shipped_checkpoints())
def test_bf16_protocol_metrics_within_bound_of_fp32(name, ckpt, data_ready):
    """Issue 19's bound on every shipped checkpoint: per protocol bin, the mean PSNR and SSIM of the
    bf16 composites within PSNR_BOUND dB / SSIM_BOUND of the fp32 ones; known pixels bit-identical.
    A method in precision.AUTO_BF16 must hold it (auto picks bf16 for it); for another one a miss is
    an expected failure (auto keeps it at fp32) and a pass says it could join AUTO_BF16."""
    from faceinpaint.evaluate import BINS, DEFAULT_SIZE, load_test_split

    search = name in ("wgan_completion", "yeh")
    kw = {"iters": SEARCH_ITERS, "progress": False} if search else {}
    try:
        model = methods.get(name, checkpoint=checkpoints_dir() / ckpt, **kw)
    except FaceInpaintError as e:
        pytest.skip(f"{ckpt}: not an inference checkpoint of {name} ({e})")
    images = load_test_split(DEFAULT_SIZE, N_FACES).images
    rows = _protocol_pair(model, name, images, SEARCH_BINS if search else BINS)
    table = "; ".join(f"{b}: PSNR {r['psnr_fp32']:.3f}→{r['psnr_bf16']:.3f} ({r['d_psnr']:+.3f} dB), "
                      f"SSIM {r['ssim_fp32']:.4f}→{r['ssim_bf16']:.4f} ({r['d_ssim']:+.4f})" for b, r in rows.items())
    print(f"{name} {ckpt} fp32→bf16, {N_FACES} faces at {DEFAULT_SIZE} px: {table}")
    worst_psnr = max(abs(r["d_psnr"]) for r in rows.values())
    worst_ssim = max(abs(r["d_ssim"]) for r in rows.values())
    ok = worst_psnr <= precision.PSNR_BOUND and worst_ssim <= precision.SSIM_BOUND
    summary = f"{name} {ckpt}: worst |ΔPSNR| {worst_psnr:.3f} dB, |ΔSSIM| {worst_ssim:.4f} ({table})"
    if name in precision.AUTO_BF16:
        assert ok, summary
    elif not ok:
        pytest.xfail(f"auto stays fp32 for {name}: {summary}")


WGAN_CKPT = checkpoints_dir() / "wgan_completion_cpu.pt"


@pytest.mark.skipif(not WGAN_CKPT.is_file(), reason=f"{WGAN_CKPT}: no shipped wgan_completion prior")
def test_fast_bf16_search_is_not_worse_than_the_reference(data_ready):
    """Issue 19's faster latent search at equal quality, paired on the same faces, masks and starts:
    the new path at its fastest (search="fast", bf16 networks) against the search as it was
    (search="reference", fp32). Tolerance from the noise: the mean paired difference of PSNR, SSIM
    and of the final objective may not be worse than 2 standard errors of that difference (measured
    on 16 faces × 300 iterations: +0.07 ± 0.09 dB, +0.003 ± 0.002 SSIM, at 2.4× less CPU time)."""
    from faceinpaint import masks
    from faceinpaint.evaluate import load_test_split
    from faceinpaint.methods import wgan_completion as W

    images = load_test_split(64, 8).images
    hole = masks.generate("wgan_central", 64, len(images), seed=0)
    runs = {}
    for search, prec in (("reference", "fp32"), ("fast", "bf16")):
        m = W.build(WGAN_CKPT, iters=SEARCH_ITERS, progress=False, search=search)
        precision.apply(m, prec, "cpu")
        out = m.inpaint(images, hole, seed=0)
        runs[search] = {"psnr": metrics.psnr(images, out), "ssim": metrics.ssim(images, out), "loss": -m.last.loss}
    lines = []
    for k in ("psnr", "ssim", "loss"):                 # higher is better for all three (loss negated)
        d = (runs["fast"][k] - runs["reference"][k]).double()
        mean, se = float(d.mean()), float(d.std() / math.sqrt(len(d)))
        lines.append(f"{k}: {float(runs['reference'][k].mean()):.4f} → {float(runs['fast'][k].mean()):.4f} "
                     f"(paired {mean:+.4f} ± {se:.4f})")
        assert mean >= -2 * se - 1e-9, "; ".join(lines)
    print("fast bf16 vs reference fp32, 8 faces, central square, 100 iterations: " + "; ".join(lines))
