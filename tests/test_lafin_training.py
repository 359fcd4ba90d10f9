"""LaFIn training: the two stages through the Trainer, G's optimizer schedule, flips and jitter,
resume, export, and the ablation presets' stages."""
from pathlib import Path

import pytest
import torch
from torch import nn

from faceinpaint import landmarks as flm
from faceinpaint import methods
from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods import lafin as L
from faceinpaint.methods.base import Guide
from faceinpaint.train import Trainer, TrainerConfig
from lafin_helpers import LinearFeatures, smoke, spread_landmarks  # tests/lafin_helpers.py
from synthetic import faces, square_hole  # tests/synthetic.py


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
