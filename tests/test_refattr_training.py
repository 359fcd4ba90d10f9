"""refattr's training (methods/refattr/training.py): gradients reach G from every term (none of the
authors' traps), the critic's signs, masks, the dataset, and a smoke training end to end."""
import contextlib

import numpy as np
import pytest
import torch

from faceinpaint import losses as shared
from faceinpaint.errors import DataError, FaceInpaintError
from faceinpaint.methods.refattr import config as C
from faceinpaint.methods.refattr import training as T


class ToyFeatures(torch.nn.Module):
    def forward(self, x):
        return {"pool1": torch.nn.functional.avg_pool2d(x, 2)}


def small_task(**over):
    torch.manual_seed(0)
    cfg = C.preset_config("smoke", vgg_layers=("pool1",), **over)
    return T.RefAttrTask(cfg, features=ToyFeatures() if cfg.use_perceptual else None), cfg


def fake_batch(cfg, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    lm = torch.tensor(np.array(T.TEMPLATE_LOWER_FACE)).float()  # unused values: landmarks NaN → template
    return {"image": torch.rand(n, 3, s, s, generator=g) * 2 - 1,
            "landmarks": torch.full((n, 68, 2), float("nan")) + 0 * lm.sum(),
            "attributes": (torch.rand(n, len(cfg.attributes), generator=g) > 0.5).float()}


def grads(module):
    return [p.grad for p in module.parameters()]


def nonzero(gs):
    return any(g is not None and g.abs().sum() > 0 for g in gs)


@pytest.mark.parametrize("term", ["adv", "attr"])
def test_generator_receives_adversarial_and_attribute_gradients(term):
    task, cfg = small_task()
    b = fake_batch(cfg)
    hole = T.training_holes(cfg, b["landmarks"], 2, np.random.default_rng(0))
    dec = task.decodes(b["image"], 1 - hole, b["attributes"])
    terms = task.generator_terms(b["image"], hole, dec)
    for net in task.nets.values():
        net.zero_grad(set_to_none=True)
    terms[term].backward()
    assert nonzero(grads(task.nets["G"])), f"G got no gradient from L_{term}"
    assert nonzero(grads(task.nets["Ext"])), f"Ext got no gradient from L_{term}"


def test_critic_loss_signs_and_ae_term():
    task, cfg = small_task()
    b = fake_batch(cfg)
    fake = torch.rand_like(b["image"]) * 2 - 1
    D, AE = task.nets["D"].eval(), task.nets["AE"].eval()  # fixed spectral-norm vectors
    torch.manual_seed(1)
    d = task.critic_loss(b["image"], fake, b["attributes"])
    want_w = D(fake).mean() - D(b["image"]).mean()       # eq. 11 as the critic's minimisation objective
    assert d["d_wgan"].item() == pytest.approx(want_w.item(), rel=1e-5, abs=1e-7)
    torch.manual_seed(1)
    gp = shared.gradient_penalty(D, b["image"], fake)
    assert d["gp"].item() == pytest.approx(gp.item(), rel=1e-5)
    ae = ((AE(b["image"]) - b["attributes"]) ** 2).mean()  # eq. 9, second term, A_gt in {0, 1}
    assert d["ae"].item() == pytest.approx(ae.item(), rel=1e-5)
    assert d["total"].item() == pytest.approx((want_w + 10 * gp + ae).item(), rel=1e-4)


class FakeCtx:
    """The StepContext subset a Task uses, with plain SGD so any gradient moves a weight."""

    def __init__(self, task):
        self.task = task
        self.opts = task.make_optimizers()
        self.optimizers = self.opts
        self.calls = []

    def autocast(self):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def frozen(self, *names):
        ps = [p for n in names for p in self.task.nets[n].parameters()]
        for p in ps:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in ps:
                p.requires_grad_(True)

    def optimize(self, name, loss):
        self.calls.append(name)
        opt = self.opts[name]
        for m in self.task.nets.values():  # record only this loss's gradients
            m.zero_grad(set_to_none=True)
        loss.backward()
        self.grads = {n: [p.grad for p in m.parameters()] for n, m in self.task.nets.items()}
        opt.step()


def test_train_step_one_attribute_range_and_frozen_critic_in_g_step():
    task, cfg = small_task(ae_pretrain_steps=0)
    b = fake_batch(cfg)
    seen = []
    orig = task.nets["G"].decode
    task.nets["G"].decode = lambda enc, a: (seen.append(a), orig(enc, a))[1]
    ctx = FakeCtx(task)
    logs = task.train_step(b, 0, ctx)
    assert ctx.calls == ["D", "G"]
    assert torch.equal(seen[0], b["attributes"])               # A_gt as labelled: {0, 1}, no −0.5 shift
    assert (seen[1] >= 0).all() and (seen[1] <= 1).all()       # A_ext = Ext(I_gt) in the same range
    # G's step: D and AE frozen (no .grad), G and Ext trained
    assert all(g is None for g in ctx.grads["D"]) and all(g is None for g in ctx.grads["AE"])
    assert nonzero(ctx.grads["G"]) and nonzero(ctx.grads["Ext"])
    assert {"hole", "valid", "per", "sty", "ssim", "adv", "attr", "d_wgan", "gp", "ae"} <= set(logs)


def test_ae_pretraining_trains_ae_only():
    task, cfg = small_task(ae_pretrain_steps=5)
    ctx = FakeCtx(task)
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in task.nets.items()}
    logs = task.train_step(fake_batch(cfg), 0, ctx)
    assert logs["phase"] == 0.0 and ctx.calls == ["D"]
    moved = {n: any(not torch.equal(a, p) for a, p in zip(before[n], m.parameters())) for n, m in task.nets.items()}
    assert moved == {"G": False, "D": False, "Ext": False, "AE": True}


