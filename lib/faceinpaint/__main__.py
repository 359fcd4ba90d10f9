"""``python -m faceinpaint`` and the ``faceinpaint`` console script (see :mod:`faceinpaint.cli`)."""
from __future__ import annotations

import sys


def main() -> None:
    from .cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
