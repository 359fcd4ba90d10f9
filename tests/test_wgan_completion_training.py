"""Vitoria et al.: WGAN-GP training of the prior through the Trainer, export, the registry entry point."""
import torch

from faceinpaint import methods
from faceinpaint.methods import wgan_completion as W
from synthetic import faces, square_hole  # tests/synthetic.py
from wgan_helpers import smoke_checkpoint  # noqa: F401 (a fixture; tests/wgan_helpers.py)


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


def test_registry_train_entry_point_smoke(tmp_path):
    """``faceinpaint train --method wgan_completion --preset smoke`` on the prepared CelebA-999 split."""
    path = methods.train("wgan_completion", preset="smoke", data=None, out=str(tmp_path / "run"), seed=0)
    assert path.is_file()
    m = W.build(path, iters=2, progress=False)
    image, hole = faces(1), square_hole(1)
    assert torch.equal(m.inpaint(image, hole)[(hole == 0).expand_as(image)], image[(hole == 0).expand_as(image)])


def test_olivetti_as_a_second_training_set():
    data = W.default_dataset(W.preset_config("smoke"), "olivetti")
    assert len(data) == 400
    x = data[0]["image"]
    assert x.shape == (3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x[0], x[1])  # gray faces repeated to RGB
