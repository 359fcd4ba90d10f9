"""Every learned method's paper preset, a few training steps with mixed precision → ``OUT/gpu_check.json``.

The check to run the day a CUDA GPU is at hand (``make gpu-check``): for each available learned
method, its ``paper`` preset (``--preset``) trains ``--steps`` steps of every stage through the
method's own ``fit()`` and the shared Trainer with ``--precision`` (default ``auto``: bf16 autocast
where the GPU has it, else fp16 with a GradScaler), on the prepared CelebA-999 faces at the
preset's resolution. Per stage it records images/s (from the Trainer's log: the median step after
the first) and the peak GPU memory; a stage that fails records its one-line error and the check
goes on. With two or more GPUs it then runs the same check in two processes through ``torchrun``
(the Trainer's DDP path) and adds those numbers under ``"ddp"``.

On a CPU the same script runs end to end (``tests/test_benchmarks.py`` runs it with
``--tiny``: the ``smoke`` presets, batch 2, 2 steps), so the GPU day only needs the one command.

    python benchmarks/gpu_check.py --out benchmarks/results            # CUDA: paper presets, AMP
    python benchmarks/gpu_check.py --out /tmp/x --tiny --device cpu    # seconds, on any machine
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from faceinpaint import methods, precision
from faceinpaint.io import write_json

# Config fields that count steps of a stage (set to the number of steps to time) and phases inside
# a stage that would change what a step does (set to 0: time the paper's full step).
STEP_FIELDS = ("steps", "lmk_steps", "prior_steps", "encoder_steps")
PHASE_FIELDS = ("warmup_steps", "ramp_steps", "ae_pretrain_steps")
BATCH_FIELDS = ("batch_size", "lmk_batch_size", "prior_batch_size", "encoder_batch_size")


def learned_methods(only: Sequence[str] | None = None) -> list[str]:
    """Available methods that have a training entry point (``yeh`` trains nothing of its own)."""
    names = methods.trainable()
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"--method {unknown[0]}: not a trainable method here (trainable: {', '.join(names)})")
        names = [n for n in names if n in only]
    return names


def preset_for_timing(cfg: Any, steps: int, batch: int | None) -> Any:
    """``cfg`` with every stage ``steps`` long, phases off, a log row per step, no samples or checkpoints."""
    names = {f.name for f in fields(cfg)}
    over: dict[str, Any] = {f: steps for f in STEP_FIELDS if f in names}
    over.update({f: 0 for f in PHASE_FIELDS if f in names})
    if batch:
        over.update({f: int(batch) for f in BATCH_FIELDS if f in names})
    over.update({k: v for k, v in (("log_every", 1), ("sample_every", 0), ("ckpt_every", 0)) if k in names})
    return replace(cfg, **over)


def _stage_logs(out: Path) -> dict[str, list[dict]]:
    """Every stage's ``log.jsonl`` under ``out`` (a one-stage method logs in ``out`` itself: stage ``"all"``)."""
    logs = {}
    for path in sorted(out.rglob("log.jsonl")):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        rows = [r for r in rows if "event" not in r]
        stage = path.parent.relative_to(out).as_posix()
        logs["all" if stage == "." else stage] = rows
    return logs


def _stage_rates(rows: list[dict], batch_of: int | None) -> dict[str, Any]:
    """Seconds per step from the cumulative ``seconds`` of per-step log rows; the first step warms up."""
    secs = [r["seconds"] for r in rows]
    steps = [b - a for a, b in zip([0.0] + secs[:-1], secs)]
    timed = steps[1:] or steps
    med = statistics.median(timed) if timed else float("nan")
    ips = [r.get("images_per_s") for r in rows[1:] or rows if r.get("images_per_s")]
    return {"steps": len(rows), "first_step_s": round(steps[0], 4) if steps else None,
            "seconds_per_step": round(med, 4), "steps_per_s": round(1 / med, 4) if med and med > 0 else None,
            "images_per_s": round(statistics.median(ips), 3) if ips else None}


def _dataset(mod, cfg, data):
    """The method's training set for ``cfg``; when the prepared data lacks attributes the preset
    names (refattr's paper preset: nine CelebA attributes, the offline set has five), the set with
    the attributes of the ``cpu`` preset instead — the same networks but for the attribute width,
    which is what a timing needs — and a note saying so."""
    from faceinpaint.errors import FaceInpaintError

    try:
        return mod.default_dataset(cfg, data), None
    except FaceInpaintError as e:
        if not hasattr(cfg, "attributes"):
            raise
        cpu_attrs = tuple(mod.preset_config("cpu").attributes)
        ds = mod.default_dataset(replace(cfg, attributes=cpu_attrs), data)
        return ds, (f"the preset's attributes are not in the data ({' '.join(str(e).split())[:160]}); "
                    f"timed with the cpu preset's {len(cpu_attrs)}: {', '.join(cpu_attrs)}")


