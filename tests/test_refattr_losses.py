"""refattr's own losses (methods/refattr/losses.py) against eq. 4–9 and eq. 12, by hand / independent code."""
import numpy as np
import pytest
import torch

from faceinpaint.methods.refattr import losses as RL
from faceinpaint.pretrained.vgg import to_caffe


def test_attribute_loss_is_eq9():
    g = torch.Generator().manual_seed(0)
    a_aux, a_ext, ae_real = (torch.rand(4, 5, generator=g) for _ in range(3))
    a_gt = (torch.rand(4, 5, generator=g) > 0.5).float()
    want = ((a_aux.numpy() - a_ext.numpy()) ** 2).mean() + ((a_gt.numpy() - ae_real.numpy()) ** 2).mean()
    assert RL.attribute_loss(a_aux, a_ext, ae_real, a_gt).item() == pytest.approx(want, rel=1e-6)
    assert RL.attribute_consistency_loss(a_aux, a_ext).item() == pytest.approx(((a_aux - a_ext) ** 2).mean().item())


def test_attribute_consistency_passes_gradient_to_both_arguments():
    a_aux = torch.rand(2, 3, requires_grad=True)
    a_ext = torch.rand(2, 3, requires_grad=True)
    RL.attribute_consistency_loss(a_aux, a_ext).backward()
    assert a_aux.grad.abs().sum() > 0 and a_ext.grad.abs().sum() > 0   # no detach (the authors' no_grad trap)


class CountingFeatures(torch.nn.Module):
    """Two toy 'layers' and a call counter."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return {"pool1": x * 2.0, "pool2": torch.nn.functional.avg_pool2d(x, 2)}


def _batch(seed=0, n=3, s=16):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, s, s, generator=g) * 2 - 1
    rec = torch.rand(n, 3, s, s, generator=g) * 2 - 1
    hole = torch.zeros(n, 1, s, s)
    hole[:, :, 4:12, 2:9] = 1
    return rec, img, hole


def _gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def test_inpainting_losses_by_hand():
    rec, img, hole = _batch(s=48)
    feats = CountingFeatures()
    t = RL.inpainting_losses(rec, img, hole, feats, layers=("pool1", "pool2"), win_size=3)
    r, i, h = rec.numpy(), img.numpy(), hole.numpy()
    assert t["hole"].item() == pytest.approx(np.abs(h * (r - i)).mean(), rel=1e-5)          # eq. 4–5
    assert t["valid"].item() == pytest.approx(np.abs((1 - h) * (r - i)).mean(), rel=1e-5)
    comp = img * (1 - hole) + rec * hole                                                    # I_comp
    fc, fg = feats.forward(comp), feats.forward(img)
    per = np.mean([(fc[k] - fg[k]).abs().mean().item() for k in ("pool1", "pool2")])       # eq. 6, 1/N Σ
    sty = np.mean([(_gram(fc[k]) - _gram(fg[k])).abs().mean().item() for k in ("pool1", "pool2")])  # eq. 7
    assert t["per"].item() == pytest.approx(per, rel=1e-5)
    assert t["sty"].item() == pytest.approx(sty, rel=1e-5)
    from pytorch_msssim import ms_ssim
    want = 1 - ms_ssim((comp + 1) / 2, (img + 1) / 2, data_range=1.0, win_size=3).item()    # eq. 8 on I_comp
    assert t["ssim"].item() == pytest.approx(want, rel=1e-5)


def test_one_vgg_pass_per_image_for_perceptual_and_style():
    rec, img, hole = _batch(s=48)
    feats = CountingFeatures()
    RL.inpainting_losses(rec, img, hole, feats, layers=("pool1",), win_size=3)
    assert feats.calls == 2  # composite and ground truth, shared by eq. 6 and eq. 7


def test_ablation_switches_and_vgg_batch():
    rec, img, hole = _batch(s=48)
    t = RL.inpainting_losses(rec, img, hole, None, use_perceptual=False, use_ms_ssim=False, win_size=3)
    assert t["per"].item() == t["sty"].item() == t["ssim"].item() == 0.0
    feats = CountingFeatures()
    t1 = RL.inpainting_losses(rec, img, hole, feats, layers=("pool1",), vgg_batch=1, win_size=3)
    t2 = RL.inpainting_losses(rec[:1], img[:1], hole[:1], feats, layers=("pool1",), win_size=3)
    assert t1["per"].item() == pytest.approx(t2["per"].item())


def test_total_loss_is_eq12():
    terms = {k: torch.tensor(v) for k, v in
             {"adv": 0.5, "attr": 0.2, "ssim": 0.3, "sty": 0.01, "per": 2.0, "hole": 0.1, "valid": 0.05}.items()}
    lam = {"adv": 0.1, "ssim": 3, "sty": 120, "per": 0.01, "hole": 6}
    want = 0.1 * 0.5 + 0.2 + 3 * 0.3 + 120 * 0.01 + 0.01 * 2.0 + 6 * 0.1 + 0.05
    assert RL.total_loss(terms, lam).item() == pytest.approx(want)


def test_feature_scale_constants():
    # Caffe input = 127.5 × the [-1, 1] image (plus a constant mean): features scaled by 1/127.5
    x = torch.rand(1, 3, 4, 4) * 2 - 1
    lin = to_caffe(x) - to_caffe(torch.zeros_like(x))
    assert torch.allclose(lin, 127.5 * x.flip(1), atol=1e-4)
    assert RL.CAFFE_FEATURE_SCALE == pytest.approx(1 / 127.5)
    assert RL.TORCHVISION_FEATURE_SCALE == pytest.approx(2 * np.mean([0.229, 0.224, 0.225]))


def test_scaled_features_scale_and_size():
    sf = RL.ScaledFeatures(lambda x: {"pool1": x}, 0.5, size=8)
    x = torch.rand(1, 3, 16, 16)
    out = sf(x)["pool1"]
    assert out.shape[-1] == 8
    assert torch.allclose(out, 0.5 * torch.nn.functional.avg_pool2d(x, 2), atol=1e-6)
