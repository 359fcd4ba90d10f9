"""The command line (cli.py): stable commands, one-line errors, nothing written on failure."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from badimages import EXPECTED, make_bad_images  # tests/badimages.py: the shared bad-image set
from faceinpaint import cli
from faceinpaint.errors import FaceInpaintError

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    assert lines[0].startswith("faceinpaint: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def smooth_face(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth non-trivial RGB picture (uint8), so inpainting has something to continue."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * xx + 1), np.cos(4 * yy), np.sin(2 * (xx + yy))], -1)
    noise = rng.normal(0, 0.05, (h, w, 3))
    return np.clip((base + noise + 1) * 127.5, 0, 255).astype(np.uint8)


def write_png(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path)
    return path


def write_mask(h: int, w: int, path: Path, box=None) -> Path:
    m = np.zeros((h, w), np.uint8)
    t, l, b, r = box or (h // 4, w // 4, h // 2, 3 * w // 4)
    m[t:b, l:r] = 255
    Image.fromarray(m, mode="L").save(path)
    return path


@pytest.fixture
def pair(tmp_path):
    """A 70×90 (odd, non-square) RGB PNG and its mask."""
    img = write_png(smooth_face(70, 90), tmp_path / "face.png")
    mask = write_mask(70, 90, tmp_path / "face_mask.png")
    return img, mask


# ----------------------------------------------------------------------------- inpaint
@pytest.mark.parametrize("method", ["telea", "navier_stokes", "biharmonic"])
def test_inpaint_classical_keeps_known_bytes(capsys, tmp_path, pair, method):
    img, mask = pair
    out = tmp_path / "out" / "result.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--method", method, "--image", img, "--mask", mask, "--out", out)
    assert code == 0, err
    src, res = np.asarray(Image.open(img)), np.asarray(Image.open(out))
    hole = np.asarray(Image.open(mask)) >= 128
    assert res.shape == src.shape and res.dtype == np.uint8
    np.testing.assert_array_equal(res[~hole], src[~hole])  # known pixels: the input's exact bytes
    assert (res[hole] != src[hole]).any()                  # the hole was filled, not copied


def test_inpaint_via_subprocess_and_exemplar(tmp_path, pair):
    """The real entry point (`python -m faceinpaint`), with an exemplar of another size."""
    img, mask = pair
    ex = write_png(smooth_face(40, 30, seed=5), tmp_path / "ex.png")
    out = tmp_path / "o.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "faceinpaint", "inpaint", "--method", "telea", "--image", str(img),
                        "--mask", str(mask), "--exemplar", str(ex), "--seed", "3", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert out.is_file() and Image.open(out).size == (90, 70)


def test_inpaint_subprocess_error_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "faceinpaint", "inpaint", "--method", "telea", "--image",
                        str(tmp_path / "missing.png"), "--mask", str(tmp_path / "m.png"), "--out",
                        str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [f"faceinpaint: error: {tmp_path / 'missing.png'}: no such file"]
    assert not (tmp_path / "o.png").exists()


def test_inpaint_mask_size_mismatch(capsys, tmp_path, pair):
    img, _ = pair
    bad = write_mask(64, 64, tmp_path / "small_mask.png")
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", bad, "--out", out)
    assert_one_line_error(code, err, "small_mask.png", "64×64", "90×70")
    assert not out.exists()


@pytest.mark.parametrize("case", ["empty_mask", "full_mask"])
def test_inpaint_useless_masks(capsys, tmp_path, pair, case):
    img, _ = pair
    m = np.full((70, 90), 0 if case == "empty_mask" else 255, np.uint8)
    mask = tmp_path / f"{case}.png"
    Image.fromarray(m, mode="L").save(mask)
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", mask, "--out", out)
    assert_one_line_error(code, err, f"{case}.png")
    assert not out.exists()


def test_inpaint_unknown_and_unimplemented_methods(capsys, tmp_path, pair):
    img, mask = pair
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "inpaint", "--method", "nope", "--image", img, "--mask", mask, "--out", out)
    assert_one_line_error(code, err, "unknown method 'nope'")
    from faceinpaint import methods

    missing = [n for n in methods.names() if n not in methods.available()]
    for name in missing[:1]:
        code, _, err = run_cli(capsys, "inpaint", "--method", name, "--image", img, "--mask", mask, "--out", out)
        assert_one_line_error(code, err, f"method '{name}' is not implemented yet")
    assert not out.exists()


def test_inpaint_checkpoint_for_classical_is_refused(capsys, tmp_path, pair):
    img, mask = pair
    ck = tmp_path / "c.pt"
    ck.write_bytes(b"0")
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--checkpoint", ck, "--image", img, "--mask", mask,
                           "--out", tmp_path / "o.png")
    assert_one_line_error(code, err, "c.pt", "takes no checkpoint")


def test_inpaint_bad_output_suffix(capsys, tmp_path, pair):
    img, mask = pair
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", mask,
                           "--out", tmp_path / "o.txt")
    assert_one_line_error(code, err, "o.txt", ".png")
    assert not (tmp_path / "o.txt").exists()


def test_usage_errors_are_one_line_exit_1(capsys):
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea")
    assert_one_line_error(code, err, "--image")
    code, _, err = run_cli(capsys, "frobnicate")
    assert_one_line_error(code, err, "frobnicate")
    code, _, err = run_cli(capsys, "masks", "--kind", "centre", "--size", "x", "--n", "1", "--out", "o")
    assert_one_line_error(code, err, "--size")


def test_debug_reraises_with_traceback(capsys, tmp_path, pair):
    _, mask = pair
    with pytest.raises(FaceInpaintError, match="no such file"):
        cli.main(["--debug", "inpaint", "--method", "telea", "--image", str(tmp_path / "x.png"), "--mask", str(mask),
                  "--out", str(tmp_path / "o.png")])
    with pytest.raises(FaceInpaintError):  # --debug after the command works too
        cli.main(["inpaint", "--method", "telea", "--image", str(tmp_path / "x.png"), "--mask", str(mask),
                  "--out", str(tmp_path / "o.png"), "--debug"])


def test_unwritable_output_is_one_line(capsys, tmp_path, pair):
    img, mask = pair
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", mask,
                           "--out", blocker / "o.png")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "file" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- masks
def test_masks_writes_binary_pngs(capsys, tmp_path):
    out = tmp_path / "m"
    code, _, err = run_cli(capsys, "masks", "--kind", "free_form", "--size", 48, "--n", 3, "--seed", 7, "--out", out)
    assert code == 0, err
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    for p in pngs:
        im = Image.open(p)
        assert im.mode == "L" and im.size == (48, 48)
        vals = set(np.unique(np.asarray(im)).tolist())
        assert vals == {0, 255}  # binary, with some hole and some known pixels
    meta = json.loads((out / "masks.json").read_text())
    assert meta["kind"] == "free_form" and meta["seed"] == 7
    # same seed → same bytes
    out2 = tmp_path / "m2"
    assert run_cli(capsys, "masks", "--kind", "free_form", "--size", 48, "--n", 3, "--seed", 7, "--out", out2)[0] == 0
    assert [p.read_bytes() for p in pngs] == [p.read_bytes() for p in sorted(out2.glob("*.png"))]


def test_masks_unknown_kind(capsys, tmp_path):
    code, _, err = run_cli(capsys, "masks", "--kind", "zigzag", "--size", 48, "--n", 2, "--seed", 0,
                           "--out", tmp_path / "m")
    assert_one_line_error(code, err, "zigzag")
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------------------- train
def test_train_classical_is_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--method", "telea", "--preset", "smoke", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "telea", "nothing to train")


# ----------------------------------------------------------------------------- metrics
def _face_folder(folder: Path, n: int, h: int = 40, w: int = 40, seed: int = 0, suffix=".png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_png(smooth_face(h, w, seed + i), folder / f"f{i:02d}{suffix}") for i in range(n)]


def test_metrics_writes_json_with_metric_keys(capsys, tmp_path):
    reals = _face_folder(tmp_path / "real", 3)
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir()
    rng = np.random.default_rng(0)
    for p in reals:  # same names, noisy copies
        arr = np.asarray(Image.open(p)).astype(np.int16) + rng.integers(-10, 11, (40, 40, 3))
        write_png(np.clip(arr, 0, 255).astype(np.uint8), fake_dir / p.name)
    masks = tmp_path / "masks"
    masks.mkdir()
    for p in reals:
        write_mask(40, 40, masks / p.name)
    out = tmp_path / "res" / "metrics.json"
    code, stdout, err = run_cli(capsys, "metrics", "--real", tmp_path / "real", "--fake", fake_dir,
                                "--masks", masks, "--out", out)
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["pairs"] == 3
    for key in ("psnr", "ssim", "ms_ssim", "l1", "vgg19_perceptual"):
        assert key in report["mean"], key
        assert set(report["per_image"]) == {"f00", "f01", "f02"}
    assert 25 < report["mean"]["psnr"] < 45  # ±10 grey levels of uniform noise ≈ 32 dB
    # identical folders: perfect scores
    out2 = tmp_path / "same.json"
    assert run_cli(capsys, "metrics", "--real", tmp_path / "real", "--fake", tmp_path / "real", "--out", out2)[0] == 0
    same = json.loads(out2.read_text())["mean"]
    assert same["l1"] == 0 and same["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_metrics_missing_partner_and_size_mismatch(capsys, tmp_path):
    _face_folder(tmp_path / "real", 2)
    _face_folder(tmp_path / "fake", 3)  # f02 has no real partner
    out = tmp_path / "m.json"
    code, _, err = run_cli(capsys, "metrics", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--out", out)
    assert_one_line_error(code, err, "f02.png", "no real image")
    assert not out.exists()
    (tmp_path / "fake" / "f02.png").unlink()
    write_png(smooth_face(30, 40), tmp_path / "fake" / "f01.png")
    code, _, err = run_cli(capsys, "metrics", "--real", tmp_path / "real", "--fake", tmp_path / "fake", "--out", out)
    assert_one_line_error(code, err, "f01.png", "40×30")
    assert not out.exists()


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_telea_protocol_on_a_folder(capsys, tmp_path):
    """`faceinpaint evaluate --method telea` on a couple of faces × the protocol's bins (small n)."""
    _face_folder(tmp_path / "faces", 2, 50, 40)
    out = tmp_path / "eval"
    code, stdout, err = run_cli(capsys, "evaluate", "--method", "telea", "--method", "biharmonic",
                                "--images", tmp_path / "faces", "--size", 32, "--n-per-bin", 2, "--out", out)
    assert code == 0, err
    md = (out / "table.md").read_text()
    assert "| method | 10–20 % | 20–30 % | 30–40 % | 40–50 % | 50–60 % | centre |" in md
    assert "| telea |" in md and "| biharmonic |" in md and "## psnr ↑" in md
    data = json.loads((out / "metrics.json").read_text())
    assert set(data["summary"]) == {"telea", "biharmonic"}
    assert set(data["summary"]["telea"]) == {"bin_10_20", "bin_20_30", "bin_30_40", "bin_40_50", "bin_50_60", "centre"}
    assert data["summary"]["telea"]["centre"]["psnr"]["n"] == 2
    assert (out / "plot.png").is_file() and (out / "table.csv").is_file()
    assert len(list((out / "images" / "telea").rglob("*.png"))) == 6 * 2


