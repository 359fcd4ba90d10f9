"""Every notebook runs end to end with its smoke parameters and writes a metrics.json.

papermill injects ``preset="smoke"`` and ``out_dir=<tmp>``; the assertions below are on the
``metrics.json`` each notebook writes, so a notebook that silently stops computing fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# notebook stem → keys its metrics.json must hold (beyond being a non-empty dict)
EXPECTED_KEYS: dict[str, set[str]] = {
    "00_quickstart": {"methods", "n_images"},
    "01_data": {"n_faces", "n_landmarks_ok", "olivetti_auc", "attribute_names"},
    "02_masks": set(),
    "03_losses_and_metrics": set(),
    "10_wgan_prior": {"prior", "train_steps", "checkpoint_step", "critic_real", "critic_fake", "patch_real",
                      "patch_fake", "n_samples"},
    "11_latent_completion": {"prior", "iters", "loss_drop", "poisson", "conditional", "ablation", "comparison"},
    "20_lafin_landmarks": {"model", "n_images", "nme_by_bin", "menpo_nme", "augmentation"},
    "21_lafin_inpainting": {"models", "n_images", "hole_scores", "attention", "edit", "exemplar", "table3",
                            "nme_completed"},
    "30_refattr_training": {"models", "architecture", "g_a", "attention", "training", "ablation", "nme_completed",
                            "n_ablation"},
    "31_refattr_attributes": {"model", "extractor_auc", "reference_transfer", "n_measure", "sweep", "sweep_monotone",
                              "pluralistic"},
    "40_exegan_training": {"model", "encoder_inversion", "encoder_auc", "olivetti_auc", "architecture", "svgl",
                           "training", "table_v", "paper_table_v", "n_table"},
    "41_exegan_diversity": {"model", "n_faces", "psi_diversity", "exemplars", "identity_steering", "mixing",
                            "phi_tuning"},
    "50_ablations": {"papers", "settings", "section_seconds", "seconds"},
    "60_evaluation": {"methods", "available", "skipped", "summary", "bins", "config", "takes_exemplar", "wild",
                      "identity_reference", "seconds"},
    "70_demo_exemplar_picker": {"methods", "available", "face", "hole_ratio", "exemplars", "results", "saved"},
}

# notebook stem → parameters beyond preset/out_dir for its smoke run (an app's notebook defaults to
# waiting for a user; these pre-select what the user would pick so it runs headless)
EXTRA_PARAMETERS: dict[str, dict] = {
    "70_demo_exemplar_picker": {"mask": "centre", "exemplars": [1, 2], "methods": "all", "run": True},
}


PAPERS = ("wgan_completion", "lafin", "refattr", "exegan")


def check_ablations(metrics: dict) -> None:
    """Notebook 50: every paper's ablation is there; each variant is measured (and its checkpoint
    exists) or says "not trained (checkpoint missing: <file>)" (and the file is indeed missing)."""
    from faceinpaint.paths import checkpoints_dir

    assert set(metrics["papers"]) == set(PAPERS), f"notebook 50 covers {sorted(metrics['papers'])}, not {PAPERS}"
    for paper, entry in metrics["papers"].items():
        assert entry["variants"], f"{paper}: no variant listed"
        for v in entry["variants"]:
            exists = (checkpoints_dir() / v["file"]).is_file()
            if v["status"] == "measured" or v["status"].startswith("not loadable"):
                assert exists, f"{paper}/{v['variant']}: {v['status']} but {v['file']} is not in checkpoints/"
            else:
                assert v["status"] == f"not trained (checkpoint missing: {v['file']})" and not exists, \
                    f"{paper}/{v['variant']}: status {v['status']!r} with the file {'present' if exists else 'absent'}"
    measured = {p: {v["variant"] for v in e["variants"] if v["status"] == "measured"}
                for p, e in metrics["papers"].items()}
    if measured["wgan_completion"]:
        wg = metrics["papers"]["wgan_completion"]
        assert len(wg["rows"]) == 18 and all(r["paper"] for r in wg["rows"]), "tables 1–2: 9 rows × 2 masks + paper"
        assert wg["claims"] and set(wg["paragraphs"]) == {"wgan_central", "wgan_three_squares"}
    if "full" in measured["lafin"]:
        la = metrics["papers"]["lafin"]
        assert la["table3"] and la["paragraph_table3"] and la["section4"]["nme"] and la["paragraph_section4"]
        assert {r["metric"] for r in la["claims"]} >= {"psnr", "ssim"}
    if "full" in measured["refattr"]:
        ra = metrics["papers"]["refattr"]
        assert "refattr" in ra["table"] and ra["paragraph"]
        for c in ra["claims"]:   # a claim is measured exactly when both of its checkpoints are there
            assert ("effect" in c) == (c["variant"] in measured["refattr"]), c
    if "full" in measured["exegan"]:
        assert "Ours" in metrics["papers"]["exegan"]["rows"]


def check_evaluation(metrics: dict) -> None:
    """Notebook 60: every available method was evaluated on every bin, or skipped because its shipped
    checkpoint is missing; the protocol's set metrics, identity (exemplar-taking methods only) and timing."""
    from faceinpaint import methods

    for m in methods.available():
        if m in metrics["methods"]:
            continue
        ckpt = methods.default_checkpoint(m)
        assert m in metrics["skipped"] and ckpt is not None and not ckpt.is_file(), \
            f"{m} is available but neither evaluated nor skipped for a missing checkpoint ({metrics['skipped'].get(m)})"
    assert metrics["methods"], "no method evaluated"
    for m in metrics["methods"]:
        for b in metrics["bins"]:
            cell = metrics["summary"][m][b]
            assert {"psnr", "ssim", "ms_ssim", "l1", "vgg19_perceptual", "seconds_per_face"} <= set(cell), (m, b)
            assert {"fid", "u_ids", "p_ids"} <= set(cell), (m, b)
            assert ("identity" in cell) == metrics["takes_exemplar"][m], (m, b)
    assert metrics["identity_reference"]["n"] == metrics["config"]["n_images"]
    wild = metrics["wild"]["summary"]
    assert wild and all(k.endswith("-auto") and k[:-5] in metrics["methods"] for k in wild)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(nb: Path):
    """One papermill parameters cell of plain literals with preset and out_dir."""
    book = nbformat.read(nb, as_version=4)
    cells = [c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{nb.name}: needs exactly one cell tagged 'parameters'"
    src = cells[0].source
    for name in ("preset", "out_dir"):
        assert f"{name} =" in src or f"{name}=" in src, f"{nb.name}: parameters cell lacks {name}"
    import ast

    for node in ast.parse(src).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.List, ast.Tuple, ast.UnaryOp)), \
            f"{nb.name}: parameters cell must hold plain literal assignments only"


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_smoke(nb: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    pm.execute_notebook(
        str(nb), str(tmp_path / nb.name),
        parameters={"preset": "smoke", "out_dir": str(out_dir), **EXTRA_PARAMETERS.get(nb.stem, {})},
        cwd=str(nb.parent), progress_bar=False, kernel_name="python3", execution_timeout=900,
    )
    metrics_file = out_dir / "metrics.json"
    assert metrics_file.exists(), f"{nb.name} wrote no metrics.json"
    metrics = json.loads(metrics_file.read_text())
    assert isinstance(metrics, dict) and metrics, f"{nb.name}: empty metrics.json"
    missing = EXPECTED_KEYS.get(nb.stem, set()) - set(metrics)
    assert not missing, f"{nb.name}: metrics.json lacks {sorted(missing)}"
    if nb.stem == "50_ablations":
        check_ablations(metrics)
    if nb.stem == "60_evaluation":
        check_evaluation(metrics)
    if nb.stem == "70_demo_exemplar_picker":  # every available method ran (or said why not) on both exemplars
        assert metrics["exemplars"] and len(metrics["results"]) == len(metrics["exemplars"]) * len(metrics["methods"])
        assert all("seconds" in r or r.get("skipped") for r in metrics["results"].values())
        assert all(Path(p).is_file() for p in metrics["saved"]) and any(p.endswith("grid.png") for p in metrics["saved"])
