"""EXE-GAN's acceptance (issue 15), on the SHIPPED files ``checkpoints/exegan_cpu.pt`` (G's EMA)
and ``checkpoints/exegan_style_encoder_cpu.pt`` (the frozen style encoder E and the G_u it inverts).

Every claim is measured on the whole test split (100 faces, 64 px, the cpu preset's size) by models
independent of G:

* **the exemplar steers the completion** — face i is completed with the exemplar ``e_i`` (face
  i + 1) under the protocol's **centre square** (:func:`~faceinpaint.methods.exegan.experiments.identity_steering`);
  the face-recognition cosine (:func:`faceinpaint.metrics.identity_similarity`) between the completion
  and its own exemplar must exceed the cosine to another face's exemplar (face i + 2), paired per
  face, beyond twice the standard error. The centre square is the setting chosen before measuring;
  the 50–60 % bin is measured and printed beside it, not asserted (two chances at 2 SE would be a
  looser test than the issue's);
* **smile** — each face completed (same seed, same hole) from an exemplar whose pseudo-label
  Smiling is 1 and one whose Smiling is 0 (:func:`~faceinpaint.methods.exegan.experiments.smile_steering`):
  the completions' P(happy) of the face-api expression net, paired, beyond 2 SE, under the
  **50–60 % bin**'s masks: at 64 px the mouth's landmarks lie at rows 42–55 (mean 48), so the centre
  square (rows 16–47) leaves most of the mouth known, while the 50–60 % masks cover 53 % of the
  mouth's landmarks on average (measured on the 100 test faces). The centre square's number is
  printed beside it;
* **diversity** — the same seed gives the same bytes; across 4 seeds the hole fills' mean pairwise
  VGG19 distance (6 faces, centre square, another face as exemplar) is above zero beyond 2 SE over
  the faces and shrinks as ψ goes 1 → 0.7 → 0.4 → 0;
* **E's codes carry the face** (item 3) — a cross-validated linear probe on E's codes predicts the
  held-out faces' pseudo-attributes (ROC AUC), and Olivetti same-person pairs are closer than
  different-person pairs (verification AUC);
* **FID, U-IDS, P-IDS** — ``faceinpaint evaluate --method exegan --fid`` computes all three on the
  test split's completions and prints them;
* **the CLI** — ``faceinpaint inpaint --method exegan`` on RGB faces of odd sizes (several exemplars,
  ``--psi``, aligned and not) keeps every known pixel; a bad exemplar file gets one line.

A claim the shipped files do not meet is listed in ``SHORTFALLS`` with the numbers measured on them
and runs as a strict xfail with them in its reason (never a loosened threshold). The shipped tests
skip only when the file is absent and ``CI`` is not set (with ``CI=true`` they fail);
``FACEINPAINT_EXEGAN_CHECKPOINT=PATH`` runs them on another G file (its style-encoder file beside
it, e.g. ``runs/exegan_cpu/exegan_cpu.pt``). The ``_smoke`` twins run the same code on a smoke
model trained here in seconds (untrained: the mechanics only).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from acceptance_helpers import claim as shared_claim, required_file  # tests/acceptance_helpers.py
from faceinpaint import cli, metrics
from faceinpaint.io import read_rgb_array, save_image, save_mask
from faceinpaint.methods import exegan as XG
from faceinpaint.methods.base import Guide
from faceinpaint.methods.exegan import experiments as X
from faceinpaint.paths import repo_root

CKPT_ENV = "FACEINPAINT_EXEGAN_CHECKPOINT"
PSIS = (1.0, 0.7, 0.4, 0.0)
SEEDS = tuple(range(4))
N_DIVERSITY, N_SMOKE = 6, 8

# Claims the SHIPPED files do not meet: claim id → the numbers measured on them, each a strict xfail
# (a retrained checkpoint that meets the claim then fails here until its entry is removed). Ids:
# "identity", "smile", "diversity", "encoder".
SHORTFALLS: dict[str, str] = {
    # checkpoints/exegan_cpu.pt (cpu preset: 64 px, prior 1500 + encoder 3600 + inpaint 3500 steps, λ_id 1.0,
    # seed 0), measured 2026-12-02 on the 100 test faces. The exemplar does change the fill (mean |Δ| 0.048 in
    # the hole between two exemplars vs 0.036 between two seeds, at inpaint step 1500) but not, measurably,
    # its identity or smile; L_id stayed at 0.136-0.143 over the whole inpaint stage (log.csv).
    "identity": "own exemplar vs another's, centre square: cosine 0.8640 vs 0.8621, paired difference "
                "+0.0019 ± 0.0043 (SE, 100 faces, z = 0.44); 50–60 % bin: −0.0004 ± 0.0046 (z = −0.08)",
    "smile": "P(happy) with Smiling = 1 vs 0 exemplars, 50–60 % bin: 0.2752 vs 0.2808, paired difference "
             "−0.0056 ± 0.0213 (SE, 100 faces, z = −0.26); centre square: −0.0018 ± 0.0154 (z = −0.12)",
}


def claim(cid: str):
    return shared_claim(SHORTFALLS, 15, cid)


def shipped_path() -> Path:
    env = os.environ.get(CKPT_ENV)
    path = Path(env) if env else XG.default_checkpoint()
    return required_file(path, f"{path}: no EXE-GAN checkpoint — train it with {XG.TRAIN_HINT} and copy "
                               f"runs/exegan_cpu/exegan_cpu.pt and exegan_style_encoder_cpu.pt into checkpoints/ "
                               f"(or set {CKPT_ENV})")


def describe(e: metrics.PairedEffect) -> str:
    return (f"{e.name}: {e.a_mean:.4f} vs {e.b_mean:.4f}, paired difference {e.mean:+.4f} ± {e.se:.4f} "
            f"(SE, {e.n} faces, z = {e.z:.2f})")


# ----------------------------------------------------------------------------- models and faces, once
class Study:
    """The first ``n`` test faces at the model's size; effects computed once and cached."""

    def __init__(self, model: XG.ExeGAN, n: int | None = None):
        self.model = model
        self.images, self.labels, self.landmarks, self.names = X.held_out_faces(model.size, n)
        self.n = len(self.images)
        self._cache: dict = {}

    def holes(self, bin: str = "centre"):
        return X.protocol_holes(self.n, self.model.size, bin)

    def identity(self, bin: str) -> metrics.PairedEffect:
        if ("identity", bin) not in self._cache:
            self._cache[("identity", bin)] = X.identity_steering(self.model, self.images, self.holes(bin))
        return self._cache[("identity", bin)]

    def smile(self, bin: str = "bin_50_60") -> metrics.PairedEffect:
        if ("smile", bin) not in self._cache:
            pos, neg = X.attribute_pairs(self.labels.numpy(), self.names.index("Smiling"), self.n)
            self._cache[("smile", bin)] = X.smile_steering(self.model, self.images, self.landmarks, self.holes(bin),
                                                           self.images[torch.from_numpy(pos)],
                                                           self.images[torch.from_numpy(neg)])
        return self._cache[("smile", bin)]


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    cfg = XG.preset_config("smoke")
    return XG.fit(cfg, XG.default_dataset(cfg, None), tmp_path_factory.mktemp("exegan_smoke"), progress=False,
                  device="cpu")


