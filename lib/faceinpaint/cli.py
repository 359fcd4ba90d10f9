"""The ``faceinpaint`` command line (DESIGN.md, 'CLI'): stable entry points, also used by tests.

::

    faceinpaint data prepare [--root data] [--force]
    faceinpaint masks --kind K --size S --n N --seed X --out DIR          # white PNG = hole
    faceinpaint train --method M --preset P --data DIR --out DIR [--resume] [--seed S]
    faceinpaint inpaint --method M [--checkpoint C] --image I --mask K [--exemplar E …] [--psi P] [--seed S]
                        [--align auto|off] [--face-box x,y,w,h] [--attr NAME=VALUE ...] --out O
    faceinpaint evaluate --method M [--checkpoint C] [--images DIR [--masks DIR]] [--align auto|off] --out DIR
    faceinpaint evaluate --method M --wild [--align auto|off|both] --out DIR      # photos in the wild
    faceinpaint evaluate --method all [--exclude M …] [--preset smoke|cpu|paper] --out DIR   # notebook 60's protocol
    faceinpaint results --metrics metrics.json [--out docs/results] [--readme README.md] [--check]
    faceinpaint metrics --real DIR --fake DIR [--masks DIR] --out metrics.json

Faces in the wild (:mod:`faceinpaint.align`): ``inpaint --align auto`` (the default for learned
methods; ``off`` for classical ones) detects each face meeting the hole, aligns it to the
training template, inpaints the crop and pastes it back; when no face is found it inpaints the
whole image and prints one line saying so to stderr. ``evaluate`` stays ``off`` on the prepared
(already aligned) test split unless told; ``evaluate --wild`` compares off and auto on the
in-the-wild set.

Precision (:mod:`faceinpaint.precision`): ``inpaint`` and ``evaluate`` take ``--precision
auto|fp32|bf16``, default ``auto`` — bfloat16 networks where the CPU/GPU has bf16 natively and the
method's shipped checkpoint was measured to keep the protocol metrics
(``faceinpaint.precision.AUTO_BF16``), float32 otherwise. ``train --precision`` defaults to ``fp32``.

Errors. Anything the user can get wrong — a bad image or mask, a missing checkpoint or
asset, a wrong argument, an unwritable path — prints one line,
``faceinpaint: error: <message naming the file>``, to stderr and exits with status 1, no
traceback; ``--debug`` (anywhere on the line) re-raises with the traceback instead.
Outputs are written only after every input has been read and all the work has succeeded,
each file atomically (:mod:`faceinpaint.io`), so a failed command leaves nothing behind.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

from .errors import FaceInpaintError

PROG = "faceinpaint"
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg")
PRECISION_CHOICES = ("auto", "fp32", "bf16")  # = faceinpaint.precision.PRECISIONS (not imported: --help stays torch-free)
_PRECISION_HELP = ("network precision: auto (default: bf16 where the hardware has it natively and the method was "
                   "validated in bf16, else fp32), fp32, or bf16; known pixels are unchanged either way")


class UsageError(FaceInpaintError):
    """A command-line mistake (argparse's errors, reported like every other user error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage and exit 2
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# ----------------------------------------------------------------------------- helpers
def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _checkpoints(method_names: list[str], values: list[str] | None) -> dict[str, str]:
    """``--checkpoint`` values → {method: path}: a bare path with one --method, else ``METHOD=PATH``."""
    from . import methods

    out: dict[str, str] = {}
    for v in values or []:
        name, sep, path = v.partition("=")
        if sep and name in methods.names():
            if name not in method_names:
                raise UsageError(f"--checkpoint {v}: method {name!r} is not among the --method values")
            out[name] = path
        elif len(method_names) == 1:
            out[method_names[0]] = v
        else:
            raise UsageError(f"--checkpoint {v}: with several --method values write --checkpoint METHOD=PATH")
    return out


def _build_methods(names: list[str], checkpoints: list[str] | None, device: str, align: str | None = "off",
                   face_box=None, precision: str = "fp32", **build_kw):
    """Every requested method, built (checkpoints found and loaded) before any work starts.

    ``align``: ``"auto"``, ``"off"`` or ``None`` (each method's default: auto when learned);
    ``precision``: ``auto``, ``fp32`` or ``bf16`` (:func:`faceinpaint.precision.apply` on each method,
    as ``methods.get(precision=...)`` does); ``build_kw``: the method's own settings (EXE-GAN's
    ``psi``), passed to ``methods.get``.
    """
    from . import methods
    from . import precision as precision_mod

    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise UsageError(f"--method {sorted(dups)[0]} given twice")
    cks = _checkpoints(names, checkpoints)
    out = []
    for n in names:
        a = align or (methods.default_align(n) if n in methods.names() else "off")
        m = methods.get(n, checkpoint=cks.get(n), device=device, align=a,
                        face_box=face_box if a == "auto" else None, **build_kw)
        precision_mod.apply(getattr(m, "inner", m), precision, device, method=n)  # inside --align auto's wrapper
        out.append(m)
    return out


def _face_box(args):
    """``--face-box x,y,w,h`` parsed (None when absent); it needs ``--align auto`` (or a learned method's default)."""
    if getattr(args, "face_box", None) is None:
        return None
    from .align import parse_face_box

    try:
        box = parse_face_box(args.face_box)
    except FaceInpaintError as e:
        raise UsageError(str(e)) from None
    if args.align == "off":
        raise UsageError(f"--face-box {args.face_box}: needs --align auto (alignment is off)")
    return box


def _attribute_guide(method, name: str, items: list[str], guide):
    """``--attr NAME=VALUE`` (repeatable) → ``guide.attributes``: parsed with the model's own attribute
    names (:func:`faceinpaint.methods.refattr.parse_attribute_args`), as a ``1×K`` row whose NaN
    entries (names not given) come from the exemplar or the face itself. One line for a method that
    takes no attributes, an unknown name or a value that is not a number."""
    from .methods.base import Guide
    from .methods.refattr import attributes_tensor, parse_attribute_args

    inner = getattr(method, "inner", method)  # under --align auto the model is wrapped
    names = list(getattr(inner, "attribute_names", None) or [])
    if not names:
        raise UsageError(f"--attr {items[0]}: method {name} takes no attributes (refattr does)")
    values = parse_attribute_args(items, names)
    guide = guide or Guide()
    # a tensor, not the dict: the aligned wrapper hands each face its own row of the guide
    guide.attributes = attributes_tensor(values, names)
    return guide


def _check_output_image(path: str) -> Path:
    p = Path(path)
    if p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"{p}: output must be a .png or .jpg file")
    if p.is_dir():
        raise UsageError(f"{p}: is a folder; give an image file name")
    return p