def test_g_a_parameters_stay_in_range_after_steps():
    task, cfg = small_task(ae_pretrain_steps=0, g_lr=10.0)
    ctx = FakeCtx(task)
    task.train_step(fake_batch(cfg), 0, ctx)
    for g in task.nets["G"].gauss_activations():
        eps = 1e-6  # float32 of the bounds
        assert 1.01 - eps <= g.a.item() <= 6 + eps and 0.1 - eps <= g.mu.item() <= 3 + eps
        assert 0.5 - eps <= g.sigma1.item() <= 2 + eps and 0.5 - eps <= g.sigma2.item() <= 2 + eps


def test_noattr_variant_has_no_extractors():
    task, cfg = small_task(use_attributes=False)
    assert set(task.nets) == {"G", "D"} and task.nets["G"].n_attrs == 0
    b = fake_batch(cfg)
    logs = task.train_step(b, 0, FakeCtx(task))
    assert "attr" not in logs and "ae" not in logs


def test_lower_face_box_covers_the_mouth():
    rng = np.random.default_rng(0)
    lm = np.zeros((68, 2))
    lm[:, 0], lm[:, 1] = 64, 64
    lm[2:15, 0] = np.linspace(30, 98, 13)
    lm[30] = (64, 80)
    lm[8] = (64, 118)
    lm[48:68] = np.array([[50 + i, 96] for i in range(20)])
    box = T.lower_face_box(lm, 128)
    ys, xs = np.nonzero(box)
    assert ys.min() == 80 and xs.min() == 30 and xs.max() == 97 and ys.max() == min(127, round(118 + 0.02 * 128) - 1)
    assert box[96, 50:70].all()
    jittered = T.lower_face_box(lm, 128, rng, jitter=0.04)
    assert 0.5 < jittered.sum() / box.sum() < 1.5
    assert T.lower_face_box(None, 128).sum() > 0  # the template without landmarks


def test_training_holes_kinds():
    cfg = C.preset_config("smoke", lower_face_prob=1.0)
    h = T.training_holes(cfg, None, 3, np.random.default_rng(0))
    assert h.shape == (3, 1, 64, 64)
    assert (h[:, 0][:, 44:56, 22:42] == 1).all()   # the template's lower face is always in the hole
    cfg0 = C.preset_config("smoke", lower_face_prob=0.0)
    h0 = T.training_holes(cfg0, None, 8, np.random.default_rng(0))
    assert ((h0 > 0).flatten(1).any(1)).all() and h0.mean() < 0.9


def test_attribute_faces_filters_and_reorders(data_ready):
    cfg = C.preset_config("smoke")
    ds = T.default_dataset(cfg, None)
    assert ds.names == list(cfg.attributes)
    assert np.isin(ds.values, (0.0, 1.0)).all() and len(ds) > 800
    it = ds[0]
    raw = ds.dataset[int(ds.keep[0])]
    cols = [ds.dataset.attribute_names.index(n) for n in ("Smiling", "Male")]
    two = T.AttributeFaces(ds.dataset, ["Smiling", "Male"])
    assert torch.equal(two[0]["attributes"], raw["attributes"][cols]) and it["image"].shape == (3, 64, 64)
    with pytest.raises(DataError, match="Mustache"):
        T.AttributeFaces(ds.dataset, ["Mustache"])


def test_presets_and_names():
    assert C.inference_name("cpu") == "refattr_cpu.pt"
    assert C.inference_name("cpu_nomsssim") == "refattr_nomsssim_cpu.pt"
    assert C.inference_name("smoke_noattr") == "refattr_noattr_smoke.pt"
    p = C.preset_config("paper")
    assert (p.lambda_adv, p.lambda_ssim, p.lambda_sty, p.lambda_per, p.lambda_hole) == (0.1, 3, 120, 0.01, 6)
    assert p.image_size == 256 and len(p.attributes) == 8 and p.g_width == 64
    assert C.preset_config("cpu").attributes == ("Male", "Young", "Smiling", "Mouth_Slightly_Open", "Big_Lips")
    assert C.preset_config("cpu_noperceptual").variant == "noperceptual"
    assert not C.preset_config("cpu_noattr").use_attributes and C.preset_config("smoke_nomsssim").steps == 3
    with pytest.raises(FaceInpaintError, match="unknown preset"):
        C.preset_config("nope")


def test_smoke_training_end_to_end(tmp_path, data_ready):
    from faceinpaint.methods.refattr import build
    from faceinpaint.train import read_checkpoint

    out = T.train("smoke", None, tmp_path / "run", seed=0)
    assert out.name == "refattr_smoke.pt"
    slim = read_checkpoint(out)
    assert set(slim["nets"]) == {"G_ema", "Ext"}                 # no critic, no AE in the inference file
    meta = slim["meta"]
    assert meta["attribute_names"] == list(C.preset_config("smoke").attributes)
    assert len(meta["attribute_prior"]) == 5 and "Smiling" in meta["attribute_provenance"]
    full = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert {"G", "G_ema", "D", "Ext", "AE"} <= set(full["nets"]) and full["step"] == 3
    m = build(out)
    img = torch.rand(1, 3, 80, 70) * 2 - 1
    hole = torch.zeros(1, 1, 80, 70)
    hole[:, :, 40:70, 10:60] = 1
    res = m.inpaint(img, hole)
    assert torch.equal(res[(hole < 0.5).expand_as(img)], img[(hole < 0.5).expand_as(img)])
    # resuming a finished run returns at once with the same file
    again = T.train("smoke", None, tmp_path / "run", resume=True, seed=0)
    assert again == out
