"""``--json FILE``, defined once for every CLI: the option and its output (``-`` is stdout, a path is
written atomically, see :mod:`.atomic`)."""

from __future__ import annotations

import argparse
import json
import sys

from .atomic import check_writable, write_atomic


def add_json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--json FILE``: ``what`` says what the JSON holds (e.g. "the report")."""
    parser.add_argument("--json", metavar="FILE", type=_target, help=f"write {what} as JSON to FILE ('-' = stdout)")


def _target(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("an empty name was given")
    return text


def check_json_target(target: str | None) -> None:
    """Refuse a ``--json`` path that cannot be written, before any long work."""
    if target and target != "-":
        check_writable(target)


def write_json(target: str, obj) -> None:
    text = json.dumps(obj, indent=2, default=float) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(target, text)
