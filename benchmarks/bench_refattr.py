"""refattr throughput on this machine → ``OUT/bench_refattr.json``.

* inference latency per 256-px face (``RefAttr.inpaint``: G and, from a reference, Ext; the
  composite) with the ``paper`` nets at 256 px and the ``cpu`` nets at 128 px (the 256-px input
  is resized to it and the fill back), for the three attribute sources — a reference
  (``Guide(exemplar=…)``: Ext on the reference, one G pass), given attributes (one G pass) and
  none (the face's own: G, Ext on that first completion, G again) — random weights: the cost does
  not depend on them;
* training images/s of ``--preset`` (default ``cpu``) through the Trainer on the prepared
  CelebA-999 faces, per phase — the AE-only steps (§ 3.1's pre-training) and the full steps
  (two decodes, critic + AE step, G + Ext step with VGG) — ``--train-steps`` steps each, and the
  wall time that predicts for the preset's whole run.

    OMP_NUM_THREADS=1 python benchmarks/bench_refattr.py --out benchmarks/results [--train-steps 10]
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchlib import finish, log_rate, machine, method_parser, sorted_times, timing
from faceinpaint.methods import refattr as R
from faceinpaint.methods.base import Guide

SIDE = 256  # the latency: a 256-px face, whatever size the model works at


def inference_latency(preset: str, reps: int, device: str, seed: int) -> dict:
    torch.manual_seed(seed)
    cfg = R.preset_config(preset)
    model = R.RefAttr(R.build_generator(cfg), R.build_extractor(cfg), size=cfg.image_size,
                      names=list(cfg.attributes), device=device)
    g = torch.Generator().manual_seed(seed)
    image = (torch.rand(1, 3, SIDE, SIDE, generator=g) * 2 - 1).to(device)
    ref = (torch.rand(1, 3, SIDE, SIDE, generator=g) * 2 - 1).to(device)
    hole = torch.zeros(1, 1, SIDE, SIDE, device=device)
    hole[..., SIDE // 2: 7 * SIDE // 8, SIDE // 4: 3 * SIDE // 4] = 1   # the lower face
    given = {cfg.attributes[0]: 1.0, **{a: 0.0 for a in cfg.attributes[1:]}}
    guides = {"reference": Guide(exemplar=ref), "given": Guide(attributes=given), "own": None}
    out = {"preset": preset, "image_size": SIDE, "model_size": cfg.image_size, "reps": reps,
           "params": {"G": sum(p.numel() for p in model.G.parameters()),
                      "Ext": sum(p.numel() for p in model.Ext.parameters())}}
    with torch.no_grad():
        for name, guide in guides.items():
            t = timing(sorted_times(lambda: model.inpaint(image, hole, guide), reps, device))
            out[f"{name}_median_s"], out[f"{name}_min_s"] = t["median_s"], t["min_s"]
    return out


def _timed_steps(cfg: R.RefAttrConfig, steps: int, device: str, seed: int, ae_only: bool) -> dict:
    """``steps`` Trainer steps of one phase: the rate of steps 2..N (step 1 warms up)."""
    cfg = replace(cfg, steps=steps, ae_pretrain_steps=steps if ae_only else 0, log_every=1, sample_every=0,
                  ckpt_every=0)
    ds = R.default_dataset(cfg, None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        R.fit(cfg, ds, tmp, seed=seed, progress=False, device=device)
        wall = time.perf_counter() - t0
        rate = log_rate(Path(tmp) / "log.jsonl", cfg.batch_size)
    return {**rate, "wall_s_including_setup": round(wall, 1)}


def train_rate(preset: str, steps: int, device: str, seed: int) -> dict:
    """The training rate of each phase and the wall time it predicts for the preset's whole run."""
    cfg = R.preset_config(preset)
    phases = {"full": _timed_steps(cfg, steps, device, seed, ae_only=False)}
    ae_steps = min(cfg.ae_pretrain_steps, cfg.steps) if cfg.use_attributes else 0
    if ae_steps:
        phases["ae_pretrain"] = _timed_steps(cfg, max(steps, 20), device, seed, ae_only=True)
    minutes = (ae_steps * phases.get("ae_pretrain", phases["full"])["seconds_per_step"]
               + (cfg.steps - ae_steps) * phases["full"]["seconds_per_step"]) / 60
    return {"preset": preset, "image_size": cfg.image_size, "batch": cfg.batch_size, "steps_timed": steps,
            "phases": phases, "preset_steps": cfg.steps, "preset_ae_pretrain_steps": ae_steps,
            "predicted_full_run_minutes": round(minutes, 1)}


def main() -> None:
    ap = method_parser(__doc__, "bench_refattr", "inference repetitions per preset and attribute source", 10,
                       "training steps timed per phase (0: skip)")
    ap.add_argument("--preset", default="cpu", choices=sorted(R.PRESETS), help="preset whose training is timed")
    args = ap.parse_args()

    result = {
        **machine(args.device),
        "inference": [inference_latency(p, args.reps, args.device, args.seed) for p in ("paper", "cpu")],
    }
    if args.train_steps > 0:
        result["training"] = train_rate(args.preset, args.train_steps, args.device, args.seed)
    finish(result, args.out, "bench_refattr")


if __name__ == "__main__":
    main()
