"""Acceptance of wgan_completion (issue 4), with the SHIPPED prior ``checkpoints/wgan_completion_cpu.pt``.

* On held-out faces (the prepared CelebA-999 test split) with the paper's central-square mask at
  64 px, wgan_completion beats its baseline Yeh et al. on the same prior: lower MSE, higher PSNR.
* The prior's samples are face-like: in the space of eigenfaces of the training faces, their
  Fréchet distance to real held-out faces is nearer that of real training faces than that of the
  best non-face (noise, smooth random colour fields, real faces with shuffled pixels, the
  untrained generator).
* ``python -m faceinpaint inpaint --method wgan_completion`` on an odd-sized RGB face keeps every
  known pixel.

Skipped without the shipped checkpoint. ``FACEINPAINT_WGAN_CHECKPOINT=PATH`` runs them against
another prior (e.g. ``runs/wgan_completion_cpu/checkpoint.pt`` while it trains). About 2 minutes
on one idle core (4¼ min measured on the shared 2-core machine under load 5): 16 faces × 100
latent iterations per method (the paper: 1000), and one CLI run (the checkpoint's own 1000
iterations on one face).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from faceinpaint import assets, masks, methods, metrics
from faceinpaint.methods.wgan_completion.experiments import compare_methods
from faceinpaint.io import save_mask
from faceinpaint.paths import checkpoints_dir, repo_root

CKPT_ENV = "FACEINPAINT_WGAN_CHECKPOINT"
SHIPPED = checkpoints_dir() / "wgan_completion_cpu.pt"
CKPT = Path(os.environ[CKPT_ENV]) if os.environ.get(CKPT_ENV) else SHIPPED
N_FACES, ITERS = 16, 100
# Table 1 (central square): the paper's best CelebA row for its loss is α=0.5, β=0.5, η=1.0
# (table 2's best, α=0.1, β=0.9, η=0.5, is the three-squares one and the library default).
CENTRAL_BEST = {"alpha": 0.5, "beta": 0.5, "eta": 1.0}

pytestmark = [
    pytest.mark.skipif(not CKPT.is_file(), reason=(
        f"{CKPT}: no shipped wgan_completion prior — train it with `faceinpaint train --method wgan_completion "
        f"--preset cpu --out runs/wgan_completion_cpu` and copy its wgan_completion_cpu.pt there, or set {CKPT_ENV}")),
    pytest.mark.slow,
]


def test_wgan_completion_beats_yeh_on_central_squares(data_ready):
    from faceinpaint.evaluate import load_test_split

    faces = load_test_split(64, N_FACES)
    images = faces.images
    hole = masks.generate("wgan_central", 64, len(images), seed=0)
    assert float(hole.mean()) == 0.25                      # the central 32×32 of a 64×64 face
    contenders = {"wgan_completion": methods.get("wgan_completion", checkpoint=CKPT, iters=ITERS, progress=False,
                                                 **CENTRAL_BEST),
                  "yeh": methods.get("yeh", checkpoint=CKPT, iters=ITERS, progress=False)}
    rows, outs = compare_methods(contenders, images, hole, seed=0)
    known = (hole == 0).expand_as(images)
    for name, out in outs.items():
        assert torch.equal(out[known], images[known]), f"{name} changed known pixels"
    ours, yeh = (next(r for r in rows if r["method"] == n) for n in ("wgan_completion", "yeh"))
    summary = (f"wgan_completion MSE {ours['mse']:.1f} PSNR {ours['psnr']:.2f} SSIM {ours['ssim']:.4f}; "
               f"yeh MSE {yeh['mse']:.1f} PSNR {yeh['psnr']:.2f} SSIM {yeh['ssim']:.4f} ({len(images)} faces, {ITERS} it.)")
    print(summary)
    assert ours["mse"] < yeh["mse"], summary
    assert ours["psnr"] > yeh["psnr"], summary
    assert ours["psnr_per_image"] > yeh["psnr_per_image"], summary


def _eigenface_basis(train: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top-``k`` principal directions of the training faces (32×32 RGB, float64)."""
    x = F.avg_pool2d(train, 2).flatten(1).double()
    mu = x.mean(0)
    _, _, vt = torch.linalg.svd(x - mu, full_matrices=False)
    return mu, vt[:k]


