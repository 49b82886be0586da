"""How the torch-side tools run: the runtime's exit-status contract, with the trainer's errors as user errors.

The console scripts ``nerv-train`` and ``nerv-export`` enter through :func:`train` / :func:`export`, which
import the tool's module (and with it torch) under the contract, so on the core install ``--help`` prints
one line naming the extra to install (exit 2) instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from ..runtime.errors import run_cli
from ..trainer.errors import TrainerError


def run_tool(prog: str, body: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None,
             **kwargs) -> int:
    """:func:`nervkit.runtime.errors.run_cli`, reporting a ``TrainerError`` as a user error (exit 2)."""
    return run_cli(prog, body, argv, user_errors=(TrainerError,), **kwargs)


def _tool(prog: str, module: str) -> int:
    return run_tool(prog, lambda argv: importlib.import_module(module).main(argv), None)


def train() -> int:
    return _tool("nerv-train", "nervkit.export.train_cli")


def export() -> int:
    return _tool("nerv-export", "nervkit.export.cli")
