"""Vitoria et al.: networks (section 3.1), weights and ∇ of eq. (6)–(7), latent search (eq. 5–8),
conditional completion (eq. 10–15), WGAN-GP training through the Trainer, the Inpainters."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d
from torch import nn

from faceinpaint import methods
from faceinpaint.errors import FaceInpaintError
from faceinpaint.latent import (ConditionalConfig, LatentConfig, complete, complete_conditional,
                                conditional_loss, context_weights, masked_gradient, reference_weights)
from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.base import Guide
from faceinpaint.nn.wgan import GlobalCritic, Generator, LayerNorm2d, PatchCritic
from synthetic import faces, square_hole  # tests/synthetic.py


def tiny_nets(seed=0):
    torch.manual_seed(seed)
    return Generator(16, (16, 8, 8, 8, 8)), GlobalCritic((4, 4, 8, 8, 8)), PatchCritic((4, 4, 8, 8))


# ----------------------------------------------------------------------------- networks
def test_shapes_and_paper_widths():
    G = Generator()                                   # paper: z ∈ R^128, 64 px
    D, P = GlobalCritic(), PatchCritic()
    z = torch.randn(2, 128)
    with torch.no_grad():
        x = G(z)
        assert x.shape == (2, 3, 64, 64) and x.abs().max() <= 1  # tanh output
        assert D(x).shape == (2,)
        assert P.patch_map(x).shape == (2, 1, 8, 8)
        assert torch.allclose(P(x), P.patch_map(x).mean(dim=(1, 2, 3)))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in [*D.modules(), *P.modules()])
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


def test_layer_norm_matches_functional_layer_norm():
    ln = LayerNorm2d(5)
    x = torch.randn(3, 5, 6, 7)
    ref = F.layer_norm(x, x.shape[1:], eps=ln.eps)
    assert torch.allclose(ln(x), ref, atol=1e-5)


def test_critic_scores_do_not_depend_on_the_batch():
    _, D, P = tiny_nets()
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for critic in (D, P):
            assert torch.allclose(critic(x)[:1], critic(x[:1]), atol=1e-5)


# ----------------------------------------------------------------------------- eq. (7), (14), (15)
def test_context_weights_hand_computed():
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., 0, 0] = 1  # a corner: the 3×3 window reflects over the image border (SciPy 'symm')
    expected = torch.zeros(4, 4)
    expected[0, 1] = expected[1, 0] = 2 / 9  # (0, 0) seen twice: itself and its reflection
    expected[1, 1] = 1 / 9
    assert torch.allclose(context_weights(hole, window=3)[0, 0], expected)
    w2 = torch.zeros(4, 4)
    w2[0, 0] = 4 / 9  # eq. (15) on the hole pixel: 1 − (fraction known) = 4 of 9 window pixels are holes
    assert torch.allclose(reference_weights(hole, window=3)[0, 0], w2)


def test_context_weights_match_yeh_convolution():
    rng = np.random.default_rng(0)
    hole = (rng.random((20, 17)) < 0.3).astype(np.float64)
    known = 1 - hole
    ref = known * convolve2d(1 - known, np.ones((7, 7)) / 49, mode="same", boundary="symm")
    ours = context_weights(torch.from_numpy(hole).float()[None, None])[0, 0].double().numpy()
    assert np.abs(ours - ref).max() < 1e-6
    ref2 = hole * (1 - convolve2d(known, np.ones((7, 7)) / 49, mode="same", boundary="symm"))
    ours2 = reference_weights(torch.from_numpy(hole).float()[None, None])[0, 0].double().numpy()
    assert np.abs(ours2 - ref2).max() < 1e-6


# ----------------------------------------------------------------------------- ∇ of eq. (6)
def test_masked_gradient_hand_computed():
    x = torch.tensor([1.0, 4, 9, 1000, 25, 36, 49, 64]).view(1, 1, 1, 8)
    avail = torch.tensor([1.0, 1, 1, 0, 1, 1, 0, 1]).view(1, 1, 1, 8)
    gx, gy = masked_gradient(x, avail)
    # j=0 forward (image border), j=1 central, j=2 backward (hole on the right), j=3 hole,
    # j=4 forward (hole on the left), j=5 backward, j=6 hole, j=7 isolated: no neighbour
    assert gx.flatten().tolist() == [3.0, 4.0, 5.0, 0.0, 11.0, 11.0, 0.0, 0.0]
    assert torch.count_nonzero(gy) == 0  # one row: no vertical neighbour anywhere
    gx_t, gy_t = masked_gradient(x.transpose(-1, -2), avail.transpose(-1, -2))
    assert torch.equal(gy_t.flatten(), gx.flatten()) and torch.count_nonzero(gx_t) == 0


def test_masked_gradient_reads_only_available_pixels_and_is_exact_on_ramps():
    g = torch.Generator().manual_seed(1)
    hole = (torch.rand(2, 1, 12, 12, generator=g) < 0.3).float()
    avail = 1 - hole
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    ramp = (0.5 * xx - 0.25 * yy).expand(2, 3, 12, 12)
    noisy = ramp + 100 * hole * torch.rand(2, 3, 12, 12, generator=g)  # garbage in the holes
    gx, gy = masked_gradient(noisy, avail)
    has_x = avail * ((F.pad(avail, (1, 0))[..., :-1] + F.pad(avail, (0, 1))[..., 1:]) > 0)
    has_y = avail * ((F.pad(avail, (0, 0, 1, 0))[..., :-1, :] + F.pad(avail, (0, 0, 0, 1))[..., 1:, :]) > 0)
    assert torch.allclose(gx, 0.5 * has_x.expand_as(gx))
    assert torch.allclose(gy, -0.25 * has_y.expand_as(gy))


# ----------------------------------------------------------------------------- eq. (5)–(8)
def test_latent_search_decreases_the_loss_clamps_z_and_is_deterministic():
    G, D, P = tiny_nets()
    image, hole = faces(2), square_hole(2)
    cfg = LatentConfig(iters=40)
    a = complete(G, D, P, image, hole, cfg, generator=torch.Generator().manual_seed(3))
    b = complete(G, D, P, image, hole, cfg, generator=torch.Generator().manual_seed(3))
    assert set(a.history) == {"context", "gradient", "prior", "total"}
    assert a.history["total"].shape == (41, 2)
    assert (a.history["total"][-1] < a.history["total"][0]).all()
    assert a.z.abs().max() <= 1.0 and a.z.shape == (2, 16)
    assert torch.equal(a.z, b.z) and torch.equal(a.image, b.image)
    # total = α·context + β·gradient + η·prior at every iteration
    h = a.history
    assert torch.allclose(h["total"], 0.1 * h["context"] + 0.9 * h["gradient"] + 0.5 * h["prior"], rtol=1e-5, atol=1e-4)
    assert all(m.training for m in (G, D, P)) and all(p.requires_grad for p in G.parameters())  # restored


def test_batch_images_are_optimised_independently():
    """Image 0's search does not depend on image 1: replacing image 1 (and its hole) leaves image 0's
    z and loss unchanged. Same batch shape both times, so the same kernels run (a batch of 1 vs 2 may
    pick other conv kernels, whose last-bit differences Adam amplifies over the iterations)."""
    G, D, P = tiny_nets()
    image, hole = faces(2, seed=2), square_hole(2)
    other_image, other_hole = image.clone(), hole.clone()
    other_image[1], other_hole[1] = faces(1, seed=9)[0], square_hole(1, 64, 10, 40)[0]
    cfg = LatentConfig(iters=15)
    a = complete(G, D, P, image, hole, cfg, generator=torch.Generator().manual_seed(0))
    b = complete(G, D, P, other_image, other_hole, cfg, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a.z[0], b.z[0], atol=1e-6) and torch.allclose(a.loss[0], b.loss[0], atol=1e-6)
    assert not torch.allclose(a.z[1], b.z[1], atol=1e-3)   # image 1 did change its own search


def test_restarts_keep_the_best():
    G, D, P = tiny_nets()
    image, hole = faces(2, seed=5), square_hole(2)
    one = complete(G, D, P, image, hole, LatentConfig(iters=10), generator=torch.Generator().manual_seed(1))
    three = complete(G, D, P, image, hole, LatentConfig(iters=10, restarts=3), generator=torch.Generator().manual_seed(1))
    assert (three.loss <= one.loss).all()
    assert torch.equal(three.history["total"][-1], three.loss)


def test_snapshots_are_the_images_along_the_search():
    G, D, P = tiny_nets()
    image, hole = faces(2, seed=6), square_hole(2)
    res = complete(G, D, P, image, hole, LatentConfig(iters=6), generator=torch.Generator().manual_seed(2),
                   snapshots=(0, 3, 6, 99))
    assert sorted(res.snapshots) == [0, 3, 6]                 # 99 > iters: ignored
    assert torch.equal(res.snapshots[6], res.image)           # the last one is G(ẑ)
    # snapshot k is G(z_k): a search stopped after k steps ends on it
    short = complete(G, D, P, image, hole, LatentConfig(iters=3), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(short.image, res.snapshots[3], atol=1e-6)
    assert not torch.allclose(res.snapshots[0], res.snapshots[6])
    # with restarts, each image's snapshots come from the restart it keeps
    two = complete(G, D, P, image, hole, LatentConfig(iters=4, restarts=2), generator=torch.Generator().manual_seed(2),
                   snapshots=(4,))
    assert torch.equal(two.snapshots[4], two.image)


def test_yeh_objective_has_no_gradient_term():
    G, D, P = tiny_nets()
    res = complete(G, D, P, faces(1), square_hole(1), W.yeh_config(iters=5), generator=torch.Generator().manual_seed(0))
    assert "gradient" not in res.history
    assert torch.allclose(res.history["total"], res.history["context"] + 0.003 * res.history["prior"], atol=1e-4)


# ----------------------------------------------------------------------------- eq. (10)–(15)
class FixedImage(nn.Module):
    """A 'generator' that always returns the same image (plus 0·z so gradients flow)."""

    z_dim = 4

    def __init__(self, x):
        super().__init__()
        self.x = nn.Parameter(x.clone())

    def forward(self, z):
        return self.x.expand(z.shape[0], -1, -1, -1) + 0 * z.sum()


def test_conditional_terms_act_on_complementary_regions():
    y1, y2 = faces(1, seed=1), faces(1, seed=2)
    hole = square_hole(1, a=20, b=44)
    _, D, _ = tiny_nets()
    # y₁ on M, y₂ shifted by a constant on 1 − M: same colours as y₁, same structure as y₂
    x = y1 * (1 - hole) + (y2 + 0.3) * hole
    terms = conditional_loss(FixedImage(x), D, y1, hole, y2, ConditionalConfig())(torch.zeros(1, 4))
    for k in ("context", "gradient", "reference"):
        assert terms[k].abs().item() < 1e-4, k
    # change the structure inside the hole only: only the reference term moves
    bumped = x + hole * torch.rand_like(x)
    t2 = conditional_loss(FixedImage(bumped), D, y1, hole, y2, ConditionalConfig())(torch.zeros(1, 4))
    assert t2["reference"].item() > 1.0
    assert t2["context"].abs().item() < 1e-4 and t2["gradient"].abs().item() < 1e-4
    cfg = ConditionalConfig()
    expected = (cfg.alpha1 * t2["context"] + cfg.alpha2 * t2["gradient"] + cfg.alpha3 * t2["reference"]
                + cfg.prior * t2["prior"])
    assert torch.allclose(t2["total"], expected)


def test_conditional_search_runs():
    G, D, _ = tiny_nets()
    res = complete_conditional(G, D, faces(1), square_hole(1), faces(1, seed=9), latent=LatentConfig(iters=20),
                               generator=torch.Generator().manual_seed(0))
    assert set(res.history) == {"context", "gradient", "reference", "prior", "total"}
    assert res.history["total"][-1] < res.history["total"][0]


# ----------------------------------------------------------------------------- training + Inpainter
@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("wgan_smoke")
    data = [{"image": img} for img in faces(12, seed=4)]
    path = W.fit(W.preset_config("smoke"), data, out, seed=0, progress=False)
    return out, path


def test_smoke_training_writes_loadable_checkpoints(smoke_checkpoint):
    out, path = smoke_checkpoint
    assert path.name == "wgan_completion_smoke.pt" and path.is_file()
    assert (out / "checkpoint.pt").is_file() and (out / "log.csv").is_file()
    assert path.stat().st_size < (out / "checkpoint.pt").stat().st_size  # no optimizer/RNG state
    cfg, G, D, P, g_name = W.load_prior(path)
    assert cfg.preset == "smoke" and g_name == "G_ema"
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step") and len(rows) >= 2
    # the Trainer checkpoint loads too (full state)
    assert W.load_prior(out / "checkpoint.pt")[4] == "G_ema"


def test_smoke_training_is_deterministic(tmp_path, smoke_checkpoint):
    data = [{"image": img} for img in faces(12, seed=4)]
    path = W.fit(W.preset_config("smoke"), data, tmp_path, seed=0, progress=False)
    a, b = torch.load(path, weights_only=True)["nets"], torch.load(smoke_checkpoint[1], weights_only=True)["nets"]
    for net in a:
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_inpaint_keeps_known_pixels_any_resolution(smoke_checkpoint):
    _, path = smoke_checkpoint
    m = methods.get("wgan_completion", checkpoint=path, iters=5, progress=False)
    assert m.name == "wgan_completion"
    image = faces(1, seed=7, size=80)[..., :72]          # 80×72: not the prior's 64×64
    hole = torch.zeros(1, 1, 80, 72)
    hole[..., 20:50, 15:40] = 1
    out = m.inpaint(image, hole, seed=1)
    assert out.shape == image.shape and out.abs().max() <= 1
    known = (hole == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert torch.equal(out, m.inpaint(image, hole, seed=1))   # same seed → same bytes
    assert m.last is not None and m.last.history["total"].shape == (6, 1)
    ex = m.inpaint(image, hole, Guide(exemplar=faces(1, seed=8, size=96)), seed=1)
    assert torch.equal(ex[known], image[known]) and "reference" in m.last.history


def test_yeh_baseline_builds_from_the_same_checkpoint(smoke_checkpoint):
    _, path = smoke_checkpoint
    m = methods.get("yeh", checkpoint=path, iters=3, poisson=False, progress=False)
    assert m.name == "yeh" and m.latent.beta == 0.0
    image, hole = faces(1, seed=3), square_hole(1)
    out = m.inpaint(image, hole, seed=0)
    known = (hole == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert "gradient" not in m.last.history
    assert m.latent.patch_prior is False                      # Yeh et al.: one (global) critic as the prior
    assert m.last.history["prior"].shape == (4, 1)


def test_build_takes_a_preset_for_inference_settings(smoke_checkpoint):
    _, path = smoke_checkpoint
    assert W.build(path, progress=False).latent.iters == 10                 # the checkpoint's (smoke) setting
    assert W.build(path, preset="cpu", progress=False).latent.iters == 300  # the CPU preset's shorter search
    assert W.build(path, preset="paper", progress=False).latent.iters == 1000
    assert W.build(path, preset="paper", iters=7, progress=False).latent.iters == 7
    assert W.build_yeh(path, preset="cpu", progress=False).latent.iters == 300
    assert methods.get("wgan_completion", checkpoint=path, preset="smoke", progress=False).latent.iters == 10


def test_missing_checkpoint_names_the_file_and_the_train_command(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FaceInpaintError) as e:
        W.build(missing)
    msg = str(e.value)
    assert str(missing) in msg and "faceinpaint train --method wgan_completion" in msg and "\n" not in msg


def test_presets():
    paper = W.preset_config("paper")
    assert (paper.batch_size, paper.epochs, paper.lr, paper.betas, paper.gp_lambda, paper.z_dim) == (
        64, 10.0, 1e-4, (0.0, 0.9), 10.0, 128)
    assert paper.total_steps(202_599 - 1000) == 31_500   # 10 epochs of CelebA's training split, batch 64
    lat = paper.latent
    assert (lat.alpha, lat.beta, lat.eta, lat.iters, lat.lr, lat.betas, lat.window, lat.z_clamp) == (
        0.1, 0.9, 0.5, 1000, 0.03, (0.9, 0.999), 7, 1.0)
    cpu = W.preset_config("cpu")
    nets = W.build_nets(cpu)
    n_params = sum(p.numel() for m in nets.values() for p in m.parameters()) + sum(
        p.numel() for p in nets["G"].parameters())  # + the EMA copy of G
    assert n_params * 4 < 15e6
    assert W.WGANCompletionConfig.from_dict(cpu.to_dict()) == cpu
    with pytest.raises(FaceInpaintError):
        W.preset_config("huge")


def test_registry_train_entry_point_smoke(tmp_path):
    """``faceinpaint train --method wgan_completion --preset smoke`` on the prepared CelebA-999 split."""
    path = methods.train("wgan_completion", preset="smoke", data=None, out=str(tmp_path / "run"), seed=0)
    assert path.is_file()
    m = W.build(path, iters=2, progress=False)
    image, hole = faces(1), square_hole(1)
    assert torch.equal(m.inpaint(image, hole)[(hole == 0).expand_as(image)], image[(hole == 0).expand_as(image)])


def test_olivetti_as_a_second_training_set():
    data = W._default_dataset(W.preset_config("smoke"), "olivetti")
    assert len(data) == 400
    x = data[0]["image"]
    assert x.shape == (3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x[0], x[1])  # gray faces repeated to RGB
