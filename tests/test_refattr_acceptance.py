"""refattr's acceptance (issue 14), on the SHIPPED checkpoint ``checkpoints/refattr_cpu.pt``.

Every claim is measured on the whole test split (100 faces, 128 px) with the **lower face masked**
(:func:`~faceinpaint.methods.refattr.experiments.lower_face_holes`: nose tip to below the chin, jaw
to jaw — where Smiling, Mouth_Slightly_Open and Big_Lips live), by models independent of G
(:func:`~faceinpaint.methods.refattr.experiments.measure_attributes`, the same models and rules as
the offline pseudo-labels): the expression net's P(happy) for Smiling, the dlib gender net's
P(male) for Male, the dlib age net for Young (younger = lower age), and for Mouth_Slightly_Open /
Big_Lips the inner-lip gap / lip thickness of dlib's 68 landmarks **re-detected on the
completion** (the shape predictor inside the face box dlib finds on the ground truth: the face is
where the input put it, so every face is scored). On the uncompleted faces these measures separate
the faces by their labels (ROC AUC ≥ 0.9, checked below): they measure what the attributes mean.

* **steering** — each face completed with ``attribute = 1`` and ``= 0`` (the other attributes:
  Ext of the face itself); the paired per-face difference of the measure must exceed twice its
  standard error (:func:`~faceinpaint.methods.refattr.experiments.paired_effect`), for Smiling and
  for Mouth_Slightly_Open, and for at least two of Male, Young, Big_Lips;
* **reference transfer** — each face completed from a reference labelled 1 and from one labelled 0
  (``Guide(exemplar=ref)``, nothing given by hand): the same paired test, per attribute;
* **fig. 4's sweep** — the attribute at −1 … 2: the mean measure is monotone in the value;
* **the CLI** — ``faceinpaint inpaint --method refattr`` on RGB faces of odd sizes (``--attr``,
  ``--exemplar``, aligned and not) keeps every known pixel; a bad ``--attr`` gets one line.

Each completion set is completed and measured once (module fixtures) and shared by the tests.
A claim the shipped checkpoint does not meet is listed in ``SHORTFALLS`` with the numbers measured
on it and runs as a strict xfail with them in its reason (never a loosened threshold). The
shipped tests skip only when the file is absent and ``CI`` is not set (with ``CI=true`` they fail);
``FACEINPAINT_REFATTR_CHECKPOINT=PATH`` runs them on another file (e.g. the Trainer's
``runs/refattr_cpu/checkpoint.pt`` while it trains; the SHORTFALLS are the shipped file's). About
2 min on a free core (3.7 min measured with both cores shared). Every test has a ``_smoke`` twin
running the same code on a smoke model trained here in seconds (untrained: the mechanics only —
G gets the asked values, the measures are finite, known pixels are kept).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from acceptance_helpers import claim as shared_claim, required_file  # tests/acceptance_helpers.py
from faceinpaint import cli
from faceinpaint.io import read_rgb_array, save_image, save_mask
from faceinpaint.methods import refattr as R
from faceinpaint.methods.base import Guide
from faceinpaint.methods.refattr import experiments as X
from faceinpaint.paths import repo_root

CKPT_ENV = "FACEINPAINT_REFATTR_CHECKPOINT"
SWEEP = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)        # fig. 4: negative to beyond 1
MORE = ("Male", "Young", "Big_Lips")                  # "at least two more of the preset's attributes"
SWEPT = ("Smiling", "Mouth_Slightly_Open")            # the lower-face attributes whose sweep is tested
N_SMOKE, BATCH = 8, 50

# Claims the SHIPPED checkpoint does not meet: claim id → the numbers measured on it (``pytest -s``
# prints them), each turned into a strict xfail (so a retrained checkpoint that meets the claim
# fails here until its entry is removed). Never loosen a threshold instead. Ids: "steering[<attr>]",
# "steering[two more]", "transfer[<attr>]", "sweep[<attr>]".
SHORTFALLS: dict[str, str] = {
    # checkpoints/refattr_cpu.pt (cpu preset, 1500 AE + 4500 full steps, seed 0), measured 2026-12-02 on the
    # 100 test faces with the lower face masked. Ext separates the references (Male 0.594 vs 0.136, Young
    # 0.853 vs 0.668), but G at this budget barely draws sex or age into the lower face.
    "transfer[Male]": "Male via p_male: references with Male=1 vs 0 give 0.4294 vs 0.4265, paired difference "
                      "+0.0029 ± 0.0024 (SE, 100 faces, z = 1.20)",
    "transfer[Young]": "Young via age: references with Young=1 vs 0 give age 39.73 vs 39.93, paired difference "
                       "+0.205 ± 0.114 years in the right direction (SE, 100 faces, z = 1.80)",
}


def claim(cid: str, *values):
    """The test parameter of claim ``cid``: a strict xfail when the claim is a known shortfall."""
    return shared_claim(SHORTFALLS, 14, cid, *values)


def shipped_path() -> Path:
    """The shipped file (or ``$FACEINPAINT_REFATTR_CHECKPOINT``); skip locally / fail in CI without it."""
    env = os.environ.get(CKPT_ENV)
    path = Path(env) if env else R.shipped_checkpoint()
    return required_file(path, f"{path}: no refattr checkpoint — train it with {R.TRAIN_HINT} and copy "
                               f"runs/refattr_cpu/refattr_cpu.pt into checkpoints/ (or set {CKPT_ENV})")


# ----------------------------------------------------------------------------- completions, measured once
@dataclass
class Completed:
    """One completion set: composites, the attribute vectors G got, their sources, the measures."""

    images: torch.Tensor
    attributes: torch.Tensor
    source: list[str]
    measures: dict[str, np.ndarray]


class Study:
    """The first ``n`` test faces (None: all), lower face masked; completion sets by guide, cached."""

    def __init__(self, model: R.RefAttr, n: int | None = None):
        self.model = model
        self.images, self.labels, self.landmarks, self.names = X.held_out_faces("cpu", limit=n)
        self.n = len(self.images)
        self.holes = X.lower_face_holes(self.landmarks, self.images.shape[-1])
        self.boxes = X.face_boxes(self.images)          # dlib on the ground truth, once
        self._sets: dict[tuple, Completed] = {}

    def _complete(self, key: tuple, guide_of) -> Completed:
        if key not in self._sets:
            outs, attrs, source = [], [], None
            for i in range(0, self.n, BATCH):
                j = min(i + BATCH, self.n)
                outs.append(self.model.inpaint(self.images[i:j], self.holes[i:j], guide_of(i, j)))
                attrs.append(self.model.last.attributes)
                source = self.model.last.source
            comp = torch.cat(outs)
            known = (self.holes < 0.5).expand_as(self.images)
            assert torch.equal(comp[known], self.images[known]), f"{key}: a known pixel changed"
            self._sets[key] = Completed(comp, torch.cat(attrs), source,
                                        X.measure_attributes(comp, self.landmarks, boxes=self.boxes))
        return self._sets[key]

    def given(self, attribute: str, value: float) -> Completed:
        """``attribute = value``, the other attributes Ext of the face itself (as ``experiments.steering``)."""
        v = float(value)
        return self._complete(("given", attribute, v),
                              lambda i, j: Guide(exemplar=self.images[i:j], attributes={attribute: v}))

    def reference_indices(self, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        return X.reference_pairs(self.labels, self.names.index(attribute), self.n)

    def reference(self, attribute: str, label: int) -> Completed:
        """Every face completed from a reference face whose ``attribute`` label is ``label``."""
        pos, neg = self.reference_indices(attribute)
        refs = self.images[torch.from_numpy(pos if label == 1 else neg)]
        return self._complete(("reference", attribute, label), lambda i, j: Guide(exemplar=refs[i:j]))


def describe(e: X.PairedEffect) -> str:
    return (f"{e.attribute} via {e.measure}: 1 vs 0 {e.high_mean:.4f} vs {e.low_mean:.4f}, paired difference "
            f"{e.mean:+.4f} ± {e.se:.4f} (SE, {e.n} faces, z = {e.z:.2f})")


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    """The smoke preset trained here (seconds): untrained weights, for the mechanics only."""
    cfg = R.preset_config("smoke")
    return R.fit(cfg, R.default_dataset(cfg, None), tmp_path_factory.mktemp("refattr_smoke"), progress=False,
                 device="cpu")


@pytest.fixture(scope="module")
def smoke_study(smoke_checkpoint):
    return Study(R.build(smoke_checkpoint), N_SMOKE)


@pytest.fixture(scope="module")
def shipped_study():
    study = Study(R.build(shipped_path()))
    assert study.n >= 90, f"only {study.n} test faces (the whole split has 100): is the data prepared?"
    failed = sum(b is None for b in study.boxes)
    assert failed <= study.n // 10, f"dlib found no face on {failed} of {study.n} ground-truth faces"
    return study


# ----------------------------------------------------------------------------- the instruments
def test_measures_agree_with_the_labels_on_real_faces(data_ready):
    """The independent measures, applied to the uncompleted test faces (lip landmarks re-detected in
    dlib's box on the face itself), separate the faces by their pseudo-labels (ROC AUC ≥ 0.9 on the
    first 40): each measure is the quantity its attribute means, so a shift in it is a shift in the
    attribute. Measured: AUC 1.00 / 1.00 / 0.997 / 0.96 / 0.99 (Male, Young, Smiling,
    Mouth_Slightly_Open, Big_Lips)."""
    from sklearn.metrics import roc_auc_score

    images, labels, landmarks, names = X.held_out_faces("cpu", limit=40)
    m = X.measure_attributes(images, landmarks, boxes=X.face_boxes(images))
    for j, name in enumerate(names):
        measure, sign = X.MEASURES[name]
        ok = np.isfinite(m[measure])
        assert ok.sum() >= 36, f"{measure} scored on {ok.sum()} of 40 real faces"
        auc = roc_auc_score(labels[ok, j].numpy(), sign * m[measure][ok])
        assert auc >= 0.9, f"{name}: {measure} vs its label, AUC {auc:.3f}"


# ----------------------------------------------------------------------------- (a) steering
def steering_effect(study: Study, attribute: str) -> X.PairedEffect:
    measure, sign = X.MEASURES[attribute]
    col = study.names.index(attribute)
    hi, lo = study.given(attribute, 1.0), study.given(attribute, 0.0)
    for c, v in ((hi, 1.0), (lo, 0.0)):   # G got the asked value there, Ext of the face elsewhere
        assert torch.all(c.attributes[:, col] == v)
        assert c.source == ["given" if k == col else "exemplar" for k in range(len(study.names))]
    assert torch.equal(hi.attributes[:, [k for k in range(len(study.names)) if k != col]],
                       lo.attributes[:, [k for k in range(len(study.names)) if k != col]])
    assert not torch.equal(hi.images, lo.images), f"{attribute}: 1 and 0 give the same completions"
    e = X.paired_effect(hi.measures[measure], lo.measures[measure], attribute, measure, sign)
    assert e.n >= 0.9 * study.n, f"{attribute}: {measure} scored on only {e.n} of {study.n} faces"
    assert math.isfinite(e.mean) and math.isfinite(e.se)
    print(describe(e))
    return e


@pytest.mark.parametrize("attribute", ["Smiling", "Mouth_Slightly_Open"])
def test_attribute_steers_the_completion_smoke(smoke_study, attribute):
    steering_effect(smoke_study, attribute)


@pytest.mark.parametrize("attribute", [claim(f"steering[{a}]", a) for a in ("Smiling", "Mouth_Slightly_Open")])
def test_attribute_steers_the_completion(shipped_study, attribute):
    e = steering_effect(shipped_study, attribute)
    assert e.beyond(2.0), describe(e)


def check_two_more(study: Study) -> list[X.PairedEffect]:
    effects = [steering_effect(study, a) for a in MORE]
    assert len({e.measure for e in effects}) == len(MORE)    # each with its own independent measure
    return effects


def test_two_more_attributes_steer_the_completion_smoke(smoke_study):
    check_two_more(smoke_study)


@pytest.mark.parametrize("group", [claim("steering[two more]", "two more")])
def test_two_more_attributes_steer_the_completion(shipped_study, group):
    effects = check_two_more(shipped_study)
    passed = [e.attribute for e in effects if e.beyond(2.0)]
    assert len(passed) >= 2, "; ".join(describe(e) for e in effects)


# ----------------------------------------------------------------------------- (b) reference transfer
def transfer_effect(study: Study, attribute: str) -> X.PairedEffect:
    measure, sign = X.MEASURES[attribute]
    col = study.names.index(attribute)
    pos_idx, neg_idx = study.reference_indices(attribute)
    assert (study.labels[pos_idx, col] == 1).all() and (study.labels[neg_idx, col] == 0).all()
    pos, neg = study.reference(attribute, 1), study.reference(attribute, 0)
    for c, idx in ((pos, pos_idx), (neg, neg_idx)):   # every column read from the reference by Ext
        assert c.source == ["exemplar"] * len(study.names)
        assert torch.allclose(c.attributes, study.model.extract(study.images[torch.from_numpy(idx)]), atol=1e-5)
    e = X.paired_effect(pos.measures[measure], neg.measures[measure], attribute, measure, sign)
    assert e.n >= 0.9 * study.n and math.isfinite(e.mean) and math.isfinite(e.se)
    print(describe(e), f"| Ext's {attribute} of the references: {float(pos.attributes[:, col].mean()):.3f} "
                       f"(label 1) vs {float(neg.attributes[:, col].mean()):.3f} (label 0)")
    return e


@pytest.mark.parametrize("attribute", list(X.MEASURES))
def test_reference_transfer_smoke(smoke_study, attribute):
    transfer_effect(smoke_study, attribute)


@pytest.mark.parametrize("attribute", [claim(f"transfer[{a}]", a) for a in X.MEASURES])
def test_reference_transfer(shipped_study, attribute):
    e = transfer_effect(shipped_study, attribute)
    assert e.beyond(2.0), describe(e)


# ----------------------------------------------------------------------------- (c) fig. 4's sweep
def sweep_curve(study: Study, attribute: str) -> dict[float, float]:
    """Mean signed measure at each swept value (the other attributes: Ext of the face)."""
    measure, sign = X.MEASURES[attribute]
    col = study.names.index(attribute)
    curve = {}
    for v in SWEEP:
        c = study.given(attribute, v)
        assert torch.all(c.attributes[:, col] == v)          # values outside {0, 1} reach G as given
        curve[v] = float(sign * np.nanmean(c.measures[measure]))
    assert all(math.isfinite(y) for y in curve.values())
    print(f"{attribute} sweep, mean {'−' if sign < 0 else ''}{measure}: "
          + ", ".join(f"{v:+.1f}: {y:.4f}" for v, y in curve.items()))
    return curve


@pytest.mark.parametrize("attribute", SWEPT)
def test_fig4_sweep_is_monotone_smoke(smoke_study, attribute):
    assert isinstance(X.is_monotone(sweep_curve(smoke_study, attribute)), bool)


@pytest.mark.parametrize("attribute", [claim(f"sweep[{a}]", a) for a in SWEPT])
def test_fig4_sweep_is_monotone(shipped_study, attribute):
    curve = sweep_curve(shipped_study, attribute)
    assert X.is_monotone(curve), f"{attribute}: {curve}"


# ----------------------------------------------------------------------------- (c′) fig. 6: LBAM alone is worse
FIG6_FACES, FIG6_BINS = 40, ("bin_40_50", "centre")


def test_fig6_lbam_alone_is_worse_than_refattr(data_ready):
    """Fig. 6's direction on the shipped files: ``refattr_noattr_cpu.pt`` (LBAM alone, the same G
    steps) completes the same faces under the same masks worse than ``refattr_cpu.pt`` on at least
    two of hole L1, SSIM and the VGG19 distance, each paired per (face, mask) beyond 2 SE
    (:meth:`faceinpaint.evaluate.EvalResult.worse`). 40 faces × 2 bins here; on all 100 × 3 bins
    (20–30 %, 40–50 %, centre) it measured L1 +0.0014 ± 0.0006, SSIM −0.0066 ± 0.0005, VGG19
    +0.019 ± 0.003 (checkpoints/README.md). The other two ablations are not trained yet."""
    from faceinpaint.evaluate import load_test_split

    noattr = R.shipped_checkpoint("noattr")
    required_file(noattr, f"{noattr} is missing")
    shipped_path()
    models = X.load_variants(["full", "noattr"])
    result, _ = X.ablation_table(models, load_test_split(128, FIG6_FACES), bins=list(FIG6_BINS), fid=False, nme=False)
    worse = {m: result.worse(X.VARIANTS["noattr"], X.VARIANTS["full"], m) for m in ("l1_hole", "ssim", "vgg19_perceptual")}
    for m, e in worse.items():
        print(f"fig. 6, LBAM alone − refattr, {m} (positive = worse): {e.mean:+.5f} ± {e.se:.5f} (n {e.n}, z {e.z:.2f})")
    assert all(e.n == FIG6_FACES * len(FIG6_BINS) for e in worse.values())
    assert sum(e.beyond(2.0) for e in worse.values()) >= 2, worse


# ----------------------------------------------------------------------------- (d) the CLI
def _face(index: int, top: int, left: int, h: int, w: int) -> np.ndarray:
    face = read_rgb_array(repo_root() / "data" / "assets" / "celeba999" / "image_batch" / f"{index:06d}.jpg")
    return face[top:top + h, left:left + w]


def run_cli_inpaint(tmp_path: Path, checkpoint: Path | None, face: np.ndarray, *extra: str) -> None:
    """``python -m faceinpaint inpaint --method refattr`` on ``face``: same size out, known bytes kept."""
    h, w = face.shape[:2]
    image = torch.from_numpy(face.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    hole = torch.zeros(1, 1, h, w)
    hole[..., int(0.58 * h):int(0.85 * h), int(0.25 * w):int(0.75 * w)] = 1     # mouth and chin
    hole[..., int(0.1 * h):int(0.17 * h), int(0.05 * w):int(0.35 * w)] = 1
    save_image(image, tmp_path / "face.png")
    save_mask(hole[0, 0].numpy(), tmp_path / "mask.png")
    cmd = [sys.executable, "-m", "faceinpaint", "inpaint", "--method", "refattr", "--image", str(tmp_path / "face.png"),
           "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png"), *extra]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out, src = read_rgb_array(tmp_path / "out.png"), read_rgb_array(tmp_path / "face.png")
    assert out.shape == src.shape == (h, w, 3)
    known = hole[0, 0].numpy() < 0.5
    assert np.array_equal(out[known], src[known]), f"a known pixel changed ({' '.join(extra)})"
    assert not np.array_equal(out[~known], src[~known])


def check_cli(tmp_path: Path, checkpoint: Path | None) -> None:
    ref = tmp_path / "ref.png"
    save_image(torch.from_numpy(_face(2, 0, 0, 218, 178).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None], ref)
    # an odd-sized crop, attributes given (default --align auto: the face is found and aligned)
    (tmp_path / "a").mkdir()
    run_cli_inpaint(tmp_path / "a", checkpoint, _face(1, 3, 2, 201, 167), "--attr", "Smiling=1.5", "--attr", "Male=0")
    # a larger, wider canvas (the face padded by edge pixels), a reference face, no alignment
    (tmp_path / "b").mkdir()
    wide = np.pad(_face(3, 0, 0, 218, 178), ((7, 8), (40, 41), (0, 0)), mode="edge")        # 233×259
    run_cli_inpaint(tmp_path / "b", checkpoint, wide, "--exemplar", str(ref), "--align", "off",
                    "--attr", "Mouth_Slightly_Open=-1")


def check_bad_attr(tmp_path: Path, checkpoint: Path | None, capsys) -> None:
    """Unknown name, non-number, no '=': exit 1, one line naming the problem, nothing written."""
    face = tmp_path / "face.png"
    save_image(torch.from_numpy(_face(1, 0, 0, 218, 178).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None], face)
    hole = np.zeros((218, 178), np.float32)
    hole[130:180, 50:130] = 1
    save_mask(hole, tmp_path / "mask.png")
    base = ["inpaint", "--method", "refattr", "--image", str(face), "--mask", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "out.png"), "--align", "off"]
    base += ["--checkpoint", str(checkpoint)] if checkpoint else []
    for bad, why in [("Bald=1", "unknown attribute 'Bald'"), ("Smiling=yes", "'yes' is not a number"),
                     ("Smiling", "expected NAME=VALUE")]:
        code = cli.main(base + ["--attr", "Male=1", "--attr", bad])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("faceinpaint: error: --attr") and why in lines[0], lines[0]
        assert not (tmp_path / "out.png").exists()


def test_cli_inpaint_keeps_every_known_pixel_smoke(data_ready, smoke_checkpoint, tmp_path):
    check_cli(tmp_path, smoke_checkpoint)


def test_cli_inpaint_keeps_every_known_pixel(data_ready, tmp_path):
    path = shipped_path()
    check_cli(tmp_path, None if path == R.shipped_checkpoint() else path)   # no --checkpoint: the shipped one


def test_cli_bad_attr_is_one_line_smoke(data_ready, smoke_checkpoint, tmp_path, capsys):
    check_bad_attr(tmp_path, smoke_checkpoint, capsys)


def test_cli_bad_attr_is_one_line(data_ready, tmp_path, capsys):
    path = shipped_path()
    check_bad_attr(tmp_path, None if path == R.shipped_checkpoint() else path, capsys)
