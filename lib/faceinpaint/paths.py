"""Where things live: the data root, the asset cache, the shipped checkpoints.

``FACEINPAINT_DATA`` overrides the data root (default: ``<repo>/data`` for an editable
install, else ``./data``). Prepared data and assets are git-ignored and land there.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The repository root for an editable install (``lib/faceinpaint`` → ``../..``), else cwd."""
    candidate = PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def data_root() -> Path:
    env = os.environ.get("FACEINPAINT_DATA")
    return Path(env).expanduser().resolve() if env else repo_root() / "data"


def assets_dir() -> Path:
    return data_root() / "assets"


def checkpoints_dir() -> Path:
    return repo_root() / "checkpoints"


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository root when it lies inside it (records in checkpoint
    ``meta`` then read the same on every clone), else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(repo_root().resolve()))
    except ValueError:
        return str(path)