def test_prior_samples_are_face_like(data_ready):
    """Turk & Pentland's face space as an independent judge (no network that saw the prior): the
    Fréchet distance (:func:`faceinpaint.metrics.fid`'s formula, on 20 eigenface coefficients —
    *not* FID) between real held-out faces and each set."""
    from faceinpaint.data import FaceDataset
    from faceinpaint.evaluate import load_test_split
    from faceinpaint.methods import wgan_completion as W

    n, k = 64, 20
    train = FaceDataset("celeba999", split="train", size=64)
    mu, basis = _eigenface_basis(torch.stack([train[i]["image"] for i in range(len(train))]), k)
    coeffs = lambda x: ((F.avg_pool2d(x, 2).flatten(1).double() - mu) @ basis.T).numpy()  # noqa: E731
    real = load_test_split(64, n).images
    cfg, G, _, _, _ = W.load_prior(CKPT)
    torch.manual_seed(0)
    G0 = W.build_nets(cfg)["G"]                            # the same architecture, untrained
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, cfg.z_dim, generator=g)
    with torch.no_grad():
        samples, untrained = G.eval()(z), G0.eval()(z)
    controls = {
        "noise": (0.5 * torch.randn(n, 3, 64, 64, generator=g)).clamp(-1, 1),
        "smooth colour fields": F.interpolate(torch.rand(n, 3, 4, 4, generator=g) * 2 - 1, size=64, mode="bicubic",
                                              align_corners=False).clamp(-1, 1),
        "shuffled real pixels": real.flatten(2)[:, :, torch.randperm(64 * 64, generator=g)].view_as(real),
        "untrained G": untrained,
    }
    ref = coeffs(real)
    d_samples = metrics.fid(ref, coeffs(samples))
    d_controls = {name: metrics.fid(ref, coeffs(x)) for name, x in controls.items()}
    d_real = metrics.fid(ref, coeffs(torch.stack([train[i]["image"] for i in range(n)])))
    print(f"eigenface Fréchet distance to real test faces: samples {d_samples:.1f}, real training faces {d_real:.1f}, "
          + ", ".join(f"{k_} {v:.1f}" for k_, v in d_controls.items()))
    # closer to the level of real faces than to the most face-like of the non-faces
    assert d_samples < (d_real + min(d_controls.values())) / 2, (d_samples, d_real, d_controls)


def _odd_face(path: Path) -> np.ndarray:
    """A held-out CelebA face cropped to an odd size (117×97), saved as PNG."""
    from faceinpaint.evaluate import load_test_split

    name = load_test_split(64, 1).names[0]
    src = assets.path("celeba999")
    src = next(p for p in (src / f"{name}.jpg", src / "image_batch" / f"{name}.jpg") if p.is_file())
    arr = np.asarray(Image.open(src).convert("RGB"))[50:167, 40:137]
    assert arr.shape == (117, 97, 3)
    Image.fromarray(arr).save(path)
    return arr


def test_cli_inpaint_keeps_every_known_pixel(tmp_path, data_ready):
    image_file, mask_file, out_file = tmp_path / "face.png", tmp_path / "hole.png", tmp_path / "out.png"
    arr = _odd_face(image_file)
    hole = np.zeros(arr.shape[:2], np.float32)
    hole[35:80, 25:70] = 1                                  # eyes, nose and mouth
    save_mask(torch.from_numpy(hole)[None, None], mask_file)
    cmd = [sys.executable, "-m", "faceinpaint", "inpaint", "--method", "wgan_completion", "--image", str(image_file),
           "--mask", str(mask_file), "--out", str(out_file), "--device", "cpu", "--seed", "0"]
    if CKPT != SHIPPED:
        cmd += ["--checkpoint", str(CKPT)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=repo_root(), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = np.asarray(Image.open(out_file).convert("RGB"))
    assert out.shape == arr.shape
    known = hole == 0
    assert np.array_equal(out[known], arr[known])
    assert np.abs(out[~known].astype(int) - arr[~known].astype(int)).mean() > 0  # the hole was filled, not copied
