"""The one user-error type of every nervkit layer, and the wrapper every nervkit CLI runs under.

Exit status contract (GUIDE): 0 success, 2 user error (one line on stderr, no traceback),
1 internal error (traceback), 130 on Ctrl-C and 143 on SIGTERM (:mod:`.interrupt`), 141 when the reader
of stdout went away.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from . import interrupt

EXTRAS = {"torch": "train", "pytorch_wavelets": "train", "pywt": "train", "av": "video", "pygame": "window",
          "matplotlib": "plot", "tensorrt": "tensorrt", "pycuda": "tensorrt"}
"""Optional dependency -> the extra that installs it (pyproject.toml)."""


class UserError(Exception):
    """Bad arguments or unreadable/invalid input; a CLI prints ``str(err)`` as one line and exits 2."""


class PackageError(UserError):
    """A ``.nvpkg`` file that is not a valid package: truncated, corrupted, wrong version, too large."""


def one_line(err: BaseException, limit: int = 300) -> str:
    """The first line of ``str(err)`` (or the type name), cut to ``limit`` characters; an ``OSError`` as
    ``name: reason`` (``x.nvpkg: No such file or directory``, not ``[Errno 2] ...: 'x.nvpkg'``)."""
    text = str(err).strip()
    if isinstance(err, OSError) and err.strerror:
        name = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
        text = err.strerror if name is None else f"{name}: {err.strerror}"
    first = text.splitlines()[0] if text else type(err).__name__
    return first[:limit]


def run_cli(prog: str, body: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None,
            interrupted: str = "interrupted", user_errors: tuple[type[Exception], ...] = ()) -> int:
    """Run ``body(argv)`` with the shared exit-status contract; the one ``main`` wrapper of every CLI.

    A missing optional dependency (:data:`EXTRAS`) prints one line naming the extra and gives 2;
    ``UserError`` and ``OSError`` (a missing file or a full disk is not a bug of ours) and ``MemoryError``
    print one line and give 2; Ctrl-C prints ``interrupted`` and gives 130 (SIGTERM: 143); a reader that
    closes our stdout early (``| head``) ends the program quietly with 141 (128 + SIGPIPE), as POSIX tools
    do; anything else is a bug: the traceback and 1. ``SystemExit`` from argparse passes through (it
    already exits 2 on bad arguments). ``user_errors``: further exception types reported as user errors
    (the torch-side tools pass the trainer's ``TrainerError``, a layer the runtime does not import).

    ``argv=None`` means the call is the program itself (a console script or ``python -m``; its arguments
    are ``sys.argv``): it then also owns the process's signals (:mod:`.interrupt`: Ctrl-C and SIGTERM end
    it within seconds even inside a long C call, and at any point, with 130 / 143), flushes stdout before
    it returns, and its return value is the process's exit status. Tests and scripts pass a list and
    keep their own signal handling.
    """
    owner = argv is None and interrupt.install(prog)
    if not owner:
        return _run(prog, body, argv, interrupted, user_errors)
    try:
        try:
            code = _run(prog, body, argv, interrupted, user_errors)
            code = _flush_stdout(prog, code)
        except SystemExit as exit_:  # argparse: --help, bad arguments
            code = _exit_status(exit_)
    except KeyboardInterrupt:  # a signal that came while run_cli itself was reporting
        code = interrupt.status()
    return interrupt.decide(code)


def _run(prog: str, body, argv, interrupted: str, user_errors: tuple[type[Exception], ...]) -> int:
    try:
        code = body(argv)
    except KeyboardInterrupt:
        _say(f"{prog}: {interrupted}")
        interrupt.reported()
        return interrupt.status()
    except BrokenPipeError:
        _silence(sys.stdout)
        return 141
    except (UserError, OSError, *user_errors) as err:
        _say(f"{prog}: error: {one_line(err)}")
        return 2
    except MemoryError:
        _say(f"{prog}: error: out of memory (lower --batch or the input size, or free memory)")
        return 2
    except ImportError as err:
        extra = EXTRAS.get((err.name or "").split(".")[0])
        if extra is None:
            return _internal(prog)
        _say(f"{prog}: error: needs {err.name}, which this install lacks: pip install 'nervkit[{extra}]'")
        return 2
    except SystemExit:
        raise
    except Exception:
        return _internal(prog)
    return int(code or 0)


def _flush_stdout(prog: str, code: int) -> int:
    """Flush what the program printed now, where a closed pipe is still 141 (at interpreter exit it would
    be 120 and an "Exception ignored" message)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence(sys.stdout)
        return 141
    except OSError as err:  # a full disk behind "> file": the output is incomplete
        _silence(sys.stdout)
        _say(f"{prog}: error: cannot write to stdout: {err.strerror}")
        return 2
    except ValueError:  # stdout closed by the program
        pass
    return code


def _exit_status(exit_: SystemExit) -> int:
    if exit_.code is None or isinstance(exit_.code, int):
        return exit_.code or 0
    _say(str(exit_.code))  # what the interpreter does with a non-integer code
    return 1


def _internal(prog: str) -> int:
    _say(traceback.format_exc().rstrip("\n"))
    _say(f"{prog}: internal error (a bug; please report it with the traceback above)")
    return 1


def _say(text: str) -> None:
    """One message on stderr; a stderr that is gone (``2>&1 | head -1``) does not change the exit status."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _silence(sys.stderr)


def _silence(stream) -> None:
    """Point ``stream``'s descriptor at /dev/null so later writes (and the interpreter's final flush) do not
    hit the closed pipe again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):  # stream replaced in tests
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