@pytest.fixture(scope="module")
def smoke_study(smoke_checkpoint):
    return Study(XG.build(smoke_checkpoint), N_SMOKE)


@pytest.fixture(scope="module")
def shipped_study():
    study = Study(XG.build(shipped_path()))
    assert study.n >= 90, f"only {study.n} test faces (the whole split has 100): is the data prepared?"
    return study


# ----------------------------------------------------------------------------- (a) the exemplar steers
def check_identity(study: Study) -> metrics.PairedEffect:
    centre, large = study.identity("centre"), study.identity("bin_50_60")
    for bin, e in (("centre", centre), ("50–60 %", large)):
        assert e.n >= min(90, study.n), f"{bin}: identity scored on {e.n} of {study.n} faces"
        print(f"identity steering, {bin}: {describe(e)}")
    return centre


def test_identity_steering_smoke(smoke_study):
    e = check_identity(smoke_study)
    assert np.isfinite(e.mean) and -2.0 <= e.mean <= 2.0


@pytest.mark.parametrize("cid", [claim("identity")])
def test_identity_steering(shipped_study, cid):
    e = check_identity(shipped_study)
    assert e.beyond(2.0), describe(e)


def check_smile(study: Study) -> metrics.PairedEffect:
    e, centre = study.smile("bin_50_60"), study.smile("centre")
    assert e.n >= min(90, study.n) - study.n // 10, f"P(happy) scored on {e.n} of {study.n} faces"
    print(f"smile steering, 50–60 %: {describe(e)}\nsmile steering, centre: {describe(centre)}")
    return e


def test_smile_steering_smoke(smoke_study):
    e = check_smile(smoke_study)
    assert np.isfinite(e.mean)


@pytest.mark.parametrize("cid", [claim("smile")])
def test_smile_steering(shipped_study, cid):
    e = check_smile(shipped_study)
    assert e.beyond(2.0), describe(e)