# ----------------------------------------------------------------------------- commands
def cmd_data_prepare(args) -> int:
    from . import data

    r = data.prepare(root=args.root, force=args.force)
    fails = ", ".join(f["name"] for f in r["landmark_failures"]) or "none"
    print(f"data ready in {r['prepared']}: {r['n_faces']} faces ({r['n_train']} train / {r['n_test']} test), "
          f"{r['n_landmarks_ok']} with 68 landmarks (failures: {fails}), attributes {', '.join(r['attribute_names'])}; "
          f"stages run: {', '.join(r['stages_run']) or 'none (up to date)'}; {r['seconds']:.1f} s")
    if r.get("wild"):
        w = r["wild"]
        print(f"in-the-wild set: {w['n_faces']} faces in {w['n_photos']} photos → {w['file']}")
    return 0


def cmd_masks(args) -> int:
    from . import masks

    paths = masks.write_masks(args.kind, args.size, args.n, args.seed, args.out)
    print(f"{len(paths)} {args.kind} masks ({args.size}×{args.size}, seed {args.seed}) → {args.out}")
    return 0


def cmd_train(args) -> int:
    from . import methods, precision

    with precision.training(args.precision):  # the TrainerConfig of the method's fit() picks it up
        ckpt = methods.train(args.method, preset=args.preset, data=args.data, out=args.out,
                             resume=args.resume, seed=args.seed)
    print(f"checkpoint: {ckpt}")
    return 0


