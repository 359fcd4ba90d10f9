"""Trainer overhead vs a bare PyTorch loop: same GAN, same data, same number of steps.

The Trainer runs as in normal use (log every 50 steps, a checkpoint every 250 steps and
at the end, progress bar off so that terminal speed does not count); the bare loop is
what one would write by hand: a shuffling DataLoader, the D step, the G step. Runs are
alternated and repeated. On a shared machine wall time is noisy (other processes take the
cores), so the overhead is reported from the best (minimum) wall time of each, from the
medians, and — on CPU — from process CPU time, which contention hardly changes (target
≤ 5 %). Writes ``trainer_overhead.json`` to ``--out DIR``.

    python benchmarks/bench_trainer.py --out benchmarks/results [--steps 300] [--device auto]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from faceinpaint.io import write_json
from faceinpaint.train import Trainer, TrainerConfig

Z, SIZE = 64, 32


def make_nets(seed: int = 0) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    G = nn.Sequential(
        nn.Linear(Z, 128 * 4 * 4), nn.Unflatten(1, (128, 4, 4)), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(32, 3, 3, padding=1), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 4 * 4, 1),
    )
    return {"G": G, "D": D}


def make_optimizers(nets):
    return {n: torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.99)) for n, m in nets.items()}


def d_loss(G, D, real):
    z = torch.randn(len(real), Z, device=real.device)
    return F.softplus(D(G(z).detach())).mean() + F.softplus(-D(real)).mean(), z


def g_loss(G, D, z):
    return F.softplus(-D(G(z))).mean()


class Data(torch.utils.data.Dataset):
    def __init__(self, n: int = 512):
        self.x = torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"image": self.x[i]}


class BenchTask:
    method = "bench"

    def __init__(self):
        self.nets = make_nets()

    def make_optimizers(self):
        return make_optimizers(self.nets)

    def train_step(self, batch, step, ctx):
        G, D = self.nets["G"], self.nets["D"]
        with ctx.autocast():
            ld, z = d_loss(G, D, batch["image"])
        ctx.optimize("D", ld)
        with ctx.frozen("D"), ctx.autocast():
            lg = g_loss(G, D, z)
        ctx.optimize("G", lg)
        return {"d": ld.item(), "g": lg.item()}


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn(*args)``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def bare_loop(data, steps: int, batch: int, device: torch.device) -> None:
    torch.manual_seed(0)
    nets = {n: m.to(device) for n, m in make_nets().items()}
    opts = make_optimizers(nets)
    G, D = nets["G"], nets["D"]
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    step = 0
    while step < steps:
        for b in loader:
            real = b["image"].to(device)
            ld, z = d_loss(G, D, real)
            opts["D"].zero_grad(set_to_none=True)
            ld.backward()
            opts["D"].step()
            for p in D.parameters():
                p.requires_grad_(False)
            lg = g_loss(G, D, z)
            for p in D.parameters():
                p.requires_grad_(True)
            opts["G"].zero_grad(set_to_none=True)
            lg.backward()
            opts["G"].step()
            ld.item(), lg.item()  # a hand loop also reads its losses
            step += 1
            if step == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()


def trainer_loop(data, steps: int, batch: int, device: str, out: Path) -> None:
    cfg = TrainerConfig(steps=steps, batch_size=batch, seed=0, log_every=50, sample_every=0, ckpt_every=250,
                        device=device, out_dir=str(out), progress=False)
    Trainer(BenchTask(), data, cfg).fit()
    if torch.cuda.is_available() and device != "cpu":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    data = Data()
    bare, trainer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        bare_loop(data, 5, args.batch, device)  # warm-up: allocator, kernels, lazy imports
        trainer_loop(data, 5, args.batch, str(device), Path(tmp) / "warmup")
        for r in range(args.repeats):
            bare.append(timed(bare_loop, data, args.steps, args.batch, device))
            trainer.append(timed(trainer_loop, data, args.steps, args.batch, str(device), Path(tmp) / f"run{r}"))
    bw, tw = [w for w, _ in bare], [w for w, _ in trainer]
    bc, tc = [c for _, c in bare], [c for _, c in trainer]
    b, t = min(bw), min(tw)
    result = {
        "benchmark": "trainer_overhead",
        "steps": args.steps, "batch": args.batch, "resolution": SIZE, "repeats": args.repeats,
        "device": str(device), "threads": torch.get_num_threads(), "torch": str(torch.__version__),
        "machine": platform.processor() or platform.machine(),
        "bare_wall_s": bw, "trainer_wall_s": tw, "bare_cpu_s": bc, "trainer_cpu_s": tc,
        "bare_images_per_s": args.steps * args.batch / b, "trainer_images_per_s": args.steps * args.batch / t,
        "overhead_pct": 100.0 * (t / b - 1.0),  # best wall times
        "overhead_median_wall_pct": 100.0 * (statistics.median(tw) / statistics.median(bw) - 1.0),
        "overhead_cpu_pct": 100.0 * (min(tc) / min(bc) - 1.0),
        "target_pct": 5.0,
        "trainer_settings": {"log_every": 50, "ckpt_every": 250, "sample_every": 0, "progress": False},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "trainer_overhead.json", result)
    print(f"bare {b:.2f} s, trainer {t:.2f} s → overhead {result['overhead_pct']:+.1f} % best wall, "
          f"{result['overhead_median_wall_pct']:+.1f} % median wall, {result['overhead_cpu_pct']:+.1f} % CPU (target ≤ 5 %)")


if __name__ == "__main__":
    main()
