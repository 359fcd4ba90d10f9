"""Issue 19: benchmarks/gpu_check.py runs end to end on a CPU with tiny sizes (so that on a GPU it
is one command, ``make gpu-check``), and benchmarks/bench_speed.py's sections work on small settings.
No timings are asserted (speed goes into the benchmarks' JSON)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from faceinpaint import methods, precision
from faceinpaint.paths import repo_root

BENCH = repo_root() / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_speed  # noqa: E402  (benchmarks/bench_speed.py)
import gpu_check  # noqa: E402  (benchmarks/gpu_check.py)


def test_gpu_check_tiny_on_cpu(tmp_path, data_ready):
    code = gpu_check.main(["--out", str(tmp_path), "--tiny", "--device", "cpu"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 0 and report["ok"], [r.get("error") for r in report["results"]]
    assert report["methods"] == methods.trainable() and report["preset"] == "smoke"
    auto = precision.dtype_name(precision.training_dtype("auto", "cpu")[0])
    for r in report["results"]:
        assert r["autocast"] == auto and r["grad_scaler"] is False          # CPU: bf16 (native) or fp32, no scaler
        assert r["stages"], r["method"]
        for stage, v in r["stages"].items():
            assert v["steps"] == 2 and v["images_per_s"] > 0, (r["method"], stage, v)
    stages = {r["method"]: set(r["stages"]) for r in report["results"]}
    if "lafin" in stages:
        assert stages["lafin"] == {"landmark", "inpaint"}
    if "exegan" in stages:
        assert stages["exegan"] == {"prior", "encoder", "inpaint"}


def test_gpu_check_timing_config_overrides_every_stage():
    from faceinpaint.methods import exegan, lafin

    c = gpu_check.preset_for_timing(lafin.preset_config("cpu"), 3, 2)
    assert (c.steps, c.lmk_steps, c.warmup_steps, c.batch_size, c.lmk_batch_size, c.ckpt_every) == (3, 3, 0, 2, 2, 0)
    e = gpu_check.preset_for_timing(exegan.preset_config("paper"), 4, None)
    assert (e.steps, e.prior_steps, e.encoder_steps, e.log_every) == (4, 4, 4, 1)
    assert e.batch_size == exegan.preset_config("paper").batch_size


def test_bench_speed_small_run(tmp_path, data_ready):
    if "lafin" not in methods.available():
        pytest.skip("lafin is not implemented in this copy")
    path = bench_speed.main(["--out", str(tmp_path), "--method", "lafin", "--reps", "1", "--search-iters", "2",
                             "--search-batch", "2", "--train-steps", "0"])
    report = json.loads(Path(path).read_text())
    inf = {r["nets"]: r for r in report["inference"]}
    assert set(inf) == {"paper", "cpu"}
    for r in inf.values():
        assert r["image_size"] == 256 and r["fp32"]["median_cpu_s"] > 0 and r["bf16"]["median_cpu_s"] > 0
        assert r["bf16_speedup_cpu"] > 0
    assert inf["paper"]["model_size"] == 256
    if "wgan_completion" in methods.available():
        [ls] = report["latent_search"]
        assert ls["batch"] == 2 and set(ls["speedup_cpu"]) == {"reference_fp32", "fast_fp32", "fast_bf16"}
        assert ls["speedup_cpu"]["reference_fp32"] == 1.0
    assert "lafin_paper_inference_bf16_speedup_cpu" in report["summary"]
    if "wgan_completion" in methods.available():
        assert "latent_search_batch2_speedup_cpu_bf16" in report["summary"]