def cmd_inpaint(args) -> int:
    import torch.nn.functional as F

    from .io import load_image, load_mask, save_image
    from .methods.base import Guide

    out = _check_output_image(args.out)
    image = load_image(args.image)
    h, w = image.shape[-2:]
    hole = load_mask(args.mask, size=(h, w))
    exemplars = []
    for path in args.exemplar or []:   # every file read before any work starts
        ex = load_image(path)
        if ex.shape[-2:] != (h, w):  # Guide convention: the exemplar at the input's size
            ex = F.interpolate(ex, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
        exemplars.append(ex)
    outs = _numbered_outputs(out, len(exemplars))
    build_kw = {}
    if args.psi is not None:
        if args.method != "exegan":
            raise UsageError(f"--psi is EXE-GAN's truncation of its stochastic style; {args.method} has none")
        if not (args.psi >= 0.0 and math.isfinite(args.psi)):
            raise UsageError(f"--psi {args.psi}: must be a finite number ≥ 0 (1 = no truncation, 0 = the mean style)")
        build_kw["psi"] = args.psi
    box = _face_box(args)
    if box is not None:
        from .align import check_face_box

        check_face_box(box, (h, w), where=str(args.image))
    device = _device(args.device)
    align = args.align
    if box is not None and align is None:
        from . import methods

        if methods.default_align(args.method) == "off":
            raise UsageError(f"--face-box {args.face_box}: {args.method} is classical (alignment off by default); "
                             "add --align auto")
    [method] = _build_methods([args.method], [args.checkpoint] if args.checkpoint else None, device, align, box,
                              args.precision,
                              **build_kw)
    from .align import AlignedInpainter

    # One output per exemplar (numbered when several), or one without any.
    for ex, path in zip(exemplars or [None], outs):
        guide = Guide(exemplar=ex.to(device)) if ex is not None else None
        if args.attr:
            guide = _attribute_guide(method, args.method, args.attr, guide)
        result = method.inpaint(image.to(device), hole.to(device), guide, seed=args.seed)
        how = ""
        if isinstance(method, AlignedInpainter):
            for note in method.notes:
                print(f"{PROG}: {args.image}: {note}", file=sys.stderr)
            n = sum(len(r.faces) for r in method.last)
            how = f" (aligned {n} face{'s' if n != 1 else ''})" if n else " (whole image, no face)"
        save_image(result.detach().cpu(), path)
        print(f"{args.method}: {path}{how}")
    return 0


def _numbered_outputs(out: Path, n: int) -> list[Path]:
    """``--out`` as given for ≤ 1 exemplar; ``out_1.png``, ``out_2.png``, … for several."""
    if n <= 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i}{out.suffix}") for i in range(1, n + 1)]


def cmd_evaluate(args) -> int:
    from . import evaluate as ev

    if "all" in args.method:
        return _evaluate_all(args)
    if args.exclude or args.preset or args.no_fid or args.no_wild:
        raise UsageError("--exclude, --preset, --no-fid and --no-wild go with --method all")
    if args.wild:
        return _evaluate_wild(args)
    if args.masks and not args.images:
        raise UsageError("--masks needs --images (the masks are paired with the images by file name)")
    if args.align == "both":
        raise UsageError("--align both is for --wild; choose auto or off")
    device = _device(args.device)
    built = _build_methods(args.method, args.checkpoint, device, args.align or "off", precision=args.precision)
    if args.images and args.masks:
        result = ev.evaluate_folder(built, args.images, args.masks, exemplars=args.exemplars, seed=args.seed,
                                    device=device, fid=args.fid, identity=args.identity,
                                    keep_images=not args.no_images)
    else:
        images = ev.load_images(args.images, size=args.size, limit=args.limit)
        result = ev.evaluate(built, images, bins=args.bins, n_per_bin=args.n_per_bin, seed=args.seed,
                             out_dir=None, exemplars=None, fid=args.fid, identity=args.identity, device=device,
                             batch_size=args.batch_size, keep_images=not args.no_images)
    written = result.write(args.out, images=not args.no_images)
    print(result.to_markdown())
    print(f"written: {', '.join(str(p) for p in written)}")
    return 0


