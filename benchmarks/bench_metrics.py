"""Metric throughput: FID Inception features/s (batch 16, 256 px input → 299 px inside) and
PSNR / SSIM / MS-SSIM / vgg19_perceptual images/s, plus one FID (d = 2048) computation time.

Inputs are real CelebA-999 faces (random tensors when the asset is absent — the network does
not care for timing). Each timing is the best of ``--repeats`` runs after one warm-up: on a
shared machine the minimum is the least disturbed. Writes ``metrics_throughput.json`` to
``--out DIR``.

    python benchmarks/bench_metrics.py --out benchmarks/results [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from faceinpaint import assets, metrics
from faceinpaint.io import load_image, write_json


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (lazy loading, allocator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def face_batch(n: int, size: int) -> torch.Tensor:
    folder = assets.assets_dir() / "celeba999" / "image_batch"
    if not folder.exists():
        return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.cat([load_image(folder / f"{i:06d}.jpg", size=size) for i in range(1, n + 1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results", help="output folder")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from faceinpaint.pretrained.inception import FIDInception

    dev = torch.device(args.device)
    real = face_batch(args.batch, args.size)
    fake = (real + 0.05 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    results: dict = {"device": str(dev), "torch_threads": torch.get_num_threads(), "batch": args.batch,
                     "input_size": args.size, "repeats": args.repeats, "platform": platform.platform(),
                     "torch": torch.__version__, "timing": "best of repeats after one warm-up"}

    net = FIDInception(device=dev)
    results["inception"] = net.source

    def inception():
        with torch.no_grad():
            net(real.to(dev))
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t = timed(inception, args.repeats)
    results["fid_inception_features_per_s"] = args.batch / t

    for name, fn in (("psnr", metrics.psnr), ("ssim", metrics.ssim), ("ms_ssim", metrics.ms_ssim)):
        t = timed(lambda: fn(real, fake), args.repeats)
        results[f"{name}_images_per_s"] = args.batch / t

    pd = metrics.PerceptualDistance(device=dev)
    results["vgg19_perceptual_network"] = pd.vgg.source
    t = timed(lambda: metrics.perceptual_distance(real, fake, pd), args.repeats)
    results["vgg19_perceptual_images_per_s"] = args.batch / t

    # FID itself: 2048-d features, fewer samples than dimensions (our small test sets) and more
    rng = np.random.default_rng(0)
    for n in (200, 2500):
        a, b = rng.random((n, 2048)), rng.random((n, 2048)) + 0.01
        t0 = time.perf_counter()
        metrics.fid(a, b)
        results[f"fid_seconds_n{n}_d2048"] = time.perf_counter() - t0

    out = Path(args.out)
    write_json(out / "metrics_throughput.json", results)
    for k, v in results.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    print(f"wrote {out / 'metrics_throughput.json'}")


if __name__ == "__main__":
    main()
