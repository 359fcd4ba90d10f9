"""Speed in float32 and bfloat16, side by side in one run → ``OUT/bench_speed.json``.

* ``inference`` — every available learned method on a 256-px face (its exemplar-guided call for
  refattr and EXE-GAN, the plain call for the others), once with its ``paper`` networks (random
  weights: the cost does not depend on them) and once with its ``cpu`` networks (the shipped
  checkpoint when present), **fp32 and bf16 alternating** on the same model
  (:func:`faceinpaint.precision.apply`), ``--reps`` times each after a warm-up. wgan_completion and
  yeh run a latent search of ``--infer-iters`` iterations here (their cost is per iteration).
  Ratios: median fp32 / median bf16, of wall time and of process CPU time (on a shared machine CPU
  time is the steadier one: other jobs steal wall time, not CPU time).
* ``latent_search`` — wgan_completion's latent search (eq. 5–8) with the shipped prior, the old
  path (``search="reference"``, float32: the search before issue 19) against the new one
  (``search="fast"``, float32 and bfloat16, and the default of ``methods.get(precision="auto")``),
  alternating, for batches of ``--search-batch`` (the paper's 16, and 1: one user's face),
  ``--search-iters`` iterations each (seconds scale linearly with iterations).
* ``training`` — steps/s of every learned method's ``paper`` preset, each stage ``--train-steps``
  steps through the method's ``fit()`` and the Trainer, fp32 then bf16
  (:func:`faceinpaint.precision.training`); ``--train-batch`` (default 2 on a CPU, the preset's on
  CUDA) overrides every stage's batch. Uses ``gpu_check.train_preset``.

    OMP_NUM_THREADS=1 python benchmarks/bench_speed.py --out benchmarks/results [--reps 3] [--train-steps 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import learned_methods, machine, train_preset  # noqa: E402  (benchmarks/gpu_check.py)

from faceinpaint import methods, precision  # noqa: E402
from faceinpaint.io import write_json  # noqa: E402
from faceinpaint.methods.base import Guide  # noqa: E402

SIDE = 256
GUIDED = {"refattr", "exegan"}        # methods whose main use is an exemplar
PRECS = ("fp32", "bf16")


# ----------------------------------------------------------------------------- inputs
def faces(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Test faces at ``size`` (random images when the data is not prepared: the cost is the same)."""
    try:
        from faceinpaint.evaluate import load_test_split

        return load_test_split(size, n).images
    except Exception:  # noqa: BLE001
        return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def centre_hole(n: int, size: int) -> torch.Tensor:
    hole = torch.zeros(n, 1, size, size)
    hole[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return hole


# ----------------------------------------------------------------------------- models
def random_model(name: str, preset: str, device: str, iters: int):
    """``name``'s Inpainter with the ``preset`` networks at random weights (None: unknown here)."""
    torch.manual_seed(0)
    if name in ("wgan_completion", "yeh"):
        from faceinpaint.methods import wgan_completion as W

        cfg = W.preset_config(preset)
        nets = W.build_nets(cfg)
        if name == "yeh":
            return W.Yeh(nets["G"], nets["D"], nets["D_patch"], latent=W.yeh_config(iters=iters), device=device,
                         progress=False)
        return W.WGANCompletion(nets["G"], nets["D"], nets["D_patch"], latent=replace(cfg.latent, iters=iters),
                                device=device, progress=False)
    if name == "lafin":
        from faceinpaint.methods import lafin as L

        cfg = L.preset_config(preset)
        return L.LaFIn(L.build_generator(cfg), L.build_predictor(cfg), size=cfg.image_size, device=device)
    if name == "refattr":
        from faceinpaint.methods import refattr as R

        cfg = R.preset_config(preset)
        return R.RefAttr(R.build_generator(cfg), R.build_extractor(cfg), size=cfg.image_size,
                         names=list(cfg.attributes), device=device)
    if name == "exegan":
        from faceinpaint.methods import exegan as E

        cfg = E.preset_config(preset)
        return E.ExeGAN(E.build_generator(cfg), E.build_style_encoder(cfg), size=cfg.image_size, device=device,
                        first_exemplar_layer=cfg.phi_first_exemplar_layer)
    return None


def cpu_model(name: str, device: str, iters: int):
    """The shipped checkpoint's model, or the cpu preset at random weights; and where it came from."""
    kw = {"iters": iters, "progress": False} if name in ("wgan_completion", "yeh") else {}
    try:
        return methods.get(name, device=device, **kw), str(methods.default_checkpoint(name))
    except Exception as e:  # noqa: BLE001 — a missing checkpoint: the same nets at random weights
        return random_model(name, "cpu", device, iters), f"cpu preset, random weights ({' '.join(str(e).split())[:120]})"


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> tuple[float, float]:
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


def _med(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def compare(variants: dict[str, Callable[[], Any]], reps: int, device: str) -> dict[str, Any]:
    """Each variant once to warm up, then ``reps`` rounds in which every variant runs once (interleaved)."""
    for fn in variants.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, fn in variants.items():
            w, c = timed(fn, device)
            wall[k].append(w)
            cpu[k].append(c)
    return {k: {"wall_s": [round(x, 4) for x in wall[k]], "cpu_s": [round(x, 4) for x in cpu[k]],
                "median_wall_s": _med(wall[k]), "median_cpu_s": _med(cpu[k])} for k in variants}


def _ratio(a: dict, b: dict, key: str) -> float | None:
    return round(a[key] / b[key], 3) if b[key] > 0 else None


def inference(name: str, nets: str, reps: int, device: str, iters: int) -> dict[str, Any]:
    if nets == "paper":
        model, source = random_model(name, "paper", device, iters), "paper preset, random weights"
    else:
        model, source = cpu_model(name, device, iters)
    if model is None:
        return {"method": name, "nets": nets, "skipped": "no network builder for this method in bench_speed.py"}
    image = faces(2, SIDE).to(device)
    hole = centre_hole(1, SIDE).to(device)
    if name in GUIDED:
        hole[..., : SIDE // 2, :] = 0          # the lower face, where exemplars act
    guide = Guide(exemplar=image[1:2]) if name in GUIDED else None
    x = image[:1]

    def run(prec: str):
        def fn():
            precision.apply(model, prec, device)
            with torch.no_grad():
                out = model.inpaint(x, hole, guide, seed=0)
            known = (hole == 0).expand_as(x)
            assert torch.equal(out[known], x[known]), f"{name} {prec}: known pixels changed"
        return fn

    times = compare({p: run(p) for p in PRECS}, reps, device)
    params = sum(p.numel() for v in vars(model).values() if isinstance(v, torch.nn.Module) for p in v.parameters())
    res = {"method": name, "nets": nets, "source": source, "model_size": getattr(model, "size", None),
           "image_size": SIDE, "parameters": params, "reps": reps, **times,
           "bf16_speedup_wall": _ratio(times["fp32"], times["bf16"], "median_wall_s"),
           "bf16_speedup_cpu": _ratio(times["fp32"], times["bf16"], "median_cpu_s")}
    if name in ("wgan_completion", "yeh"):
        res["search_iters"] = iters
    precision.apply(model, "fp32", device)
    return res


def latent_search(batch: int, iters: int, reps: int, device: str) -> dict[str, Any]:
    """The old search against the new one on the shipped prior (or the cpu preset's random nets)."""
    from faceinpaint.methods import wgan_completion as W
    from faceinpaint.methods.wgan_completion.inpainter import complete

    try:
        cfg, G, D, P, _ = W.load_prior(None, device)
        source = str(W.default_checkpoint())
    except Exception:  # noqa: BLE001
        cfg = W.preset_config("cpu")
        nets = W.build_nets(cfg)
        G, D, P = (nets[k].to(device) for k in ("G", "D", "D_patch"))
        source = "cpu preset, random weights"
    image = faces(batch, cfg.image_size).to(device)
    hole = centre_hole(batch, cfg.image_size).to(device)
    lat = replace(cfg.latent, iters=iters)
    auto = precision.resolve("auto", device, "wgan_completion")

    def run(search: str, dtype):
        return lambda: complete(G, D, P, image, hole, lat, generator=torch.Generator(device).manual_seed(0),
                                search=search, dtype=dtype)

    variants = {"reference_fp32": run("reference", None), "fast_fp32": run("fast", None),
                "fast_bf16": run("fast", torch.bfloat16)}
    times = compare(variants, reps, device)
    new = "fast_bf16" if auto == torch.bfloat16 else "fast_fp32"
    old = times["reference_fp32"]
    return {"batch": batch, "iters": iters, "reps": reps, "source": source, **times,
            "new_default": new, "new_default_precision": precision.describe("auto", device, "wgan_completion"),
            "speedup_wall": {k: _ratio(old, times[k], "median_wall_s") for k in variants},
            "speedup_cpu": {k: _ratio(old, times[k], "median_cpu_s") for k in variants},
            "ms_per_iter_cpu": {k: round(1000 * times[k]["median_cpu_s"] / iters, 2) for k in variants}}


def training(names: list[str], steps: int, batch: int | None, device: str) -> list[dict[str, Any]]:
    out = []
    for n in names:
        row: dict[str, Any] = {"method": n, "preset": "paper", "steps_per_stage": steps, "batch_override": batch}
        for p in PRECS:
            r = train_preset(n, "paper", p, steps=steps, batch=batch, device=device)
            row[p] = r
            print(f"training {n} paper {p}: " + (r.get("error") or ", ".join(
                f"{st} {v['steps_per_s']} steps/s" for st, v in r["stages"].items())), flush=True)
        stages = set(row["fp32"].get("stages", {})) & set(row["bf16"].get("stages", {}))
        row["bf16_speedup"] = {st: _ratio(row["fp32"]["stages"][st], row["bf16"]["stages"][st], "seconds_per_step")
                               for st in sorted(stages)}
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for bench_speed.json")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per precision (after a warm-up)")
    ap.add_argument("--infer-iters", type=int, default=10, help="latent-search iterations in the inference section")
    ap.add_argument("--search-iters", type=int, default=50, help="iterations per latent search (paper: 1000)")
    ap.add_argument("--search-batch", type=int, action="append", default=None,
                    help="latent-search batch sizes (default: 16 and 1)")
    ap.add_argument("--train-steps", type=int, default=3, help="steps per stage (0: skip training)")
    ap.add_argument("--train-batch", type=int, default=None,
                    help="batch of every stage (default: 2 on a CPU, the preset's on CUDA; 0: the preset's)")
    ap.add_argument("--method", action="append", default=None, help="only these methods (repeatable)")
    ap.add_argument("--skip", action="append", default=[], choices=("inference", "latent_search", "training"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    dev = torch.device(args.device)
    t0 = time.perf_counter()
    result: dict[str, Any] = {**machine(args.device),
                              "precision_auto": {n: precision.describe("auto", dev, n) for n in methods.available()}}
    names = [n for n in methods.available() if methods.SPECS[n].checkpoint_stem is not None
             and (not args.method or n in args.method)]
    if "inference" not in args.skip:
        result["inference"] = []
        for n in names:
            for nets in ("paper", "cpu"):
                r = inference(n, nets, args.reps, args.device, args.infer_iters)
                print(f"inference {n} {nets}: " + (r.get("skipped") or
                      f"fp32 {r['fp32']['median_cpu_s']} s, bf16 {r['bf16']['median_cpu_s']} s CPU "
                      f"(×{r['bf16_speedup_cpu']} CPU, ×{r['bf16_speedup_wall']} wall)"), flush=True)
                result["inference"].append(r)
    if "latent_search" not in args.skip and "wgan_completion" in methods.available():
        result["latent_search"] = []
        for b in args.search_batch or [16, 1]:
            r = latent_search(b, args.search_iters, args.reps, args.device)
            print(f"latent search batch {b}: " + ", ".join(f"{k} ×{v}" for k, v in r["speedup_cpu"].items())
                  + " (CPU time vs reference_fp32)", flush=True)
            result["latent_search"].append(r)
    if "training" not in args.skip and args.train_steps > 0:
        batch = args.train_batch if args.train_batch is not None else (2 if dev.type == "cpu" else None)
        result["training"] = training(learned_methods([n for n in names if n in methods.trainable()]),
                                      args.train_steps, batch or None, args.device)
    summary: dict[str, Any] = {}
    for r in result.get("inference", []):
        if "skipped" not in r:
            summary[f"{r['method']}_{r['nets']}_inference_bf16_speedup_cpu"] = r["bf16_speedup_cpu"]
            summary[f"{r['method']}_{r['nets']}_inference_bf16_speedup_wall"] = r["bf16_speedup_wall"]
    for r in result.get("latent_search", []):   # old search (reference, fp32) / new search
        b = r["batch"]
        summary[f"latent_search_batch{b}_speedup_cpu_bf16"] = r["speedup_cpu"]["fast_bf16"]
        summary[f"latent_search_batch{b}_speedup_wall_bf16"] = r["speedup_wall"]["fast_bf16"]
        summary[f"latent_search_batch{b}_speedup_cpu_default"] = r["speedup_cpu"][r["new_default"]]
    result["summary"] = summary
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_avg_1min_end"] = machine(args.device)["load_avg_1min"]
    path = Path(args.out) / "bench_speed.json"
    write_json(path, result)
    print(path)
    return path


if __name__ == "__main__":
    main()