def _evaluate_wild(args) -> int:
    from . import evaluate as ev

    if args.images or args.masks:
        raise UsageError("--wild uses the prepared in-the-wild set; drop --images/--masks")
    aligns = ("off", "auto") if args.align in (None, "both") else (args.align,)
    device = _device(args.device)
    built = _build_methods(args.method, args.checkpoint, device, "off",  # wrapped per mode by evaluate_wild
                           precision=args.precision)
    result = ev.evaluate_wild(built, aligns, seed=args.seed, limit=args.limit, device=device,
                              keep_images=not args.no_images)
    written = result.write(args.out, images=not args.no_images)
    print(result.to_markdown())
    if len(aligns) == 2:
        print(ev.format_wild_acceptance(ev.wild_acceptance(result)))
    print(f"written: {', '.join(str(p) for p in written)}")
    return 0


def _evaluate_all(args) -> int:
    """``--method all``: :func:`faceinpaint.evaluate.evaluate_protocol` — every available method (minus
    ``--exclude``) on the test split, FID/U-IDS/P-IDS, identity, seconds per face, the in-the-wild set
    with alignment on; a method without its checkpoint is skipped with one line saying why."""
    from . import evaluate as ev

    if args.method != ["all"]:
        raise UsageError("--method all runs every available method: give it alone (use --exclude to leave some out)")
    for flag, bad in (("--checkpoint", args.checkpoint), ("--masks", args.masks), ("--exemplars", args.exemplars),
                      ("--wild", args.wild), ("--align", args.align), ("--fid", args.fid),
                      ("--identity", args.identity)):
        if bad:
            raise UsageError(f"{flag} does not go with --method all (the protocol fixes it: FID, identity and the "
                             "in-the-wild set with --align auto are part of it; --no-fid / --no-wild turn them off)")
    exclude = [n.strip() for v in args.exclude or [] for n in v.split(",") if n.strip()]
    device = _device(args.device)
    res = ev.evaluate_protocol("all", preset=args.preset or "cpu", exclude=exclude, images=args.images,
                               n_images=args.limit, size=args.size, bins=args.bins, n_per_bin=args.n_per_bin,
                               seed=args.seed, fid=False if args.no_fid else None,
                               wild=False if args.no_wild else None, device=device, batch_size=args.batch_size,
                               precision=args.precision)
    for name, why in res.skipped.items():
        print(f"{PROG}: skipped {name}: {why}", file=sys.stderr)
    written = res.write(args.out, images=not args.no_images)
    print(res.to_markdown())
    print(f"written: {', '.join(str(p) for p in written)}")
    return 0


def cmd_results(args) -> int:
    from . import results

    r = results.run(args.metrics, out=args.out, readme=args.readme, check=args.check)
    if args.check:
        if r["stale"]:
            raise FaceInpaintError(f"{args.readme}: its results block is not the one {args.metrics} gives; "
                                   f"run `faceinpaint results --metrics {args.metrics} --readme {args.readme}`")
        print(f"{args.readme}: results block up to date")
        return 0
    print(f"written: {', '.join(r['written']) or 'nothing (up to date)'}")
    return 0


