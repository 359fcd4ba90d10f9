"""Vitoria et al.: the presets (section 4's numbers for `paper`)."""
import pytest

from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods import wgan_completion as W


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
