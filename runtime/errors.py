"""The one user-error type of every nervkit layer, and the wrapper every nervkit CLI runs under.

Exit status contract (GUIDE): 0 success, 2 user error (one line on stderr, no traceback),
1 internal error (traceback), 130 on Ctrl-C, 141 when the reader of stdout went away.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence

EXTRAS = {"torch": "train", "pytorch_wavelets": "train", "pywt": "train", "av": "video", "pygame": "window",
          "matplotlib": "plot", "tensorrt": "tensorrt", "pycuda": "tensorrt"}
"""Optional dependency -> the extra that installs it (pyproject.toml)."""


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
            interrupted: str = "interrupted", user_errors: tuple[type[Exception], ...] = ()) -> int:
    """Run ``body(argv)`` with the shared exit-status contract; the one ``main`` wrapper of every CLI.

    A missing optional dependency (:data:`EXTRAS`) prints one line naming the extra and gives 2;
    ``UserError`` and ``OSError`` (a missing file or a full disk is not a bug of ours) and ``MemoryError``
    print one line and give 2; Ctrl-C prints ``interrupted`` and gives 130; a reader that closes our
    stdout early (``| head``) ends the program quietly with 141 (128 + SIGPIPE), as POSIX tools do;
    anything else is a bug: the traceback and 1. ``SystemExit`` from argparse passes through (it
    already exits 2 on bad arguments). ``user_errors``: further exception types reported as user errors
    (the torch-side tools pass the trainer's ``TrainerError``, a layer the runtime does not import).
    """
    try:
        code = body(argv)
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except (UserError, OSError, *user_errors) as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{prog}: error: out of memory (lower --batch or the input size, or free memory)", file=sys.stderr)
        return 2
    except ImportError as err:
        extra = EXTRAS.get((err.name or "").split(".")[0])
        if extra is None:
            return _internal(prog)
        print(f"{prog}: error: needs {err.name}, which this install lacks: pip install 'nervkit[{extra}]'",
              file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except Exception:
        return _internal(prog)
    return int(code or 0)


def _internal(prog: str) -> int:
    traceback.print_exc()
    print(f"{prog}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not hit the closed pipe again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):  # stdout replaced in tests
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