# ----------------------------------------------------------------------------- (b) diversity
def check_diversity(study: Study) -> None:
    m = study.model
    k = min(N_DIVERSITY, study.n)
    holes = study.holes()
    a = m.inpaint(study.images[:2], holes[:2], Guide(exemplar=study.images[1:3]), seed=7)
    b = m.inpaint(study.images[:2], holes[:2], Guide(exemplar=study.images[1:3]), seed=7)
    assert torch.equal(a, b), "the same seed gave different bytes"
    net = metrics.PerceptualDistance()
    per_face = [X.diversity_vs_psi(m, study.images[i:i + 1], holes[i:i + 1], study.images[i + 1:i + 2],
                                   seeds=SEEDS, psis=PSIS, net=net) for i in range(k)]
    curves = np.array([[d[p] for p in PSIS] for d in per_face])          # faces × ψ
    means = curves.mean(0)
    print(f"hole-fill diversity (mean pairwise VGG19 distance over {len(SEEDS)} seeds, mean of "
          f"{k} faces): " + ", ".join(f"ψ {p}: {v:.5f}" for p, v in zip(PSIS, means)))
    above = metrics.paired_effect(curves[:, 0], np.zeros(k), "diversity at ψ = 1 vs none")
    assert above.beyond(2.0), describe(above)
    assert all(means[j] > means[j + 1] for j in range(len(PSIS) - 1)), f"not shrinking as ψ → 0: {means}"


def test_diversity_is_real_and_controlled_smoke(smoke_study):
    m = smoke_study.model
    holes = smoke_study.holes()
    a = m.inpaint(smoke_study.images[:2], holes[:2], seed=3)
    assert torch.equal(a, m.inpaint(smoke_study.images[:2], holes[:2], seed=3))
    d = X.diversity_vs_psi(m, smoke_study.images[:1], holes[:1], smoke_study.images[1:2], seeds=(0, 1), psis=(1.0, 0.0))
    assert all(np.isfinite(v) and v >= 0 for v in d.values())


@pytest.mark.parametrize("cid", [claim("diversity")])
def test_diversity_is_real_and_controlled(shipped_study, cid):
    check_diversity(shipped_study)


# ----------------------------------------------------------------------------- (c) E's codes carry the face
@pytest.mark.parametrize("cid", [claim("encoder")])
def test_style_codes_carry_the_face(shipped_study, cid):
    """Probe AUC ≥ 0.6 for every pseudo-attribute of the 100 held-out faces (5-fold, out of fold),
    and Olivetti verification AUC ≥ 0.75 (chance: 0.5)."""
    s = shipped_study
    aucs = X.encoder_attribute_auc(s.model, s.images, s.labels.numpy(), s.names)
    olivetti = X.encoder_olivetti_auc(s.model)
    print("E's codes: probe AUC " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()) + f"; Olivetti AUC {olivetti:.3f}")
    assert all(v >= 0.6 for v in aucs.values()), aucs
    assert olivetti >= 0.75, olivetti


# ----------------------------------------------------------------------------- (d) FID, U-IDS, P-IDS: one command
def check_set_scores(tmp_path: Path, checkpoint: Path | None, limit: int | None, capsys) -> dict:
    argv = ["evaluate", "--method", "exegan", "--bins", "centre", "--fid", "--no-images", "--device", "cpu",
            "--out", str(tmp_path / "eval")]
    argv += ["--checkpoint", str(checkpoint)] if checkpoint else []
    argv += ["--limit", str(limit)] if limit else []
    assert cli.main(argv) == 0
    shown = capsys.readouterr().out
    cell = json.loads((tmp_path / "eval" / "metrics.json").read_text())["summary"]["exegan"]["centre"]
    for k in ("fid", "u_ids", "p_ids"):
        assert k in cell and np.isfinite(cell[k]["mean"]), f"{k} missing from the evaluation: {sorted(cell)}"
    assert 0 <= cell["u_ids"]["mean"] <= 0.5 and 0 <= cell["p_ids"]["mean"] <= 1
    md = (tmp_path / "eval" / "table.md").read_text()
    assert all(f"## {k}" in md for k in ("fid", "u_ids", "p_ids")), "FID / U-IDS / P-IDS not shown in table.md"
    print(f"exegan, centre, {cell['fid']['n']} faces: FID {cell['fid']['mean']:.2f}, U-IDS {cell['u_ids']['mean']:.4f}, "
          f"P-IDS {cell['p_ids']['mean']:.4f}\n{shown[-400:]}")
    return cell


def test_fid_uids_pids_by_one_command_smoke(data_ready, smoke_checkpoint, tmp_path, capsys):
    check_set_scores(tmp_path, smoke_checkpoint, 6, capsys)