def cmd_metrics(args) -> int:
    from . import evaluate as ev
    from .io import write_json

    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; give a .json file name")
    report = ev.compare_folders(args.real, args.fake, args.masks, fid=args.fid)
    write_json(out, report)
    means = report["mean"]
    print("  ".join(f"{k}={v:.4f}" for k, v in means.items() if isinstance(v, (int, float))))
    print(f"written: {out}")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")

    p = _Parser(prog=PROG, parents=[common], description="Face inpainting: four papers and classical baselines.",
                epilog="methods: telea, navier_stokes, biharmonic, wgan_completion, yeh, lafin, refattr, exegan "
                       "(those implemented in this copy are listed by `faceinpaint inpaint --help`)")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # data prepare
    pd = sub.add_parser("data", parents=[common], help="prepare the offline data and assets")
    pds = pd.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    pds.required = True
    pp = pds.add_parser("prepare", parents=[common], help="fetch assets, annotate faces, write the splits")
    pp.add_argument("--root", default=None, help="data folder (default: data/ of the repository)")
    pp.add_argument("--force", action="store_true", help="redo every step even when its output exists")
    pp.set_defaults(func=cmd_data_prepare)

    # masks
    pm = sub.add_parser("masks", parents=[common], help="write seeded hole masks (white PNG = hole)")
    pm.add_argument("--kind", required=True, help="mask protocol, e.g. centre, free_form, exegan, lafin, bin_30_40")
    pm.add_argument("--size", type=int, required=True, help="side in pixels")
    pm.add_argument("--n", type=int, required=True, help="number of masks")
    pm.add_argument("--seed", type=int, default=0)
    pm.add_argument("--out", required=True, help="output folder")
    pm.set_defaults(func=cmd_masks)

    # train
    pt = sub.add_parser("train", parents=[common], help="train a learned method with a preset")
    pt.add_argument("--method", required=True)
    pt.add_argument("--preset", required=True, help="paper, cpu or smoke")
    pt.add_argument("--data", default=None, help="image folder (default: the prepared CelebA-999 train split)")
    pt.add_argument("--out", required=True, help="run folder (checkpoints, logs)")
    pt.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                    help="fp32 (default), bf16 (autocast on CPU or CUDA) or auto (CUDA: bf16, or fp16 with a "
                         "gradient scaler; CPU: bf16 where the CPU has it natively)")
    pt.set_defaults(func=cmd_train)

    # inpaint
    pi = sub.add_parser("inpaint", parents=[common], help="inpaint one image")
    pi.add_argument("--method", required=True, help=_methods_help())
    pi.add_argument("--checkpoint", default=None, help="default: checkpoints/<method>_cpu.pt")
    pi.add_argument("--image", required=True, help="any RGB face image (any size)")
    pi.add_argument("--mask", required=True, help="8-bit PNG of the image's size, white = hole")
    pi.add_argument("--exemplar", action="append", default=None, metavar="FACE",
                    help="a reference face (resized to the image's size); repeatable: one output per exemplar, "
                         "numbered OUT_1.png, OUT_2.png, …")
    pi.add_argument("--psi", type=float, default=None,
                    help="exegan: truncation ψ of the stochastic style (1 = none, default; 0 = the mean style)")
    pi.add_argument("--attr", action="append", default=None, metavar="NAME=VALUE",
                    help="an attribute for methods that take them (refattr), repeatable, e.g. --attr Smiling=1.5 "
                         "--attr Male=0; any real value (fig. 4's intensity); the others come from --exemplar "
                         "or the face itself")
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--align", choices=("auto", "off"), default=None,
                    help="faces in the wild: detect the face meeting the hole, align it to the training "
                         "template, inpaint, paste back (default: auto for learned methods, off for classical)")
    pi.add_argument("--face-box", default=None, metavar="X,Y,W,H",
                    help="the face's box in pixels, used when dlib finds no face meeting the hole (--align auto)")
    pi.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    pi.add_argument("--precision", choices=PRECISION_CHOICES, default="auto", help=_PRECISION_HELP)
    pi.add_argument("--out", required=True, help="output .png (or .jpg: lossy, known pixels then change)")
    pi.set_defaults(func=cmd_inpaint)

    # evaluate
    pe = sub.add_parser("evaluate", parents=[common], help="the evaluation protocol: methods × hole-ratio bins",
                        description="Without --images/--masks: the prepared test split × every bin of the "
                                    "protocol (PAPERS.md). With --images only: your faces × the protocol's "
                                    "masks. With both: your own image/mask pairs (paired by file name).")
    pe.add_argument("--method", action="append", required=True, help="repeat for several methods")
    pe.add_argument("--checkpoint", action="append", default=None,
                    help="a path (one --method) or METHOD=PATH; default: checkpoints/<method>_cpu.pt")
    pe.add_argument("--images", default=None, help="folder of face images (default: the prepared test split)")
    pe.add_argument("--masks", default=None, help="folder of masks named like the images (white = hole)")
    pe.add_argument("--exemplars", default=None, help="with --masks: folder of exemplars named like the images")
    pe.add_argument("--size", type=int, default=None, help="side of the protocol's images and masks "
                                                           "(default: evaluate.DEFAULT_SIZE)")
    pe.add_argument("--n-per-bin", type=int, default=None,
                    help="masks per bin (default: one per image); image i gets mask i mod n")
    pe.add_argument("--bins", nargs="+", default=None, help="subset of bins, e.g. bin_10_20 centre")
    pe.add_argument("--limit", type=int, default=None, help="use only the first N images")
    pe.add_argument("--batch-size", type=int, default=16)
    pe.add_argument("--seed", type=int, default=0)
    pe.add_argument("--fid", action="store_true", help="also FID, U-IDS and P-IDS (Inception features; slow on a CPU)")
    pe.add_argument("--identity", action="store_true",
                    help="also identity similarity (face-recognition cosine) of each composite to its exemplar")
    pe.add_argument("--no-images", action="store_true", help="write the tables only, not the inpainted PNGs")
    pe.add_argument("--wild", action="store_true",
                    help="the in-the-wild set (real photos, faceinpaint data prepare): align off vs auto")
    pe.add_argument("--align", choices=("auto", "off", "both"), default=None,
                    help="default: off (the test split is aligned already); with --wild: both")
    pe.add_argument("--device", default="auto")
    pe.add_argument("--precision", choices=PRECISION_CHOICES, default="auto", help=_PRECISION_HELP)
    pe.add_argument("--out", required=True, help="output folder")
    pe.add_argument("--preset", choices=("smoke", "cpu", "paper"), default=None,
                    help="--method all: the protocol's scale (evaluate.PROTOCOL_PRESETS; default cpu)")
    pe.add_argument("--exclude", action="append", default=None, metavar="METHOD",
                    help="--method all: leave a method out (repeatable, or comma-separated)")
    pe.add_argument("--no-fid", action="store_true", help="--method all: without FID / U-IDS / P-IDS")
    pe.add_argument("--no-wild", action="store_true", help="--method all: without the in-the-wild photos")
    pe.set_defaults(func=cmd_evaluate)

    # metrics
    px = sub.add_parser("metrics", parents=[common], help="metrics between two folders, paired by file name")
    px.add_argument("--real", required=True, help="folder of ground-truth images")
    px.add_argument("--fake", required=True, help="folder of inpainted images (same names, any image suffix)")
    px.add_argument("--masks", default=None, help="folder of masks (white = hole) named like the images")
    px.add_argument("--fid", action="store_true", help="also FID, U-IDS and P-IDS over the two folders (paired by name)")
    px.add_argument("--out", required=True, help="output metrics.json")
    px.set_defaults(func=cmd_metrics)

    # results (the README's table from notebook 60's metrics.json)
    pr = sub.add_parser("results", parents=[common], help="the README's results table and figure from a metrics.json",
                        description="Render the results table (faceinpaint.results) from notebook 60's metrics.json "
                                    "(or `evaluate --method all`'s) into the README between its results markers.")
    pr.add_argument("--metrics", required=True, help="the protocol's metrics.json")
    pr.add_argument("--out", default=None, help="folder for the slim metrics.json and results.png (e.g. docs/results)")
    pr.add_argument("--readme", default=None, help="README to update between <!-- results:begin/end --> markers")
    pr.add_argument("--check", action="store_true", help="only check that the README's block is current (exit 1 if not)")
    pr.set_defaults(func=cmd_results)
    return p


def _methods_help() -> str:
    try:
        from . import methods

        return "one of: " + ", ".join(methods.available())
    except Exception:  # help text must never break the CLI
        return "method name"


def _one_line(e: BaseException) -> str:
    msg = str(e).strip() or type(e).__name__
    return " ".join(msg.split())  # one line, whatever the message held


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        debug = debug or getattr(args, "debug", False)
        return args.func(args)
    except FaceInpaintError as e:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except OSError as e:  # unwritable output, full disk, unreadable folder…
        if debug:
            raise
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"{PROG}: error: {where}{_one_line(e) if not where else (e.strerror or _one_line(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