def test_evaluate_pairs_by_name_writes_pngs_and_metrics(capsys, tmp_path):
    imgs = _face_folder(tmp_path / "faces", 2, 45, 60)
    (tmp_path / "masks").mkdir()
    for p in imgs:
        write_mask(45, 60, tmp_path / "masks" / p.name)
    out = tmp_path / "eval"
    code, _, err = run_cli(capsys, "evaluate", "--method", "telea", "--images", tmp_path / "faces",
                           "--masks", tmp_path / "masks", "--out", out)
    assert code == 0, err
    for p in imgs:
        res = np.asarray(Image.open(out / "telea" / p.name))
        src = np.asarray(Image.open(p))
        hole = np.asarray(Image.open(tmp_path / "masks" / p.name)) >= 128
        np.testing.assert_array_equal(res[~hole], src[~hole])
    data = json.loads((out / "metrics.json").read_text())
    assert data["summary"]["telea"]["pairs"]["psnr"]["n"] == 2


def test_evaluate_missing_mask_writes_nothing(capsys, tmp_path):
    imgs = _face_folder(tmp_path / "faces", 2)
    (tmp_path / "masks").mkdir()
    write_mask(40, 40, tmp_path / "masks" / imgs[0].name)
    out = tmp_path / "eval"
    code, _, err = run_cli(capsys, "evaluate", "--method", "telea", "--images", tmp_path / "faces",
                           "--masks", tmp_path / "masks", "--out", out)
    assert_one_line_error(code, err, "f01.png", "no mask")
    assert not out.exists()