def train_preset(name: str, preset: str, prec: str, *, steps: int, batch: int | None, device: str, seed: int = 0,
                 data: str | None = None) -> dict[str, Any]:
    """``steps`` steps of every stage of ``name``'s ``preset`` through its ``fit()`` at precision ``prec``.

    Returns per-stage rates (:func:`_stage_rates`), the precision that ran, wall time and — on
    CUDA — the peak memory. Errors are caught: ``{"error": "<one line>"}``.
    """
    import importlib

    mod = importlib.import_module(methods.SPECS[name].module)
    cfg = preset_for_timing(mod.preset_config(preset), steps, batch)
    dev = torch.device(device)
    res: dict[str, Any] = {"method": name, "preset": preset, "precision": prec,
                           "autocast": precision.dtype_name(precision.training_dtype(prec, dev)[0]),
                           "grad_scaler": precision.training_dtype(prec, dev)[1]}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix=f"gpu_check_{name}_") as tmp:
        try:
            dataset, note = _dataset(mod, cfg, data)
            if note:
                cfg, res["note"] = replace(cfg, attributes=tuple(dataset.names)), note
            with precision.training(prec):
                mod.fit(cfg, dataset, Path(tmp) / "run", seed=seed, progress=False, device=device)
        except Exception as e:  # noqa: BLE001 — one method failing must not hide the others
            res["error"] = " ".join(f"{type(e).__name__}: {e}".split())[:400]
            res["traceback_tail"] = traceback.format_exc().strip().splitlines()[-3:]
        logs = _stage_logs(Path(tmp) / "run")
    res["stages"] = {st: _stage_rates(rows, batch) for st, rows in logs.items() if rows}
    res["wall_s"] = round(time.perf_counter() - t0, 3)
    res["cpu_s"] = round(time.process_time() - c0, 3)
    if dev.type == "cuda":
        res["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    return res


def machine(device: str) -> dict[str, Any]:
    dev = torch.device(device)
    info = {"device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
            "cpu": _cpu_model(), "cpu_native_bf16": precision.cpu_bf16_supported(),
            "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    if dev.type == "cuda" and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(dev), gpus=torch.cuda.device_count(),
                    cuda_bf16=precision.cuda_bf16_supported(dev), cuda=torch.version.cuda)
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_check(names: Sequence[str], preset: str, prec: str, steps: int, batch: int | None, device: str,
              data: str | None = None) -> list[dict]:
    out = []
    for n in names:
        r = train_preset(n, preset, prec, steps=steps, batch=batch, device=device, data=data)
        print(f"{n} ({preset}, {r['autocast']}): " + (r.get("error") or ", ".join(
            f"{st} {v['images_per_s']} img/s" for st, v in r["stages"].items())), flush=True)
        out.append(r)
    return out


def _torchrun(args, nproc: int, out: Path) -> dict[str, Any]:
    """The same check in ``nproc`` processes (``torchrun``); rank 0's numbers."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(Path(__file__).resolve()), "--out", str(out), "--ddp-worker", "--preset", args.preset,
           "--precision", args.precision, "--steps", str(args.steps), "--device", "cuda"]
    for m in args.method or []:
        cmd += ["--method", m]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    part = out / "gpu_check_ddp_rank0.json"
    if proc.returncode != 0 or not part.is_file():
        return {"error": f"torchrun exited {proc.returncode}", "stderr_tail": proc.stderr.strip().splitlines()[-5:]}
    rows = json.loads(part.read_text())
    part.unlink()
    return {"nproc": nproc, "results": rows}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for gpu_check.json")
    ap.add_argument("--preset", default=None, help="preset to train (default: paper; smoke with --tiny)")
    ap.add_argument("--precision", default="auto", choices=precision.PRECISIONS)
    ap.add_argument("--steps", type=int, default=None, help="steps per stage (default 5; 2 with --tiny)")
    ap.add_argument("--batch", type=int, default=None, help="override every stage's batch (default: the preset's)")
    ap.add_argument("--method", action="append", default=None, help="only these methods (repeatable)")
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cpu")
    ap.add_argument("--tiny", action="store_true", help="smoke presets, batch 2, 2 steps: the CPU test of this script")
    ap.add_argument("--data", default=None, help="training images (default: the prepared CelebA-999 split)")
    ap.add_argument("--no-ddp", action="store_true", help="skip the torchrun run even with several GPUs")
    ap.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.preset = args.preset or ("smoke" if args.tiny else "paper")
    args.steps = args.steps or (2 if args.tiny else 5)
    args.batch = args.batch or (2 if args.tiny else None)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = learned_methods(args.method)

    if args.ddp_worker:  # one rank of _torchrun: the Trainer joins the group from torchrun's variables
        rows = run_check(names, args.preset, args.precision, args.steps, args.batch, "cuda", args.data)
        if int(os.environ.get("RANK", 0)) == 0:
            write_json(out / "gpu_check_ddp_rank0.json", rows)
        return 0

    if device == "cpu" and not args.tiny:
        print("gpu_check: no CUDA device — running the paper presets on the CPU (slow); --tiny checks the script",
              file=sys.stderr)
    t0 = time.perf_counter()
    result: dict[str, Any] = {**machine(device), "preset": args.preset, "precision": args.precision,
                              "steps_per_stage": args.steps, "batch_override": args.batch, "tiny": args.tiny,
                              "methods": names,
                              "note": "images/s: median step after the first of each stage, from the Trainer's log; "
                                      "peak_memory_mib: torch.cuda.max_memory_allocated over the method's run",
                              "results": run_check(names, args.preset, args.precision, args.steps, args.batch, device,
                                                   args.data)}
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    if gpus >= 2 and not args.no_ddp:
        result["ddp"] = _torchrun(args, 2, out)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["ok"] = all("error" not in r for r in result["results"]) and "error" not in result.get("ddp", {})
    path = out / "gpu_check.json"
    write_json(path, result)
    print(path)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
