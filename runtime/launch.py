"""Console entry points of the tools whose modules import an extra (torch) when they load.

The module is imported under :func:`.errors.run_cli`, so on the core install ``nerv-train --help`` and
``nerv-export`` print one line naming the extra to install (exit 2) instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib

from .errors import run_cli


def _tool(prog: str, module: str) -> int:
    return run_cli(prog, lambda argv: importlib.import_module(module).main(argv), None)


def train() -> int:
    return _tool("nerv-train", "nervkit.trainer.cli")


def export() -> int:
    return _tool("nerv-export", "nervkit.export.cli")