def test_evaluate_masks_without_images_and_bad_checkpoint_spec(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", "--method", "telea", "--masks", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "--masks needs --images")
    code, _, err = run_cli(capsys, "evaluate", "--method", "telea", "--method", "biharmonic", "--checkpoint", "x.pt",
                           "--out", tmp_path / "o")
    assert_one_line_error(code, err, "METHOD=PATH")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- the bad-image set
def test_bad_images_through_inpaint(capsys, tmp_path):
    """Every awkward file: a one-line refusal naming it (exit 1, no output), or io.py's documented conversion."""
    bad = make_bad_images(tmp_path / "bad")
    assert set(bad) == set(EXPECTED)
    for key, path in bad.items():
        out = tmp_path / "out" / f"{key}.png"
        if EXPECTED[key] == "ok":
            w, h = Image.open(path).size
            mask = write_mask(h, w, tmp_path / f"mask_{key}.png")
        else:
            mask = write_mask(30, 40, tmp_path / f"mask_{key}.png")
        code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", path, "--mask", mask, "--out", out)
        if EXPECTED[key] == "ok":  # converted: an RGB result of the same size
            assert code == 0, f"{key}: {err}"
            res = Image.open(out)
            assert res.mode == "RGB" and res.size == Image.open(path).size
        else:
            assert_one_line_error(code, err, path.name, EXPECTED[key])
            assert not out.exists(), key
    assert not [p for p in files_under(tmp_path) if p.name.endswith(".tmp") or p.name.endswith(".tmp.png")]


def test_bad_images_as_masks(capsys, tmp_path, pair):
    img, _ = pair
    bad = make_bad_images(tmp_path / "bad")
    for key, path in bad.items():
        if EXPECTED[key] == "ok":
            continue
        if "transparent" in key:  # a mask's alpha is dropped (load_mask reduces to gray): only the size is wrong
            continue
        out = tmp_path / f"{key}.png"
        code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", path, "--out", out)
        assert_one_line_error(code, err, path.name, EXPECTED[key])
        assert not out.exists()


@pytest.mark.parametrize("mode", ["protocol", "pairs"])
def test_bad_images_through_evaluate_write_nothing(capsys, tmp_path, mode):
    """One bad file among good faces: evaluate refuses it by name before writing anything."""
    bad = make_bad_images(tmp_path / "bad")
    for key, path in bad.items():
        if EXPECTED[key] == "ok":
            continue
        folder = tmp_path / f"faces_{key}"
        goods = _face_folder(folder, 2, 40, 40)
        target = folder / ("zz_bad" + path.suffix)
        target.write_bytes(path.read_bytes())
        out = tmp_path / f"eval_{key}"
        if mode == "protocol":  # the user's faces × the protocol's masks
            argv = ["--images", folder, "--size", 32, "--n-per-bin", 1, "--bins", "centre"]
        else:  # the user's own pairs
            masks = tmp_path / f"masks_{key}"
            masks.mkdir()
            for p in goods + [target]:
                write_mask(40, 40, masks / (p.stem + ".png"))
            argv = ["--images", folder, "--masks", masks]
        code, _, err = run_cli(capsys, "evaluate", "--method", "telea", *argv, "--out", out)
        assert_one_line_error(code, err, target.name, EXPECTED[key])
        assert not out.exists(), key


# ----------------------------------------------------------------------------- wiring of data prepare / train
def test_data_prepare_calls_the_library(capsys, monkeypatch, tmp_path):
    import faceinpaint.data as data

    seen = {}
    report = {"prepared": str(tmp_path / "prepared"), "n_faces": 3, "n_train": 2, "n_test": 1, "n_landmarks_ok": 2,
              "landmark_failures": [{"name": "x.jpg", "reason": "no face"}], "attribute_names": ["Male"],
              "stages_run": ["images"], "seconds": 1.5}

    def fake_prepare(root=None, force=False, **kw):
        seen.update(root=root, force=force)
        return report

    monkeypatch.setattr(data, "prepare", fake_prepare)
    code, out, err = run_cli(capsys, "data", "prepare", "--root", tmp_path, "--force")
    assert code == 0, err
    assert seen == {"root": str(tmp_path), "force": True}
    assert "3 faces (2 train / 1 test), 2 with 68 landmarks (failures: x.jpg)" in out


def test_train_calls_the_method_module(capsys, monkeypatch, tmp_path):
    from faceinpaint import methods

    seen = {}

    class Module:
        @staticmethod
        def train(preset, data, out, resume, seed):
            seen.update(preset=preset, data=data, out=out, resume=resume, seed=seed)
            return Path(out) / "last.pt"

    monkeypatch.setattr(methods, "_module", lambda spec: Module)
    code, stdout, err = run_cli(capsys, "train", "--method", "lafin", "--preset", "smoke", "--data", tmp_path / "d",
                                "--out", tmp_path / "run", "--resume", "--seed", 4)
    assert code == 0, err
    assert seen == {"preset": "smoke", "data": str(tmp_path / "d"), "out": str(tmp_path / "run"), "resume": True,
                    "seed": 4}
    assert "last.pt" in stdout


# ----------------------------------------------------------------------------- faces in the wild (issue 17)
def test_inpaint_help_lists_align_and_face_box(capsys):
    with pytest.raises(SystemExit):
        cli.main(["inpaint", "--help"])
    out = capsys.readouterr().out
    assert "--align {auto,off}" in out and "--face-box X,Y,W,H" in out
    assert "default: auto for learned methods, off for classical" in " ".join(out.split())


def test_evaluate_align_both_needs_wild(capsys, tmp_path):
    code, out, err = run_cli(capsys, "evaluate", "--method", "telea", "--align", "both", "--out", tmp_path / "e")
    assert code == 1 and "--align both is for --wild" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "evaluate", "--method", "telea", "--wild", "--images", tmp_path,
                             "--out", tmp_path / "e")
    assert code == 1 and "--wild uses the prepared in-the-wild set" in err
    assert not (tmp_path / "e").exists()


