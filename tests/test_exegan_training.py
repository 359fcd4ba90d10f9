"""EXE-GAN's training (issue 15, items 3–5): the three stages on the shared Trainer at smoke size,
Algorithm 1's exemplar sampling, the masks, lazy Adam, exact resume, and the exported files."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from exegan_helpers import TinyEmbed
from faceinpaint.methods.exegan import training as T
from faceinpaint.methods.exegan.config import encoder_name, inference_name, preset_config
from faceinpaint.train import read_checkpoint


class _TinyPerceptual(nn.Module):
    source = "tiny test distance"

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(4)

    def forward(self, x, y):
        return (self.pool(x) - self.pool(y)).pow(2).flatten(1).mean(1)


def _faces(n=6, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    blob = torch.exp(-(xx ** 2 + yy ** 2) * 3)[None, None]
    img = (0.6 * base + 0.4 * blob + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)
    return [{"image": img[i]} for i in range(n)]


def _cfg(**kw):
    return preset_config("smoke", **kw)


def _fit(stage, out, cfg, data, resume=False, **kw):
    return T.fit_stage(stage, cfg, data, out, resume=resume, seed=0, progress=False, device="cpu",
                       identity=TinyEmbed(), perceptual=_TinyPerceptual(), **kw)


# ============================================================================ pieces
def test_lazy_adam_corrects_lr_and_betas():
    p = [nn.Parameter(torch.zeros(1))]
    opt = T.lazy_adam(p, 0.002, (0.5, 0.99), 16)
    c = 16 / 17
    g = opt.param_groups[0]
    assert math.isclose(g["lr"], 0.002 * c) and math.isclose(g["betas"][0], 0.5 ** c)
    assert math.isclose(g["betas"][1], 0.99 ** c)
    g0 = T.lazy_adam(p, 0.002, (0.5, 0.99), 0).param_groups[0]
    assert g0["lr"] == 0.002 and g0["betas"] == (0.5, 0.99)


def test_exemplar_sampling_follows_algorithm_1():
    torch.manual_seed(0)
    img = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    n_self = 0
    for _ in range(2000):
        ex, is_self = T.exemplar_batch(img, 0.9)
        if is_self:
            n_self += 1
            assert torch.equal(ex, img)
        else:  # another face of the batch for every face, never its own
            assert not (ex[:, 0, 0, 0] == img[:, 0, 0, 0]).any()
            assert sorted(ex[:, 0, 0, 0].tolist()) == [0, 1, 2, 3]
    # P(self) = 1 − τ = 0.1: binomial(2000, 0.1) has sd 13.4
    assert abs(n_self - 200) < 5 * 13.4
    assert T.exemplar_batch(img, 0.0)[1] and not T.exemplar_batch(img, 1.0)[1]
    assert T.exemplar_batch(img[:1], 1.0)[1]             # one face: only itself


def test_training_holes_per_batch_or_per_sample():
    torch.manual_seed(0)
    per_batch = T.training_holes(_cfg(mask_per_sample=False), 3)
    assert per_batch.shape == (3, 1, 64, 64) and torch.equal(per_batch[0], per_batch[1])
    per_sample = T.training_holes(_cfg(mask_per_sample=True), 3)
    assert not torch.equal(per_sample[0], per_sample[1])
    assert set(per_sample.unique().tolist()) <= {0.0, 1.0}
    for h in per_sample:
        assert 0 < float(h.mean()) < 1


# ============================================================================ stages
def test_the_three_stages_run_and_log_their_losses(tmp_path):
    data = _faces()
    cfg = _cfg()
    for stage, keys in [("prior", {"d", "g", "r1", "path"}), ("encoder", {"w", "l2", "total"}),
                        ("inpaint", {"d", "g_adv", "g_id", "g_attr", "g_lpips", "g_total", "r1"})]:
        ck = _fit(stage, tmp_path, cfg, data)
        rows = (tmp_path / stage / "log.jsonl").read_text().splitlines()
        seen = set().union(*[set(__import__("json").loads(r)) for r in rows])
        assert keys <= seen, (stage, keys - seen)
        c = read_checkpoint(ck)
        assert c["step"] == 3 and c["meta"]["stage"] == stage
    inp = read_checkpoint(tmp_path / "inpaint" / "checkpoint.pt")
    assert {"G", "G_ema", "D"} <= set(inp["nets"]) and inp["meta"]["identity"] == "tiny test embedding"
    enc = read_checkpoint(tmp_path / "encoder" / "checkpoint.pt")
    prior = read_checkpoint(tmp_path / "prior" / "checkpoint.pt")
    # E's codes start from G_u's mean w (pSp's start_from_latent_avg)
    assert torch.equal(enc["nets"]["E"]["w_avg"], prior["nets"]["G_ema"]["mapping.w_avg"])


def _net_bytes(ckpt):
    return {n: {k: v.clone() for k, v in sd.items()} for n, sd in read_checkpoint(ckpt)["nets"].items()}


def _same(a, b):
    return a.keys() == b.keys() and all(a[n].keys() == b[n].keys() and all(torch.equal(a[n][k], b[n][k]) for k in a[n])
                                        for n in a)


@pytest.mark.parametrize("stage", ["prior", "inpaint"])
def test_a_resumed_stage_gives_the_same_bytes(tmp_path, stage):
    data = _faces()
    base = _cfg(ckpt_every=2, log_every=1, sample_every=0)
    if stage == "inpaint":
        _fit("prior", tmp_path / "a", base, data)
        _fit("encoder", tmp_path / "a", base, data)
        enc = tmp_path / "a" / "encoder" / "checkpoint.pt"
        kw = {"encoder_ckpt": enc}
        over = {"steps": 4, "tau": 0.5}              # both branches of Algorithm 1 in 4 steps
    else:
        kw, over = {}, {"prior_steps": 4}
    full = _fit(stage, tmp_path / "full", _cfg(**{**base.__dict__, **over}), data, **kw)
    short = {k: (2 if k != "tau" else v) for k, v in over.items()}
    _fit(stage, tmp_path / "resumed", _cfg(**{**base.__dict__, **short}), data, **kw)
    resumed = _fit(stage, tmp_path / "resumed", _cfg(**{**base.__dict__, **over}), data, resume=True, **kw)
    assert read_checkpoint(resumed)["step"] == 4
    assert _same(_net_bytes(full), _net_bytes(resumed))
    a, b = read_checkpoint(full), read_checkpoint(resumed)
    assert torch.equal(a["task"]["mean_path_length"], b["task"]["mean_path_length"])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The three smoke stages and the exported files, once for the tests below."""
    out = tmp_path_factory.mktemp("exegan_fit")
    data = _faces()
    path = T.fit(_cfg(), data, out, seed=0, progress=False, device="cpu", identity=TinyEmbed(),
                 perceptual=_TinyPerceptual())
    return out, path, data


