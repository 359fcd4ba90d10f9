"""EXE-GAN throughput on this machine → ``OUT/bench_exegan.json``.

* inference latency per 256-px face (``ExeGAN.inpaint``: the composite) with the ``paper`` nets
  (256 px, random weights: the cost does not depend on them) and the ``cpu`` nets (64 px: the
  256-px input is resized to it and the fill back) — the shipped ``checkpoints/exegan_cpu.pt``
  (+ its style-encoder file) when present, else random weights; the JSON says which. Three calls:
  with an exemplar (E on the exemplar, one G pass), without (the stochastic code alone: G only)
  and style mixing of two exemplars (E twice, one G pass);
* training images/s of each of the three stages (``prior``: G_u, ``encoder``: E, ``inpaint``:
  EXE-GAN) through the shared Trainer on the prepared CelebA-999 faces, ``--train-steps`` steps
  each, at the ``cpu`` and ``smoke`` presets, and the wall time that predicts for the preset's
  whole run. The rate is over steps 2..N (step 1 warms up); lazy R1 (every 16 D steps) and path
  length (every 4) are included in proportion only when N reaches them, and eq. (6)'s VGG19 term
  runs only on the steps whose exemplar is the face itself (probability 1 − τ): the JSON counts them.
* the ``paper`` preset's training only with ``--paper-train-steps N`` (default 0) and enough free
  memory (``--paper-min-free-gb``); otherwise the JSON records why it was skipped, with the
  measured inference time and the networks' sizes behind the reason.

    OMP_NUM_THREADS=1 python benchmarks/bench_exegan.py --out benchmarks/results [--train-steps 17]
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchlib import method_parser
from faceinpaint.io import write_json
from faceinpaint.methods import exegan as X
from faceinpaint.methods.base import Guide
from faceinpaint.paths import repo_relative

SIDE = 256  # the latency: a 256-px face, whatever size the model works at


def _median_time(fn, reps: int, device: str) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def load_model(preset: str, device: str, seed: int) -> tuple[X.ExeGAN, str]:
    """The ``cpu`` preset's shipped files when both exist, else random weights (``paper``: always)."""
    cfg = X.preset_config(preset)
    if preset == "cpu":
        path = X.default_checkpoint()
        enc = path.parent / X.encoder_name("cpu")
        if path.is_file() and enc.is_file():
            return X.build(path, device), f"shipped {repo_relative(path)} + {repo_relative(enc)}"
        why = ", ".join(repo_relative(p) for p in (path, enc) if not p.is_file())
        weights = f"random init ({why} absent)"
    else:
        weights = "random init"
    torch.manual_seed(seed)
    model = X.ExeGAN(X.build_generator(cfg), X.build_style_encoder(cfg), size=cfg.image_size, device=device,
                     first_exemplar_layer=cfg.phi_first_exemplar_layer)
    return model, weights