def test_data_prepare_reports_the_wild_set(capsys, monkeypatch, tmp_path):
    import faceinpaint.data as data

    report = {"prepared": str(tmp_path / "prepared"), "n_faces": 3, "n_train": 2, "n_test": 1, "n_landmarks_ok": 3,
              "landmark_failures": [], "attribute_names": ["Male"], "stages_run": [], "seconds": 0.1,
              "wild": {"n_photos": 9, "n_faces": 25, "file": str(tmp_path / "wild" / "faces.json"), "ran": False}}
    monkeypatch.setattr(data, "prepare", lambda root=None, force=False, **kw: report)
    code, out, err = run_cli(capsys, "data", "prepare", "--root", tmp_path)
    assert code == 0, err
    assert "in-the-wild set: 25 faces in 9 photos" in out


# ----------------------------------------------------------------------------- --attr (refattr, issue 14)
@pytest.fixture
def refattr_cli(monkeypatch):
    """``--method refattr`` built as the registry builds it (wrapped under ``--align auto``) around a
    refattr model on random smoke-size nets: no file, no training — the CLI's wiring only."""
    import torch

    from faceinpaint import align, methods
    from faceinpaint.methods import refattr as R

    torch.manual_seed(0)
    cfg = R.preset_config("smoke")
    model = R.RefAttr(R.build_generator(cfg), R.build_extractor(cfg), size=cfg.image_size, names=list(cfg.attributes))
    real_get = methods.get

    def get(name, checkpoint=None, device="cpu", *, align="off", face_box=None, **kw):
        if name != "refattr":
            return real_get(name, checkpoint, device, align=align, face_box=face_box, **kw)
        return align_mod.wrap(model, align, face_box=face_box)

    align_mod = align
    monkeypatch.setattr(methods, "get", get)
    return model


