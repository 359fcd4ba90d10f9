"""What every benchmark here shares: timing a call, the training rate read off a Trainer log,
the machine's description, and writing the JSON (``OUT/<name>.json``).

The scripts run as ``python benchmarks/bench_<x>.py``, so this folder is on ``sys.path``."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from faceinpaint.io import write_json


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def sorted_times(fn: Callable[[], object], reps: int, device: str = "cpu", warmup: int = 1) -> list[float]:
    """Seconds of ``reps`` calls of ``fn`` after ``warmup`` untimed ones, sorted (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)


def timing(times: list[float]) -> dict:
    """``median_s`` and ``min_s`` of sorted times."""
    return {"reps": len(times), "median_s": round(times[len(times) // 2], 4), "min_s": round(times[0], 4)}


def log_rate(log_file: str | Path, batch: int) -> dict:
    """Training rate from a Trainer's ``log.jsonl`` (one row per step, ``log_every=1``): steps 2..N,
    step 1 being the warm-up."""
    rows = [json.loads(x) for x in Path(log_file).read_text().splitlines() if x.strip()]
    rows = [r for r in rows if "seconds" in r]          # step rows only (not the Trainer's notes)
    secs = rows[-1]["seconds"] - rows[0]["seconds"]
    steps = max(len(rows) - 1, 1)
    return {"images_per_s": round(steps * batch / max(secs, 1e-9), 2), "seconds_per_step": round(secs / steps, 3)}


def machine(device: str) -> dict:
    """Where the numbers come from (with the 1-minute load average: other jobs slow them)."""
    return {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpu": platform.processor() or platform.machine(),
            "load_avg_1min": os.getloadavg()[0]}


def method_parser(doc: str, name: str, reps_help: str, train_steps: int, train_help: str) -> argparse.ArgumentParser:
    """The arguments every per-method bench shares: ``--out``, ``--reps``, ``--train-steps``, ``--device``,
    ``--seed`` (``name``: the JSON's stem, for the help)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", required=True, help=f"folder for {name}.json")
    ap.add_argument("--reps", type=int, default=3, help=reps_help)
    ap.add_argument("--train-steps", type=int, default=train_steps, help=train_help)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def finish(result: dict, out_dir: str | Path, name: str) -> Path:
    """Add the load average at the end, write ``out_dir/<name>.json`` atomically, print it."""
    result["load_avg_1min_end"] = os.getloadavg()[0]
    out = Path(out_dir) / f"{name}.json"
    write_json(out, result)
    print(json.dumps(result, indent=1))
    return out
