"""User-facing errors.

Every error a user can cause (a bad image, a missing asset, a wrong argument) is a
:class:`FaceInpaintError` whose message is one line naming the file or asset and the
problem. The CLI prints that line to stderr and exits 1 with no traceback (``--debug``
shows it).
"""
from __future__ import annotations


class FaceInpaintError(Exception):
    """An error caused by input or environment, with a one-line, user-readable message."""


class BadImageError(FaceInpaintError):
    """An image or mask file that cannot be used (unreadable, truncated, wrong size...)."""


class AssetError(FaceInpaintError):
    """A pretrained file or data package that is missing, corrupt or cannot be fetched."""


class DataError(FaceInpaintError):
    """Prepared data that is missing or inconsistent."""
