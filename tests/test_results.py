"""The README's results table (faceinpaint.results): regenerated from the committed
docs/results/metrics.json it must equal the README's block; rendering, markers and the CLI."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from faceinpaint import cli, results
from faceinpaint.errors import FaceInpaintError

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "results" / "metrics.json"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def cell(mean, std=0.0, n=2):
    return {"mean": mean, "std": std, "n": n}


def fake_metrics() -> dict:
    """Two methods × two bins with hand-checkable values; a 'wild' part for one of them."""
    def per_bin(psnr, l1h, ident=None):
        c = {"psnr": cell(psnr), "ssim": cell(0.5), "l1_hole": cell(l1h), "fid": cell(100.0 + psnr, None),
             "u_ids": cell(0.0, None), "p_ids": cell(0.25, None), "seconds_per_face": cell(0.5, None)}
        if ident is not None:
            c["identity"] = cell(ident)
        return c

    return {"preset": "smoke", "methods": ["telea", "lafin"], "bins": ["bin_10_20", "centre"],
            "config": {"n_images": 2, "size": 64, "seed": 0, "method_kw": {"yeh": {"iters": 100}}},
            "summary": {"telea": {"bin_10_20": per_bin(20.0, 0.10), "centre": per_bin(22.0, 0.20)},
                        "lafin": {"bin_10_20": per_bin(19.0, 0.05, 0.8), "centre": per_bin(25.0, 0.15, 0.6)}},
            "takes_exemplar": {"telea": False, "lafin": True}, "identity_reference": cell(0.7),
            "skipped": {"exegan": f"{ROOT}/checkpoints/exegan_cpu.pt: no shipped CPU checkpoint"},
            "wild": {"config": {"n_images": 1, "aligns": ["auto"], "extra": "dropped"},
                     "summary": {"telea-auto": {"wild": {"l1_hole": cell(0.09), "face_found": cell(1.0)}}},
                     "per_image": [{"x": 1}]},
            "per_image": [{"method": "telea"}], "seconds": 90.0}


# ----------------------------------------------------------------------------- the committed table
def test_readme_results_block_is_regenerated_from_the_committed_metrics():
    """The README's table is generated, never typed: regenerating it from docs/results/metrics.json
    gives exactly the README's block (whatever methods are available now: only the file counts)."""
    data = results.load(COMMITTED)
    readme = (ROOT / "README.md").read_text()
    block = results.readme_block(data, figure="docs/results/results.png", source="docs/results/metrics.json")
    assert results.current_block(readme) == block, \
        "README.md's results block is stale: run `faceinpaint results --metrics docs/results/metrics.json " \
        "--out docs/results --readme README.md`"
    assert results.run(COMMITTED, out=COMMITTED.parent, readme=ROOT / "README.md", check=True) == \
        {"written": [], "stale": False}
    assert (ROOT / "docs" / "results" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results.slim(data) == data, "the committed metrics.json is the slim copy (no per-face values)"
    assert set(data["methods"]) <= set(data["summary"]) and data["bins"]


# ----------------------------------------------------------------------------- rendering
def test_table_means_over_bins_best_bold_and_dashes():
    head, rows = results.table(fake_metrics())
    assert head[0] == "method" and "LPIPS ↓" not in head and "MS-SSIM ↑" not in head  # no method has them
    by = {r[0]: dict(zip(head, r)) for r in rows}
    assert by["`telea`"]["PSNR ↑"] == "21.00" and by["`lafin`"]["PSNR ↑"] == "**22.00**"   # means of 20, 22 and 19, 25
    assert by["`lafin`"]["hole L1 ↓"] == "**0.1000**" and by["`telea`"]["hole L1 ↓"] == "0.1500"
    assert by["`telea`"]["identity ↑"] == "–" and by["`lafin`"]["identity ↑"] == "0.700"  # one value: not bold
    assert by["`telea`"]["P-IDS ↑"] == by["`lafin`"]["P-IDS ↑"] == "25.0 %"           # all tie: none bold
    assert by["`telea`"]["FID ↓"] == "**121.0**" and by["`lafin`"]["FID ↓"] == "122.0"   # lower is better
    assert by["`telea`"]["wild hole L1 ↓"] == "0.0900" and by["`lafin`"]["wild hole L1 ↓"] == "–"
    assert by["`telea`"]["s / face ↓"] == "0.5"
    assert results.method_value(fake_metrics(), "lafin", "ms_ssim") is None


def test_caption_says_what_the_table_is_and_what_was_left_out():
    text = results.caption(results.slim(fake_metrics()))
    for needle in ("2 test faces at 64 px", "10–20 %, centre", "`yeh` iters=100", "0.700", "1 face of the in-the-wild",
                   "1.5 min of wall time", "Not run: `exegan` — checkpoints/exegan_cpu.pt: no shipped CPU checkpoint"):
        assert needle in text, needle
    assert str(ROOT) not in text   # no machine path in the README


def test_slim_drops_per_face_values_and_is_idempotent():
    m = fake_metrics()
    m["summary"]["telea"]["centre"]["psnr"]["std"] = math.nan
    s = results.slim(m)
    assert "per_image" not in s and "per_image" not in s["wild"] and "extra" not in s["wild"]["config"]
    assert s["summary"]["telea"]["centre"]["psnr"]["std"] is None     # NaN → null, as the file holds it
    assert results.slim(s) == s and json.loads(json.dumps(s)) == s
    assert results.markdown(s) == results.markdown(m)


def test_replace_block_only_between_the_markers():
    text = f"# title\n\nbefore\n{results.BEGIN}\nold table\n{results.END}\nafter\n"
    block = results.readme_block(fake_metrics(), figure="docs/results/results.png")
    new = results.replace_block(text, block)
    assert new.startswith("# title\n\nbefore\n") and new.endswith("\nafter\n")
    assert results.current_block(new) == block and results.replace_block(new, block) == new
    assert "![PSNR and hole L1" in block and "do not edit by hand" in block
    for bad in ("no markers here", f"{results.END} {results.BEGIN}", f"{results.BEGIN} {results.BEGIN} {results.END}"):
        with pytest.raises(FaceInpaintError, match="results:begin"):
            results.replace_block(bad, block)


def test_load_refuses_what_is_not_a_protocol_metrics_file(tmp_path):
    with pytest.raises(FaceInpaintError, match="not found"):
        results.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FaceInpaintError, match="bad.json: not a readable JSON"):
        results.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"methods": []}))
    with pytest.raises(FaceInpaintError, match="other.json: not a protocol metrics.json"):
        results.load(tmp_path / "other.json")


