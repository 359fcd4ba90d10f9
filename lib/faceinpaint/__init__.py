"""faceinpaint — four face-inpainting papers on one small library.

Conventions: images ``N×3×H×W`` float32 in ``[-1, 1]``; holes ``N×1×H×W`` with 1 = missing;
landmarks ``N×68×2`` pixels (iBUG-68); every method returns the composite.
"""
__version__ = "0.1.0"

from .errors import FaceInpaintError  # noqa: F401
from .methods.base import Guide, Inpainter, composite  # noqa: F401
