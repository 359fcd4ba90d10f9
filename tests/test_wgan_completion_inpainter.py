"""Vitoria et al.: the latent search (eq. 5–8), conditional completion (eq. 10–15), the Inpainters
(wgan_completion, yeh) and their loaders."""
import pytest
import torch

from faceinpaint import methods
from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods import wgan_completion as W
from faceinpaint.methods.base import Guide
from faceinpaint.methods.wgan_completion import LatentConfig, complete, complete_conditional
from synthetic import faces, square_hole  # tests/synthetic.py
from wgan_helpers import smoke_checkpoint, tiny_nets  # noqa: F401 (smoke_checkpoint: a fixture; tests/wgan_helpers.py)


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


def test_conditional_search_runs():
    G, D, _ = tiny_nets()
    res = complete_conditional(G, D, faces(1), square_hole(1), faces(1, seed=9), latent=LatentConfig(iters=20),
                               generator=torch.Generator().manual_seed(0))
    assert set(res.history) == {"context", "gradient", "reference", "prior", "total"}
    assert res.history["total"][-1] < res.history["total"][0]


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
