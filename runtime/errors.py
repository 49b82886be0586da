"""User-facing errors of the torch-free runtime, and the wrapper every nervkit CLI runs under.

Exit status contract (GUIDE): 0 success, 2 user error (one line on stderr, no traceback),
1 internal error (traceback), 130 on Ctrl-C.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence


class UserError(Exception):
    """Bad arguments or unreadable/invalid input; a CLI prints ``str(err)`` as one line and exits 2."""


class PackageError(UserError):
    """A ``.nvpkg`` file that is not a valid package: truncated, corrupted, wrong version, too large."""


def one_line(err: BaseException, limit: int = 300) -> str:
    """The first line of ``str(err)`` (or the type name), cut to ``limit`` characters."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return first[:limit]


def run_cli(prog: str, body: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None,
            user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``body(argv)`` with the shared exit-status contract.

    ``user_errors`` adds exception classes that also mean "bad input" (``nervkit.export`` passes the
    trainer's ``UserError``; runtime cannot import it). ``OSError`` on a user's file is a user error
    too: a missing file or a full disk is not a bug of ours. ``SystemExit`` from argparse passes
    through (it already exits 2 on bad arguments).
    """
    try:
        code = body(argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError, *user_errors) as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        print(f"{prog}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return 1
    return int(code or 0)
