"""Two gloo processes train like one process on the concatenated batch; a NaN stops every rank."""
from __future__ import annotations

import json
import os
import socket
import time
import traceback

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from faceinpaint import ddp
from faceinpaint.train import NonFiniteLossError, Trainer, TrainerConfig

Z = 4
WORLD = 2


class PairData(torch.utils.data.Dataset):
    """Images with their own latent code: the task needs no random noise, so it is deterministic."""

    def __init__(self, n: int = 10):
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
        self.z = torch.randn(n, Z, generator=g)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "z": self.z[i], "index": i}


class DetGAN:
    """G called in the D step (detached) and again in the G step with D frozen; losses are means."""

    def __init__(self, init_seed: int, nan_rank: int | None = None):
        torch.manual_seed(init_seed)  # replicas start different: the Trainer must broadcast rank 0's
        self.nets = {
            "G": nn.Sequential(nn.Linear(Z, 16), nn.LeakyReLU(0.2), nn.Linear(16, 3 * 8 * 8), nn.Tanh()),
            "D": nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)),
        }
        self.ema = {"G": 0.5}
        self.nan_rank = nan_rank

    def make_optimizers(self):
        return {n: torch.optim.Adam(self.nets[n].parameters(), lr=1e-2, betas=(0.5, 0.9)) for n in ("G", "D")}

    def train_step(self, batch, step, ctx):
        G, D, real = self.nets["G"], self.nets["D"], batch["image"]
        fake = G(batch["z"]).view_as(real)
        loss_d = nn.functional.softplus(D(fake.detach())).mean() + nn.functional.softplus(-D(real)).mean()
        if step == 1 and ctx.env.rank == self.nan_rank:
            loss_d = loss_d * float("inf")
        ctx.optimize("D", loss_d)
        with ctx.frozen("D"):
            loss_g = nn.functional.softplus(-D(G(batch["z"]).view_as(real))).mean()
        ctx.optimize("G", loss_g)
        return {"d": loss_d.item(), "g": loss_g.item()}


def config(out_dir, **kw) -> TrainerConfig:
    base = dict(steps=3, batch_size=4, seed=1, log_every=1, sample_every=0, ckpt_every=0, device="cpu",
                out_dir=str(out_dir), progress=False)
    base.update(kw)
    return TrainerConfig(**base)


def _worker(rank: int, port: int, tmp: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        env, _ = ddp.setup("cpu")  # torchrun's variables → a gloo group, reused by both Trainers
        trainer = Trainer(DetGAN(init_seed=100 + rank), PairData(), config(f"{tmp}/ddp"))
        trainer.fit()
        torch.save({n: m.state_dict() for n, m in trainer.task.nets.items()}, f"{tmp}/rank{rank}.pt")
        try:
            Trainer(DetGAN(init_seed=0, nan_rank=1), PairData(), config(f"{tmp}/nan")).fit()
            outcome = "finished"
        except NonFiniteLossError as e:
            outcome = str(e)
        with open(f"{tmp}/nan{rank}.txt", "w") as f:
            f.write(outcome)
        ddp.cleanup(env)
    except BaseException:
        with open(f"{tmp}/error{rank}.txt", "w") as f:
            f.write(traceback.format_exc())
        raise


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two_ranks(tmp_path, timeout: float = 120.0) -> None:
    ctx = mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                pytest.fail("the two ranks did not finish (a collective is hanging)")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    errors = [p.read_text() for p in tmp_path.glob("error*.txt")]
    assert not errors, errors[0]


def test_two_gloo_ranks(tmp_path):
    """One spawn (the slow part) for both checks; they run in sequence inside each rank."""
    two_rank_run = tmp_path / "ranks"
    two_rank_run.mkdir()
    _run_two_ranks(two_rank_run)
    check_equal_to_one_process_on_the_concatenated_batch(two_rank_run, tmp_path)
    check_nan_on_one_rank_stops_every_rank(two_rank_run)


def check_equal_to_one_process_on_the_concatenated_batch(two_rank_run, tmp_path):
    r0 = torch.load(two_rank_run / "rank0.pt", weights_only=True)
    r1 = torch.load(two_rank_run / "rank1.pt", weights_only=True)
    single = Trainer(DetGAN(init_seed=100), PairData(), config(tmp_path / "single"))  # rank 0's init
    single.fit()
    for name, net in single.task.nets.items():
        for k, v in net.state_dict().items():
            assert torch.equal(r0[name][k], r1[name][k]), f"replicas differ: {name}.{k}"
            assert torch.allclose(r0[name][k], v, atol=1e-6, rtol=1e-5), f"{name}.{k} differs from 1 process"
    assert not torch.equal(r0["G"]["0.weight"], DetGAN(init_seed=100).nets["G"].state_dict()["0.weight"])  # it trained
    # only rank 0 wrote files, and the logged losses are averaged over the two half-batches
    logs = (two_rank_run / "ddp" / "log.jsonl").read_text().splitlines()
    single_logs = (tmp_path / "single" / "log.jsonl").read_text().splitlines()
    assert len(logs) == len(single_logs) == 3
    for a, b in zip(map(json.loads, logs), map(json.loads, single_logs)):
        assert abs(a["d"] - b["d"]) < 1e-5 and abs(a["g"] - b["g"]) < 1e-5
    assert (two_rank_run / "ddp" / "checkpoint.pt").exists()


def check_nan_on_one_rank_stops_every_rank(two_rank_run):
    for rank in range(WORLD):
        msg = (two_rank_run / f"nan{rank}.txt").read_text()
        assert "step 1" in msg and "optimize('D')" in msg and "non-finite" in msg, msg
    assert not (two_rank_run / "nan" / "checkpoint.pt").exists()