def test_fit_writes_both_files_and_resume_skips_finished_stages(fitted):
    tmp_path, out, data = fitted
    cfg = _cfg()
    assert out == tmp_path / inference_name("smoke")
    g = read_checkpoint(out)
    e = read_checkpoint(tmp_path / encoder_name("smoke"))
    assert set(g["nets"]) == {"G_ema"} and set(e["nets"]) == {"E", "G_u"}
    assert g["meta"]["style_encoder"] == encoder_name("smoke")
    assert set(g["meta"]["stages"]) == {"prior", "encoder", "inpaint"}
    assert "optimizers" not in g and "rng" not in g
    mtimes = {s: (tmp_path / s / "checkpoint.pt").stat().st_mtime_ns for s in ("prior", "encoder", "inpaint")}
    T.fit(cfg, data, tmp_path, resume=True, seed=0, progress=False, device="cpu", identity=TinyEmbed(),
          perceptual=_TinyPerceptual())
    assert mtimes == {s: (tmp_path / s / "checkpoint.pt").stat().st_mtime_ns for s in mtimes}
    from faceinpaint.errors import FaceInpaintError

    with pytest.raises(FaceInpaintError, match="resume"):      # without --resume nothing is overwritten
        T.fit(cfg, data, tmp_path, seed=0, progress=False, device="cpu", identity=TinyEmbed(),
              perceptual=_TinyPerceptual())


def test_an_ablation_reuses_the_full_models_encoder(fitted, tmp_path):
    full_dir, _, data = fitted
    enc_file = full_dir / encoder_name("smoke")
    cfg = preset_config("smoke_stdattr", encoder_from=str(enc_file))
    assert cfg.svgl_attr is False and cfg.use_attr
    out = T.fit(cfg, data, tmp_path / "abl", seed=0, progress=False, device="cpu", identity=TinyEmbed(),
                perceptual=_TinyPerceptual())
    assert out.name == "exegan_stdattr_smoke.pt" and not (tmp_path / "abl" / "prior").exists()
    a = read_checkpoint(enc_file)["nets"]["E"]
    b = read_checkpoint(tmp_path / "abl" / encoder_name("smoke"))["nets"]["E"]
    assert all(torch.equal(a[k], b[k]) for k in a)
