"""LaFIn throughput on this machine → ``OUT/bench_lafin.json``.

* inference latency per image (predictor + generator + compositing, ``LaFIn.inpaint``) with
  the ``paper`` nets at 256 px (a 256-px image) and the ``cpu`` nets (64 px; the input is
  resized to it and the fill back) on a 256-px image — random weights: the cost does not
  depend on them;
* training images/s of each stage (landmark, inpaint) of ``--preset`` (default ``cpu``)
  through the Trainer on the prepared CelebA-999 faces, ``--train-steps`` steps each (the
  inpainting stage once per phase: warm-up and eq. (7)), and the wall time that predicts for
  the preset's full run.

    OMP_NUM_THREADS=1 python benchmarks/bench_lafin.py --out benchmarks/results [--train-steps 20]
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchlib import finish, log_rate, machine, method_parser, sorted_times, timing
from faceinpaint.methods import lafin as L


def inference_latency(preset: str, reps: int, device: str, seed: int) -> dict:
    torch.manual_seed(seed)
    cfg = L.preset_config(preset)
    model = L.LaFIn(L.build_generator(cfg), L.build_predictor(cfg), size=cfg.image_size, device=device)
    s = 256  # the latency: a 256-px image, whatever size the model works at
    g = torch.Generator().manual_seed(seed)
    image = (torch.rand(1, 3, s, s, generator=g) * 2 - 1).to(device)
    hole = torch.zeros(1, 1, s, s, device=device)
    hole[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
    times = sorted_times(lambda: model.inpaint(image, hole), reps, device)
    return {"preset": preset, "image_size": s, "model_size": cfg.image_size, **timing(times),
            "params": {"G": sum(p.numel() for p in model.G.parameters()),
                       "P": sum(p.numel() for p in model.P.parameters())}}


def _timed_steps(cfg, stage: str, steps: int, device: str, seed: int, **over) -> dict:
    """``steps`` steps of one stage through the Trainer: the rate of steps 2..N (step 1 warms up)."""
    batch = cfg.lmk_batch_size if stage == "landmark" else cfg.batch_size
    cfg = replace(cfg, lmk_steps=steps, steps=steps, log_every=1, sample_every=0, ckpt_every=0, **over)
    ds = L.default_dataset(cfg, None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        L.fit_stage(stage, cfg, ds, tmp, seed=seed, progress=False, device=device)
        wall = time.perf_counter() - t0
        rate = log_rate(Path(tmp) / stage / "log.jsonl", batch)
    return {**rate, "wall_s_including_setup": round(wall, 1)}


def train_rate(preset: str, stage: str, steps: int, device: str, seed: int) -> dict:
    """One stage's training rate and the wall time it predicts for the preset's whole run. The
    inpainting stage is timed per phase: warm-up steps (G on L_pixel + L_tv only) and eq. (7)
    steps (VGG, D) cost different amounts; the prediction weights each by its step count."""
    cfg = L.preset_config(preset)
    if stage == "landmark":
        r = _timed_steps(cfg, stage, steps, device, seed)
        return {"preset": preset, "stage": stage, "steps_timed": steps, "batch": cfg.lmk_batch_size, **r,
                "preset_steps": cfg.lmk_steps, "predicted_full_run_minutes": round(cfg.lmk_steps * r["seconds_per_step"] / 60, 1)}
    warm_steps = min(cfg.warmup_steps, cfg.steps)
    phases = {"eq7": _timed_steps(cfg, stage, steps, device, seed, warmup_steps=0, ramp_steps=0)}
    if warm_steps:
        phases["warmup"] = _timed_steps(cfg, stage, steps, device, seed, warmup_steps=steps)
    minutes = (warm_steps * phases.get("warmup", phases["eq7"])["seconds_per_step"]
               + (cfg.steps - warm_steps) * phases["eq7"]["seconds_per_step"]) / 60
    return {"preset": preset, "stage": stage, "steps_timed": steps, "batch": cfg.batch_size, "phases": phases,
            "preset_steps": cfg.steps, "preset_warmup_steps": warm_steps,
            "predicted_full_run_minutes": round(minutes, 1)}


def main() -> None:
    ap = method_parser(__doc__, "bench_lafin", "inference repetitions per preset", 20,
                       "training steps timed per stage (0: skip)")
    ap.add_argument("--preset", default="cpu", choices=sorted(L.PRESETS), help="preset whose training is timed")
    args = ap.parse_args()

    result = {
        **machine(args.device),
        "inference": [inference_latency(p, args.reps, args.device, args.seed) for p in ("paper", "cpu")],
    }
    if args.train_steps > 0:
        result["training"] = [train_rate(args.preset, st, args.train_steps, args.device, args.seed)
                              for st in L.STAGES]
    finish(result, args.out, "bench_lafin")


if __name__ == "__main__":
    main()