def test_fid_uids_pids_by_one_command(data_ready, tmp_path, capsys):
    path = shipped_path()
    cell = check_set_scores(tmp_path, None if path == XG.default_checkpoint() else path, None, capsys)
    assert cell["fid"]["n"] >= 90


# ----------------------------------------------------------------------------- (e) the CLI
def _face(index: int, top: int, left: int, h: int, w: int) -> np.ndarray:
    face = read_rgb_array(repo_root() / "data" / "assets" / "celeba999" / "image_batch" / f"{index:06d}.jpg")
    return face[top:top + h, left:left + w]


def _save(arr: np.ndarray, path: Path) -> Path:
    save_image(torch.from_numpy(arr.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None], path)
    return path


def run_cli_inpaint(tmp_path: Path, checkpoint: Path | None, face: np.ndarray, exemplars: list[Path], *extra: str):
    """``python -m faceinpaint inpaint --method exegan`` with every exemplar: one output each (numbered when
    several), each the input's size with every known byte kept and the hole changed."""
    h, w = face.shape[:2]
    hole = np.zeros((h, w), np.float32)
    hole[int(0.3 * h):int(0.75 * h), int(0.25 * w):int(0.75 * w)] = 1        # the face's centre
    _save(face, tmp_path / "face.png")
    save_mask(hole, tmp_path / "mask.png")
    cmd = [sys.executable, "-m", "faceinpaint", "inpaint", "--method", "exegan", "--image", str(tmp_path / "face.png"),
           "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png"), *extra]
    for e in exemplars:
        cmd += ["--exemplar", str(e)]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    outs = [tmp_path / "out.png"] if len(exemplars) <= 1 else [tmp_path / f"out_{i}.png" for i in range(1, len(exemplars) + 1)]
    src, known = read_rgb_array(tmp_path / "face.png"), hole < 0.5
    results = []
    for o in outs:
        out = read_rgb_array(o)
        assert out.shape == src.shape == (h, w, 3)
        assert np.array_equal(out[known], src[known]), f"{o.name}: a known pixel changed ({' '.join(extra)})"
        assert not np.array_equal(out[~known], src[~known])
        results.append(out)
    return results


def check_cli(tmp_path: Path, checkpoint: Path | None) -> None:
    refs = [_save(_face(i, 0, 0, 218, 178), tmp_path / f"ref{i}.png") for i in (2, 5)]
    (tmp_path / "a").mkdir()    # an odd-sized crop, two exemplars, default --align auto
    a1, a2 = run_cli_inpaint(tmp_path / "a", checkpoint, _face(1, 3, 2, 201, 167), refs, "--psi", "0.7")
    assert not np.array_equal(a1, a2), "two exemplars gave the same completion"
    (tmp_path / "b").mkdir()    # a wider canvas, no exemplar (the stochastic style alone), no alignment
    wide = np.pad(_face(3, 0, 0, 218, 178), ((7, 8), (40, 41), (0, 0)), mode="edge")        # 233×259
    run_cli_inpaint(tmp_path / "b", checkpoint, wide, [], "--align", "off", "--seed", "4")


def check_bad_exemplar(tmp_path: Path, checkpoint: Path | None, capsys) -> None:
    face = _save(_face(1, 0, 0, 218, 178), tmp_path / "face.png")
    hole = np.zeros((218, 178), np.float32)
    hole[70:160, 40:140] = 1
    save_mask(hole, tmp_path / "mask.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    base = ["inpaint", "--method", "exegan", "--image", str(face), "--mask", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "out.png"), "--align", "off"]
    base += ["--checkpoint", str(checkpoint)] if checkpoint else []
    for bad in ("broken.png", "missing.png"):
        code = cli.main(base + ["--exemplar", str(face), "--exemplar", str(tmp_path / bad)])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("faceinpaint: error: ") and bad in lines[0], lines[0]
        assert not list(tmp_path.glob("out*.png")), "an output was written despite the bad exemplar"


def test_cli_inpaint_keeps_every_known_pixel_smoke(data_ready, smoke_checkpoint, tmp_path):
    check_cli(tmp_path, smoke_checkpoint)


def test_cli_inpaint_keeps_every_known_pixel(data_ready, tmp_path):
    path = shipped_path()
    check_cli(tmp_path, None if path == XG.default_checkpoint() else path)


def test_cli_bad_exemplar_is_one_line_smoke(data_ready, smoke_checkpoint, tmp_path, capsys):
    check_bad_exemplar(tmp_path, smoke_checkpoint, capsys)


def test_cli_bad_exemplar_is_one_line(data_ready, tmp_path, capsys):
    path = shipped_path()
    check_bad_exemplar(tmp_path, None if path == XG.default_checkpoint() else path, capsys)
