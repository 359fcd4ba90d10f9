"""wgan_completion throughput on this machine → ``OUT/bench_wgan_completion.json``.

* latent search (eq. 5–8): wall time of ``--iters`` Adam iterations (paper: 1000) on a batch of
  ``--batch`` 64×64 images, with the ``--preset`` networks (random weights: the cost does not
  depend on them), plus Poisson blending (eq. 9) of the batch;
* WGAN-GP training: images/s of critic iterations through the Trainer (``--train-steps``).

    python benchmarks/bench_wgan_completion.py --out benchmarks/results [--iters 1000] [--preset cpu]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from faceinpaint.io import write_json
from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.wgan_completion import complete
from faceinpaint.poisson import poisson_blend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for bench_wgan_completion.json")
    ap.add_argument("--preset", default="cpu", choices=sorted(W.PRESETS))
    ap.add_argument("--iters", type=int, default=1000, help="latent-search iterations (paper: 1000)")
    ap.add_argument("--batch", type=int, default=16, help="images inpainted together")
    ap.add_argument("--train-steps", type=int, default=20, help="critic iterations to time (0: skip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    cfg = W.preset_config(args.preset)
    nets = W.build_nets(cfg)
    G, D, P = (nets[k].to(args.device) for k in ("G", "D", "D_patch"))
    g = torch.Generator().manual_seed(args.seed)
    image = (torch.rand(args.batch, 3, 64, 64, generator=g) * 2 - 1).to(args.device)
    hole = torch.zeros(args.batch, 1, 64, 64, device=args.device)
    hole[..., 16:48, 16:48] = 1  # the paper's central square

    lat = replace(cfg.latent, iters=args.iters)
    t0 = time.perf_counter()
    res = complete(G, D, P, image, hole, lat, generator=torch.Generator(args.device).manual_seed(args.seed),
                   progress=True)
    t_search = time.perf_counter() - t0
    t0 = time.perf_counter()
    poisson_blend(res.image, image, hole)
    t_poisson = time.perf_counter() - t0

    result = {
        "preset": args.preset, "device": args.device, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu": platform.processor() or platform.machine(), "load_avg_1min": os.getloadavg()[0],
        "latent_search": {"iters": args.iters, "batch": args.batch, "seconds": round(t_search, 3),
                          "ms_per_iter": round(1000 * t_search / max(args.iters, 1), 3),
                          "seconds_per_1000_iters": round(t_search * 1000 / max(args.iters, 1), 2)},
        "poisson_blend": {"batch": args.batch, "seconds": round(t_poisson, 4)},
    }
    if args.train_steps > 0:
        n = max(cfg.batch_size * 2, 32)
        data = [{"image": x} for x in torch.rand(n, 3, 64, 64, generator=g) * 2 - 1]
        tc = replace(cfg, steps=args.train_steps, log_every=args.train_steps, sample_every=0, ckpt_every=0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            W.fit(tc, data, Path(tmp) / "run", seed=args.seed, progress=True, device=args.device)
            dt = time.perf_counter() - t0
        result["training"] = {"critic_steps": args.train_steps, "batch": cfg.batch_size, "n_critic": cfg.n_critic,
                              "gp_every": cfg.gp_every, "seconds": round(dt, 3),
                              "images_per_s": round(args.train_steps * cfg.batch_size / dt, 2),
                              "note": "critic iterations (one batch each); includes Trainer start-up and the final checkpoint"}
    out = Path(args.out) / "bench_wgan_completion.json"
    write_json(out, result)
    print(out)


if __name__ == "__main__":
    main()