def test_inpaint_help_lists_attr(capsys):
    with pytest.raises(SystemExit):
        cli.main(["inpaint", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--attr NAME=VALUE" in out and "repeatable" in out


def test_inpaint_attr_reaches_the_model(capsys, tmp_path, pair, refattr_cli):
    """Repeatable, the last value of a name wins, any real value; the names not given come from the face."""
    img, mask = pair
    out = tmp_path / "o.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--method", "refattr", "--image", img, "--mask", mask,
                                "--align", "off", "--attr", "Smiling=1.5", "--attr", "Male=0", "--attr", "Smiling=2",
                                "--out", out)
    assert code == 0, err
    last, names = refattr_cli.last, refattr_cli.attribute_names
    s, m = names.index("Smiling"), names.index("Male")
    assert last.attributes[0, s] == 2.0 and last.attributes[0, m] == 0.0
    assert last.source == ["given" if k in (s, m) else "self" for k in range(len(names))]
    src, res = np.asarray(Image.open(img)), np.asarray(Image.open(out))
    hole = np.asarray(Image.open(mask)) >= 128
    assert res.shape == src.shape
    np.testing.assert_array_equal(res[~hole], src[~hole])


def test_inpaint_attr_with_exemplar_under_align_auto(capsys, tmp_path, pair, refattr_cli):
    """``--attr`` overrides its column of the exemplar's attributes; through the aligned wrapper (the
    default for learned methods; no face in this picture, so it inpaints the whole image)."""
    img, mask = pair
    ex = write_png(smooth_face(50, 40, seed=7), tmp_path / "ex.png")
    code, stdout, err = run_cli(capsys, "inpaint", "--method", "refattr", "--image", img, "--mask", mask,
                                "--exemplar", ex, "--attr", "Young=-1", "--out", tmp_path / "o.png")
    assert code == 0, err
    names = refattr_cli.attribute_names
    y = names.index("Young")
    assert refattr_cli.last.attributes[0, y] == -1.0
    assert refattr_cli.last.source == ["given" if k == y else "exemplar" for k in range(len(names))]


@pytest.mark.parametrize("bad, why", [("Bald=1", "unknown attribute 'Bald'"), ("Smiling=yes", "'yes' is not a number"),
                                      ("Smiling=nan", "not a finite number"), ("Smiling", "expected NAME=VALUE")])
def test_inpaint_bad_attr_is_one_line(capsys, tmp_path, pair, refattr_cli, bad, why):
    img, mask = pair
    code, _, err = run_cli(capsys, "inpaint", "--method", "refattr", "--image", img, "--mask", mask, "--align", "off",
                           "--attr", "Male=1", "--attr", bad, "--out", tmp_path / "o.png")
    assert_one_line_error(code, err, f"--attr {bad!r}", why)
    assert not (tmp_path / "o.png").exists()


def test_inpaint_attr_refused_for_methods_without_attributes(capsys, tmp_path, pair):
    img, mask = pair
    code, _, err = run_cli(capsys, "inpaint", "--method", "telea", "--image", img, "--mask", mask,
                           "--attr", "Smiling=1", "--out", tmp_path / "o.png")
    assert_one_line_error(code, err, "--attr Smiling=1", "telea takes no attributes")
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------- exegan: --exemplar …, --psi
@pytest.fixture
def exegan_cli(monkeypatch):
    """``--method exegan`` built as the registry builds it, around EXE-GAN on random smoke-size nets
    (the CLI's wiring only); records the build keywords it was given."""
    import torch

    from faceinpaint import align, methods
    from faceinpaint.methods.exegan import inpainter as XI
    from faceinpaint.methods.exegan import networks as XN
    from faceinpaint.methods.exegan.config import preset_config as x_preset

    torch.manual_seed(0)
    cfg = x_preset("smoke")
    built: dict = {}
    real_get = methods.get

    def get(name, checkpoint=None, device="cpu", *, align="off", face_box=None, **kw):
        if name != "exegan":
            return real_get(name, checkpoint, device, align=align, face_box=face_box, **kw)
        built.update(kw)
        model = XI.ExeGAN(XN.build_generator(cfg), XN.build_style_encoder(cfg), size=cfg.image_size, **kw)
        built["model"] = model
        return align_mod.wrap(model, align, face_box=face_box)

    align_mod = align
    monkeypatch.setattr(methods, "get", get)
    return built


def test_inpaint_exegan_one_output_per_exemplar_numbered(capsys, tmp_path, pair, exegan_cli):
    img, mask = pair
    a = write_png(smooth_face(40, 40, seed=1), tmp_path / "a.png")
    b = write_png(smooth_face(90, 60, seed=2), tmp_path / "b.png")
    out = tmp_path / "res.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--method", "exegan", "--image", img, "--mask", mask,
                                "--align", "off", "--exemplar", a, "--exemplar", b, "--psi", "0.7", "--out", out)
    assert code == 0, err
    outs = [tmp_path / "res_1.png", tmp_path / "res_2.png"]
    assert all(o.is_file() for o in outs) and not out.exists()
    assert exegan_cli["psi"] == 0.7 and exegan_cli["model"].psi == 0.7
    src = np.asarray(Image.open(img))
    known = np.asarray(Image.open(mask)) < 128
    r1, r2 = (np.asarray(Image.open(o)) for o in outs)
    assert (r1[known] == src[known]).all() and (r2[known] == src[known]).all()
    assert not np.array_equal(r1, r2), "two exemplars gave the same completion"
    assert stdout.count("exegan: ") == 2


def test_inpaint_exegan_bad_exemplar_file_is_one_line(capsys, tmp_path, pair, exegan_cli):
    img, mask = pair
    bad = tmp_path / "not_a_face.png"
    bad.write_text("hello")
    code, _, err = run_cli(capsys, "inpaint", "--method", "exegan", "--image", img, "--mask", mask,
                           "--exemplar", bad, "--out", tmp_path / "o.png")
    assert_one_line_error(code, err, "not_a_face.png")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--method", "telea", "--psi", "0.5"], "--psi is EXE-GAN's"),
    (["--method", "exegan", "--psi", "-1"], "--psi -1.0"),
    (["--method", "exegan", "--psi", "nan"], "finite"),
])
def test_inpaint_bad_psi_is_one_line(capsys, tmp_path, pair, exegan_cli, argv, needle):
    img, mask = pair
    code, _, err = run_cli(capsys, "inpaint", *argv, "--image", img, "--mask", mask, "--out", tmp_path / "o.png")
    assert_one_line_error(code, err, needle)
