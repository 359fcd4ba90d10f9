"""Vitoria et al.'s ablation (tables 1–2): the grid, the paper's metric conventions, the rows."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from faceinpaint.methods.wgan_completion import experiments as A
from faceinpaint.methods.wgan_completion import LatentConfig
from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.wgan_completion.networks import GlobalCritic, Generator, PatchCritic


def tiny_method(cls=W.WGANCompletion, **kw):
    torch.manual_seed(0)
    G, D, P = Generator(16, (16, 8, 8, 8, 8)), GlobalCritic((4, 4, 8, 8, 8)), PatchCritic((4, 4, 8, 8))
    return cls(G, D, P, progress=False, **kw)


def faces(n, seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(-0.8, 0.8, size)
    ramp = (base[None, :] + base[:, None]).clamp(-1, 1) / 2
    return (ramp + 0.3 * torch.rand(n, 3, size, size, generator=g) - 0.15).clamp(-1, 1)


def test_paper_grid_is_the_nine_rows_of_tables_1_and_2():
    grid = A.paper_grid()
    assert [f.family for f in grid] == ["yeh"] + ["yeh_gradient"] * 4 + ["ours"] * 4
    assert grid[0].beta == 0 and (grid[0].alpha, grid[0].eta) == (1.0, 0.003)
    assert [(f.alpha, f.beta, f.eta) for f in grid[5:]] == list(A.PAPER_WEIGHTS)
    assert all(not f.patch_prior for f in grid[:5]) and all(f.patch_prior for f in grid[5:])
    for kind in A.MASKS:
        assert all(A.paper_value(kind, f) is not None for f in grid)
    cfg = grid[-2].latent_config(LatentConfig(lr=0.01, window=5), iters=7)  # α=0.1, β=0.9, η=0.5
    assert (cfg.alpha, cfg.beta, cfg.eta, cfg.patch_prior, cfg.iters, cfg.lr, cfg.window) == (
        0.1, 0.9, 0.5, True, 7, 0.01, 5)
    # the [39] row is exactly the registered `yeh` baseline's objective
    y = W.yeh_config()
    assert (y.alpha, y.beta, y.eta, y.patch_prior) == (grid[0].alpha, grid[0].beta, grid[0].eta, grid[0].patch_prior)


def test_paper_tables_compute_psnr_from_the_mean_mse_on_255_scale():
    """Why our ``psnr`` column is 10·log10(255²/MSE) of the mean MSE: every row of the paper obeys it."""
    for (mse, psnr, _ssim) in A.PAPER_CELEBA.values():
        assert abs(10 * math.log10(255 ** 2 / mse) - psnr) < 2e-3


def test_paper_scores_against_hand_values_and_scikit_image():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(2, 3, 32, 32, generator=g) * 1.6 - 0.8
    fake = real + 0.1                       # 0.05 in [0, 1] units everywhere (no clamping: |x| ≤ 0.9)
    s = A.paper_scores(real, fake)
    assert s["mse"] == pytest.approx((0.05 * 255) ** 2, rel=1e-6)
    assert s["psnr"] == pytest.approx(10 * math.log10(1 / 0.05 ** 2), rel=1e-6)
    noisy = (real + 0.2 * torch.randn(real.shape, generator=g)).clamp(-1, 1)
    s = A.paper_scores(real, noisy)
    r = ((real.double() + 1) / 2).numpy().transpose(0, 2, 3, 1)
    f = ((noisy.double() + 1) / 2).numpy().transpose(0, 2, 3, 1)
    mse = np.mean([np.mean((a - b) ** 2) for a, b in zip(r, f)])
    assert s["mse"] == pytest.approx(255 ** 2 * mse, rel=1e-9)
    assert s["psnr"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-9)
    assert s["psnr_per_image"] == pytest.approx(np.mean([peak_signal_noise_ratio(a, b, data_range=1) for a, b in zip(r, f)]),
                                                rel=1e-9)
    ref_ssim = np.mean([structural_similarity(a, b, data_range=1, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False) for a, b in zip(r, f)])
    assert s["ssim"] == pytest.approx(ref_ssim, abs=1e-6)


@pytest.fixture(scope="module")
def rows():
    return A.wgan_ablation(tiny_method(), faces(2), iters=3, seed=1, progress=False)


def test_ablation_rows(rows):
    assert len(rows) == 2 * 9
    assert [r["mask"] for r in rows] == ["wgan_central"] * 9 + ["wgan_three_squares"] * 9
    for r in rows:
        assert {"formulation", "family", "alpha", "beta", "eta", "mse", "psnr", "ssim", "paper", "iters"} <= set(r)
        assert r["iters"] == 3 and r["n_images"] == 2 and r["paper"] is not None
        assert math.isfinite(r["mse"]) and r["mse"] > 0 and 0 < r["ssim"] <= 1
        assert r["psnr"] == pytest.approx(10 * math.log10(255 ** 2 / r["mse"]))
    # different objectives give different completions
    assert len({round(r["mse"], 6) for r in rows[:9]}) > 1


def test_ablation_rows_match_the_registered_methods(rows):
    """The [39] row is the `yeh` Inpainter, the ours-(0.1, 0.9, 0.5) row the `wgan_completion` one,
    with the same seed and iterations: a table that disagrees with the methods would be a bug."""
    image = faces(2)
    hole = torch.zeros(2, 1, 64, 64)
    hole[..., 16:48, 16:48] = 1
    yeh = tiny_method(W.Yeh, latent=W.yeh_config(iters=3))
    ours = tiny_method(latent=LatentConfig(iters=3))
    for method, row in ((yeh, rows[0]), (ours, rows[7])):
        assert (row["alpha"], row["beta"], row["eta"]) == (method.latent.alpha, method.latent.beta, method.latent.eta)
        got = A.paper_scores(image, method.inpaint(image, hole, seed=1))
        assert got["mse"] == pytest.approx(row["mse"], rel=1e-6)
        assert got["ssim"] == pytest.approx(row["ssim"], rel=1e-6)


def test_ablation_is_deterministic(rows):
    again = A.wgan_ablation(tiny_method(), faces(2), grid=A.paper_grid()[:2], masks=("wgan_central",), iters=3,
                            seed=1, progress=False)
    assert [r["mse"] for r in again] == [r["mse"] for r in rows[:2]]


def test_ablation_refuses_images_at_another_resolution():
    with pytest.raises(ValueError, match="64×64"):
        A.wgan_ablation(tiny_method(), faces(1, size=32), iters=1, progress=False)


def test_markdown_layout_and_marks(rows):
    md = A.ablation_markdown(rows)
    assert md.count("| Loss formulation |") == 2 and "Table 1" in md and "Table 2" in md
    central = rows[:9]
    best = min(central, key=lambda r: r["mse"])
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {best['formulation']} |"))
    assert f"**{best['mse']:.1f}**" in line
    assert "872.9" in md and "321.3" in md          # the paper's [39] central and best three-squares MSE
    assert "paper MSE" not in A.ablation_markdown(rows, paper=False)
    cmp = A.comparison_markdown([{"method": "a", "mse": 2.0, "psnr": 30.0, "ssim": 0.9},
                                 {"method": "b", "mse": 1.0, "psnr": 31.0, "ssim": 0.8}])
    assert "| a | 2.0 | 30.00 | **0.9000** |" in cmp and "| b | **1.0** | **31.00** | 0.8000 |" in cmp


def test_compare_methods_rows():
    image, hole = faces(2, seed=3), torch.zeros(2, 1, 64, 64)
    hole[..., 10:30, 20:40] = 1
    rows, outs = A.compare_methods({"ours": tiny_method(latent=LatentConfig(iters=2))}, image, hole, seed=0)
    assert rows[0]["method"] == "ours" and rows[0]["n_images"] == 2 and rows[0]["mse"] > 0
    assert outs["ours"].shape == image.shape
    assert rows[0]["mse"] == pytest.approx(A.paper_scores(image, outs["ours"])["mse"])
