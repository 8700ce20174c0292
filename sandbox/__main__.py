"""Entry point of ``python -m sandbox``; see sandbox.cli for the options."""

from __future__ import annotations

import sys

from sandbox.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