def inference_latency(preset: str, reps: int, device: str, seed: int) -> dict:
    model, weights = load_model(preset, device, seed)
    g = torch.Generator().manual_seed(seed)
    image = (torch.rand(1, 3, SIDE, SIDE, generator=g) * 2 - 1).to(device)
    ex_a = (torch.rand(1, 3, SIDE, SIDE, generator=g) * 2 - 1).to(device)
    ex_b = (torch.rand(1, 3, SIDE, SIDE, generator=g) * 2 - 1).to(device)
    hole = torch.zeros(1, 1, SIDE, SIDE, device=device)
    hole[..., SIDE // 4: 3 * SIDE // 4, SIDE // 4: 3 * SIDE // 4] = 1   # the protocol's centre square
    calls = {"exemplar": lambda: model.inpaint(image, hole, Guide(exemplar=ex_a), seed=0),
             "no_exemplar": lambda: model.inpaint(image, hole, seed=0),
             "style_mixing": lambda: model.inpaint(image, hole, Guide(exemplar=ex_a), mix_with=ex_b,
                                                   crossover=model.n_styles - 2, seed=0)}
    out = {"preset": preset, "weights": weights, "image_size": SIDE, "model_size": model.size, "reps": reps,
           "params": {"G": _n_params(model.G), "f": _n_params(model.G.mapping), "E": _n_params(model.E)}}
    for name, fn in calls.items():
        t = _median_time(fn, reps, device)
        out[f"{name}_median_s"] = round(t[len(t) // 2], 4)
        out[f"{name}_min_s"] = round(t[0], 4)
    return out


def _stage_cfg(cfg: X.ExeGANConfig, stage: str, steps: int) -> X.ExeGANConfig:
    key = {"prior": "prior_steps", "encoder": "encoder_steps", "inpaint": "steps"}[stage]
    return replace(cfg, **{key: steps}, log_every=1, sample_every=0, ckpt_every=0)


def _rate(rows: list[dict], batch: int) -> dict:
    rows = [r for r in rows if "seconds" in r]
    if len(rows) < 2:
        return {"images_per_s": None, "seconds_per_step": None, "note": "fewer than 2 logged steps"}
    secs = rows[-1]["seconds"] - rows[0]["seconds"]
    n = len(rows) - 1
    return {"images_per_s": round(n * batch / max(secs, 1e-9), 2), "seconds_per_step": round(secs / n, 3),
            "steps_timed": n}


def train_rate(preset: str, steps: int, device: str, seed: int) -> dict:
    """``steps`` Trainer steps of each stage in order (each stage on the previous one's
    checkpoint), the rate of steps 2..N, and the wall time predicted for the preset's run."""
    from faceinpaint.train import RunLog

    cfg = X.preset_config(preset)
    ds = X.default_dataset(cfg, None)
    batches = {"prior": cfg.prior_batch_size, "encoder": cfg.encoder_batch_size, "inpaint": cfg.batch_size}
    preset_steps = {"prior": cfg.prior_steps, "encoder": cfg.encoder_steps, "inpaint": cfg.steps}
    stages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt: dict[str, Path] = {}
        for stage in X.STAGES:
            c = _stage_cfg(cfg, stage, steps)
            t0 = time.perf_counter()
            ckpt[stage] = X.fit_stage(stage, c, ds, tmp, seed=seed, progress=False, device=device,
                                      prior_ckpt=ckpt.get("prior"), encoder_ckpt=ckpt.get("encoder"))
            wall = time.perf_counter() - t0
            rows = RunLog(Path(tmp) / stage).rows()
            r = _rate(rows, batches[stage])
            r.update(batch=batches[stage], wall_s_including_setup=round(wall, 1))
            if stage == "inpaint":
                r["self_exemplar_steps"] = int(sum(q.get("self_exemplar", 0) for q in rows))
            r["r1_steps"] = sum(1 for q in rows if "r1" in q)
            r["path_length_steps"] = sum(1 for q in rows if "path" in q)
            stages[stage] = r
    minutes = sum(preset_steps[s] * (stages[s]["seconds_per_step"] or 0) for s in X.STAGES) / 60
    return {"preset": preset, "image_size": cfg.image_size, "steps_per_stage_timed": steps, "stages": stages,
            "preset_steps": preset_steps, "predicted_full_run_minutes": round(minutes, 1)}


def _mem_available_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return None


def paper_training(steps: int, min_free_gb: float, device: str, seed: int, inference: dict | None) -> dict:
    """The paper preset's training rate, or why it was not measured."""
    cfg = X.preset_config("paper")
    with torch.device("meta"):
        sizes = {"G": _n_params(X.build_generator(cfg)), "D": _n_params(X.build_discriminator(cfg)),
                 "E": _n_params(X.build_style_encoder(cfg)), "G_u": _n_params(X.build_unconditional_generator(cfg))}
    # weights alone: trained nets hold param + grad + Adam's two moments (16 B/param), frozen ones 4 B/param
    weights_gb = {"prior": 16 * (sizes["G_u"] + sizes["D"]) / 1e9,
                  "encoder": (16 * sizes["E"] + 4 * sizes["G_u"]) / 1e9,
                  "inpaint": (16 * (sizes["G"] + sizes["D"]) + 4 * sizes["E"]) / 1e9}
    info = {"params": sizes, "weights_and_adam_gb_per_stage": {k: round(v, 2) for k, v in weights_gb.items()},
            "batch": {"prior": cfg.prior_batch_size, "encoder": cfg.encoder_batch_size, "inpaint": cfg.batch_size},
            "image_size": cfg.image_size}
    free = _mem_available_gb()
    info["mem_available_gb"] = None if free is None else round(free, 1)
    reason = None
    if steps <= 0:
        reason = "not requested (--paper-train-steps 0, the default)"
    elif device == "cpu" and free is not None and free < min_free_gb:
        reason = f"MemAvailable {free:.1f} GB < --paper-min-free-gb {min_free_gb:g}"
    if reason is not None:
        if inference is not None:
            fwd = inference["exemplar_median_s"]
            info["inference_exemplar_s_per_face"] = fwd
            info["why"] = (f"one forward pass of the paper's G + E on one 256-px face takes {fwd:.1f} s here; an "
                           f"inpaint step runs batch {cfg.batch_size} through G forward and backward, D twice, E "
                           f"forward and backward (eq. 7), the identity net and VGG19 — at least "
                           f"{cfg.batch_size} × 3 × {fwd:.1f} s ≈ {cfg.batch_size * 3 * fwd / 60:.0f} min per step, "
                           "so a couple of steps of each stage do not fit a benchmark run on a shared CPU core")
        return {"skipped": reason, **info}
    try:
        info.update(train_rate("paper", steps, device, seed))
    except (MemoryError, RuntimeError) as err:   # an allocation failure ends the attempt, reported
        info["skipped"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return info


def main() -> None:
    ap = method_parser(__doc__, "bench_exegan", "inference repetitions per preset and call", 17,
                       "steps timed per stage at cpu and smoke (0: skip)")
    ap.add_argument("--train-presets", default="cpu,smoke", help="comma-separated presets whose training is timed")
    ap.add_argument("--paper-train-steps", type=int, default=0, help="steps per stage of the paper preset (0: skip)")
    ap.add_argument("--paper-min-free-gb", type=float, default=48.0,
                    help="free memory needed to attempt the paper preset's training on a CPU")
    args = ap.parse_args()

    result = {
        "device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpu": platform.processor() or platform.machine(),
        "load_avg_1min": os.getloadavg()[0],
        "inference": [inference_latency(p, args.reps, args.device, args.seed) for p in ("paper", "cpu")],
    }
    if args.train_steps > 0:
        result["training"] = {p: train_rate(p, args.train_steps, args.device, args.seed)
                              for p in args.train_presets.split(",") if p}
    result["training_paper"] = paper_training(args.paper_train_steps, args.paper_min_free_gb, args.device, args.seed,
                                              result["inference"][0])
    result["load_avg_1min_end"] = os.getloadavg()[0]
    out = Path(args.out) / "bench_exegan.json"
    write_json(out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
