"""The Trainer: exact resume, non-finite stop, EMA math, atomic checkpoints, data order, logs."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from PIL import Image
from torch import nn

from faceinpaint.errors import FaceInpaintError
from faceinpaint.train import (
    CheckpointError,
    GlobalBatchSampler,
    NonFiniteLossError,
    Trainer,
    TrainerConfig,
    ema_update,
    load_net,
    read_checkpoint,
)

Z = 4


class ToyData(torch.utils.data.Dataset):
    """8×8 random faces-to-be, seeded; each item knows its index (to check the data order)."""

    def __init__(self, n: int = 10, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "index": i}


class ToyGAN:
    """A 2-layer G and D; noise from the global RNG, an occasional extra term, EMA of G."""

    method = "toy"

    def __init__(self, *, nan_at: int | None = None, ema: float = 0.9, init_seed: int = 0):
        torch.manual_seed(init_seed)
        self.nets = {
            "G": nn.Sequential(nn.Linear(Z, 16), nn.LeakyReLU(0.2), nn.Linear(16, 3 * 8 * 8), nn.Tanh()),
            "D": nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)),
        }
        self.ema = {"G": ema} if ema else {}
        self.nan_at = nan_at
        self.seen: list[list[int]] = []
        self.snapshots: dict[int, dict] = {}

    def make_optimizers(self):
        return {n: torch.optim.Adam(self.nets[n].parameters(), lr=1e-2, betas=(0.5, 0.9)) for n in ("G", "D")}

    def train_step(self, batch, step, ctx):
        self.seen.append(batch["index"].tolist())
        self.snapshots[step] = {n: copy.deepcopy(m.state_dict()) for n, m in self.nets.items()}
        G, D, real = self.nets["G"], self.nets["D"], batch["image"]
        z = torch.randn(len(real), Z, device=ctx.device)
        fake = G(z).view_as(real)
        loss_d = nn.functional.softplus(D(fake.detach())).mean() + nn.functional.softplus(-D(real)).mean()
        out = {"d": loss_d.item()}
        if step % 4 == 2:  # a lazy term, logged on some steps only (its CSV column appears later)
            reg = D(real).square().mean()
            loss_d = loss_d + reg
            out["reg"] = reg.item()
        ctx.optimize("D", loss_d)
        with ctx.frozen("D"):
            loss_g = nn.functional.softplus(-D(G(z).view_as(real))).mean()
        if self.nan_at == step:
            loss_g = loss_g * float("nan")
        ctx.optimize("G", loss_g)
        out["g"] = loss_g.item()
        return out

    def sample(self, n, generator):
        z = torch.randn(n, Z, generator=generator)
        return self.nets["G_ema"](z).view(n, 3, 8, 8)


def cfg(tmp_path, name="run", **kw) -> TrainerConfig:
    base = dict(steps=4, batch_size=4, seed=3, log_every=2, sample_every=0, ckpt_every=0, device="cpu",
                out_dir=str(tmp_path / name), progress=False)
    base.update(kw)
    return TrainerConfig(**base)


def assert_same_state(a: Trainer, b: Trainer) -> None:
    assert a.task.nets.keys() == b.task.nets.keys()
    for name in a.task.nets:
        sa, sb = a.task.nets[name].state_dict(), b.task.nets[name].state_dict()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k} differs"
    for name in a.optimizers:
        oa, ob = a.optimizers[name].state_dict(), b.optimizers[name].state_dict()
        assert oa["param_groups"] == ob["param_groups"]
        for pid in oa["state"]:
            for k, v in oa["state"][pid].items():
                assert torch.equal(v, ob["state"][pid][k]), f"optimizer {name} state {pid}.{k} differs"


def test_resume_is_exact(tmp_path):
    data = ToyData()
    full = Trainer(ToyGAN(), data, cfg(tmp_path, "full"))
    full.fit()

    first = Trainer(ToyGAN(), data, cfg(tmp_path, "split", steps=2))
    first.fit()
    # new objects, as in a new process: another init seed, the RNG moved on
    torch.manual_seed(12345)
    second = Trainer(ToyGAN(init_seed=2), ToyData(), cfg(tmp_path, "split", steps=4))
    res = second.fit(resume=True)

    assert res.step == 4 and second.step == 4
    assert first.task.seen + second.task.seen == full.task.seen  # the data order
    assert_same_state(full, second)  # G, D, G_ema, both Adams
    a = read_checkpoint(full.ckpt_path)
    b = read_checkpoint(second.ckpt_path)
    assert a["step"] == b["step"] == 4
    for n in a["nets"]:
        for k in a["nets"][n]:
            assert torch.equal(a["nets"][n][k], b["nets"][n][k])
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    # the log of the resumed run continues the first one: steps 2 and 4, no duplicates
    assert [r["step"] for r in map(json.loads, (tmp_path / "split" / "log.jsonl").read_text().splitlines())] == [2, 4]


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path):
    Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=6, log_every=1, ckpt_every=2)).fit()
    ckpt = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    state["step"] = 4  # as if the process died after logging steps 5 and 6 but before their checkpoint
    torch.save(state, ckpt)
    Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=6, log_every=1)).fit(resume=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    task = ToyGAN(nan_at=3)
    trainer = Trainer(task, ToyData(), cfg(tmp_path, steps=6, ckpt_every=2))
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit()
    msg = str(info.value)
    assert "\n" not in msg
    assert "step 3" in msg and "optimize('G')" in msg and "nan" in msg
    assert str(trainer.ckpt_path) in msg and "kept" in msg
    ckpt = read_checkpoint(trainer.ckpt_path)
    assert ckpt["step"] == 2
    # D did step at step 3 before G's loss went NaN: the checkpoint still holds the state after step 2
    after_step2 = task.snapshots[2]
    for n in ("G", "D"):
        for k, v in after_step2[n].items():
            assert torch.equal(ckpt["nets"][n][k], v)
    assert not torch.equal(task.nets["D"].state_dict()["1.weight"], after_step2["D"]["1.weight"])
    # and G never took the NaN step
    for k, v in task.nets["G"].state_dict().items():
        assert torch.isfinite(v).all()
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "non_finite_loss"


def test_nan_before_any_checkpoint_says_so(tmp_path):
    trainer = Trainer(ToyGAN(nan_at=0), ToyData(), cfg(tmp_path, ckpt_every=2))
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written yet"):
        trainer.fit()
    assert not trainer.ckpt_path.exists()


def test_ema_update_equation():
    """θ_ema ← β θ_ema + (1 − β) θ, by hand; buffers are copied."""
    ema, net = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        ema.weight.copy_(torch.tensor([1.0, 2.0]))
        net.weight.copy_(torch.tensor([3.0, -2.0]))
        net.running_mean.copy_(torch.tensor([5.0, 6.0]))
    ema_update(ema, net, 0.75)
    assert torch.allclose(ema.weight, torch.tensor([0.75 * 1 + 0.25 * 3, 0.75 * 2 + 0.25 * -2]))
    assert torch.equal(ema.running_mean, torch.tensor([5.0, 6.0]))


def test_trainer_ema_after_one_step(tmp_path):
    task = ToyGAN(ema=0.6)
    trainer = Trainer(task, ToyData(), cfg(tmp_path, steps=1))
    g0 = copy.deepcopy(task.nets["G"].state_dict())
    trainer.fit()
    g1, e1 = task.nets["G"].state_dict(), task.nets["G_ema"].state_dict()
    for k in g0:
        assert not torch.equal(g0[k], g1[k])
        assert torch.allclose(e1[k], 0.6 * g0[k] + 0.4 * g1[k], atol=1e-7)
    assert not task.nets["G_ema"].training and not any(p.requires_grad for p in task.nets["G_ema"].parameters())


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2))
    trainer.fit()
    before = trainer.ckpt_path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    assert trainer.ckpt_path.read_bytes() == before
    assert sorted(p.name for p in trainer.ckpt_path.parent.iterdir()) == ["checkpoint.pt", "log.csv", "log.jsonl"]


def test_checkpoint_contents_and_meta(tmp_path):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2), meta={"preset": "smoke"})
    trainer.fit()
    ckpt = read_checkpoint(trainer.ckpt_path)
    assert set(ckpt["nets"]) == {"G", "D", "G_ema"}
    assert set(ckpt["optimizers"]) == {"G", "D"}
    assert ckpt["sampler"]["position"] == 2 * 4
    assert ckpt["config"]["seed"] == 3
    assert {"python", "numpy", "torch"} <= set(ckpt["rng"][0])
    meta = ckpt["meta"]
    assert meta["method"] == "toy" and meta["preset"] == "smoke" and meta["seed"] == 3
    assert meta["time"] and meta["command"] is not None and "git_commit" in meta
    # inference side: the EMA generator is preferred
    g = ToyGAN().nets["G"]
    assert load_net(trainer.ckpt_path, "G", g) == "G_ema"
    for k, v in g.state_dict().items():
        assert torch.equal(v, trainer.task.nets["G_ema"].state_dict()[k])
    assert load_net(trainer.ckpt_path, "G", g, prefer_ema=False) == "G"


def test_checkpoint_errors_are_one_line(tmp_path):
    Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=1)).fit()
    with pytest.raises(FaceInpaintError, match="already there"):
        Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2)).fit()
    with pytest.raises(CheckpointError, match="seed=3") as info:
        Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2, seed=4)).fit(resume=True)
    assert "\n" not in str(info.value)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt: not a readable checkpoint"):
        read_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
    wide = nn.Sequential(nn.Linear(Z, 32), nn.LeakyReLU(0.2), nn.Linear(32, 3 * 8 * 8), nn.Tanh())
    with pytest.raises(CheckpointError, match="does not match") as info:
        load_net(tmp_path / "run" / "checkpoint.pt", "G", wide)
    assert "\n" not in str(info.value)


def test_resume_when_done_or_missing(tmp_path):
    res = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2)).fit(resume=True)  # nothing to resume: fresh
    assert res.step == 2
    again = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=2))
    res = again.fit(resume=True)  # already done: loads, trains nothing
    assert res.step == 2 and again.task.seen == []


def test_sampler_epochs_ranks_and_position():
    n, b = 10, 4
    s = GlobalBatchSampler(n, b, seed=5)
    it = iter(s)
    stream = [i for _ in range(5) for i in next(it)]  # 20 samples = 2 epochs, batches span epochs
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    assert stream[:10] != stream[10:]  # reshuffled each epoch
    again = iter(GlobalBatchSampler(n, b, seed=5))
    assert [i for _ in range(5) for i in next(again)] == stream  # same seed, same order
    other = iter(GlobalBatchSampler(n, b, seed=6))
    assert [i for _ in range(5) for i in next(other)] != stream
    resumed = iter(GlobalBatchSampler(n, b, seed=5, position=3 * b))
    assert next(resumed) == stream[12:16]
    ranks = [iter(GlobalBatchSampler(n, b, seed=5, rank=r, world_size=2)) for r in range(2)]
    for step in range(5):
        assert next(ranks[0]) + next(ranks[1]) == stream[4 * step : 4 * step + 4]
    with pytest.raises(ValueError, match="not divisible"):
        GlobalBatchSampler(n, 3, seed=0, world_size=2)


def test_logs_and_sample_grid(tmp_path):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=5, log_every=2, sample_every=2, sample_n=4))
    res = trainer.fit()
    out = tmp_path / "run"
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 5]
    assert all(r["images_per_s"] > 0 and r["seconds"] >= 0 for r in rows)
    assert "reg" not in rows[0] and "reg" in rows[1] and "reg" not in rows[2]
    assert math.isclose(res.losses["d"], rows[-1]["d"], rel_tol=1e-4)
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["step", "seconds", "images_per_s"] and {"d", "g", "reg"} <= set(header)
    assert len((out / "log.csv").read_text().splitlines()) == 4
    grids = sorted(p.name for p in (out / "samples").iterdir())
    assert grids == ["step_0000002.png", "step_0000004.png"]
    assert Image.open(out / "samples" / grids[0]).size == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2)  # 2×2 grid, 2 px padding


def test_sampling_does_not_change_training(tmp_path):
    a = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "a", sample_every=1))
    b = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "b", sample_every=0))
    a.fit(), b.fit()
    assert_same_state(a, b)


def test_frozen_and_unknown_optimizer(tmp_path):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=1))
    D = trainer.task.nets["D"]
    with trainer.ctx.frozen("D"):
        assert not any(p.requires_grad for p in D.parameters())
        loss = D(torch.randn(2, 3, 8, 8, requires_grad=True)).mean()
        loss.backward()
        assert all(p.grad is None for p in D.parameters())
    assert all(p.requires_grad for p in D.parameters())
    with pytest.raises(KeyError, match="no such optimizer"):
        trainer.ctx.optimize("E", torch.tensor(1.0, requires_grad=True))
    assert [trainer.ctx.every(3) for trainer.ctx.step in range(7)] == [True, False, False, True, False, False, True]


def test_clip_grad_norm(tmp_path):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, steps=1))
    D = trainer.task.nets["D"]
    loss = 1e3 * D(torch.randn(4, 3, 8, 8)).square().mean()
    params = trainer.opt_params["D"]
    trainer.optimizers["D"].step = lambda *a, **k: None  # inspect the gradient the step would use
    trainer.ctx.optimize("D", loss, clip_grad_norm=0.5)
    norm = torch.sqrt(sum(p.grad.square().sum() for p in params))
    assert abs(norm.item() - 0.5) < 1e-4


def test_amp_is_off_on_cpu(tmp_path):
    trainer = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, amp=True))
    assert trainer.amp is False and trainer.scalers == {}
    with trainer.ctx.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_grad_scaler_path_gives_the_plain_update(tmp_path):
    """The scaled backward → unscale → step path (used with fp16 on CUDA), run here with CPU scalers:
    a power-of-two scale is exact, so the updates equal the unscaled ones."""
    plain = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "plain", steps=2))
    scaled = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "scaled", steps=2))
    scaled.scalers = {n: torch.amp.GradScaler("cpu", init_scale=2.0**8) for n in scaled.optimizers}
    plain.fit(), scaled.fit()
    for name in ("G", "D"):
        for k, v in plain.task.nets[name].state_dict().items():
            assert torch.allclose(v, scaled.task.nets[name].state_dict()[k], atol=1e-7, rtol=1e-6)
    assert scaled.scalers["D"].get_scale() == 2.0**8
    assert set(read_checkpoint(scaled.ckpt_path)["scalers"]) == {"G", "D"}


def test_worker_processes_keep_the_data_order(tmp_path):
    inline = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "w0", steps=3))
    workers = Trainer(ToyGAN(), ToyData(), cfg(tmp_path, "w1", steps=3, num_workers=1))
    inline.fit(), workers.fit()
    assert inline.task.seen == workers.task.seen
    assert_same_state(inline, workers)