# ----------------------------------------------------------------------------- the command
def test_cli_results_writes_then_checks(capsys, tmp_path):
    src = tmp_path / "metrics.json"
    src.write_text(json.dumps(fake_metrics()))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{results.BEGIN}\n{results.END}\n")
    out = tmp_path / "docs" / "results"
    code, stdout, err = run_cli(capsys, "results", "--metrics", src, "--out", out, "--readme", readme)
    assert code == 0, err
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    slim = json.loads((out / "metrics.json").read_text())
    assert slim == results.slim(fake_metrics())
    text = readme.read_text()
    assert "](docs/results/results.png)" in text and "from docs/results/metrics.json" in text
    assert "| `lafin` |" in text
    # from the slim copy the same block comes back: up to date
    code, stdout, err = run_cli(capsys, "results", "--metrics", out / "metrics.json", "--out", out, "--readme", readme,
                                "--check")
    assert code == 0 and "up to date" in stdout, err
    # a hand edit is caught, and --check writes nothing
    readme.write_text(text.replace("21.00", "21.50"))
    code, _, err = run_cli(capsys, "results", "--metrics", out / "metrics.json", "--out", out, "--readme", readme,
                           "--check")
    assert code == 1 and "not the one" in err and "21.50" in readme.read_text()
    code, _, err = run_cli(capsys, "results", "--metrics", tmp_path / "missing.json", "--readme", readme)
    assert code == 1 and "missing.json: not found" in err
