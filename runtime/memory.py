"""Memory bounds: estimate what a job needs before doing it, and refuse above a limit the user can raise.

``--max-memory SIZE`` (every tool that decodes, trains or exports) sets the limit; the default is
:data:`DEFAULT_MAX_MEMORY`. Estimates count the big buffers only (weights, activations, frames), not
the interpreter and libraries (about 0.2 GiB).
"""

from __future__ import annotations

import argparse
import re

from .errors import UserError

GIB = 1 << 30
DEFAULT_MAX_MEMORY = 8 * GIB
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": GIB, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5g"``, ``"1000000"`` (bytes) -> bytes; binary units (G = 2**30)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not m or float(m[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8G or 512M")
    return int(float(m[1]) * _UNITS[m[2]])


def add_max_memory_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-memory SIZE`` (default :data:`DEFAULT_MAX_MEMORY`)."""
    parser.add_argument("--max-memory", type=parse_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                        help=f"refuse work estimated to need more memory than this (default "
                             f"{DEFAULT_MAX_MEMORY // GIB}G; e.g. 16G, 512M)")


def check_memory(needed: int, limit: int, what: str) -> None:
    """Raise ``UserError`` when ``needed`` bytes exceed ``limit``; the message says how to go on."""
    if needed > limit:
        raise UserError(f"{what} needs about {needed / GIB:.1f} GiB of memory, more than the limit of "
                        f"{limit / GIB:.1f} GiB; raise it with --max-memory if this machine has the memory")
