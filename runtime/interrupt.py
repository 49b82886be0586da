"""Ctrl-C and SIGTERM end every nervkit program within seconds, even inside a long C call.

Python runs a signal handler only between bytecodes of the main thread, so a program inside one long
C call (a training step's ``backward``, a big ``F.interpolate``, an ONNX Runtime or OpenVINO ``run``)
used to ignore Ctrl-C until the call returned: 35-110 s (issue 10). The program entry
(:func:`.errors.run_cli` with ``argv=None``) calls :func:`install`, which arms two things:

- a Python handler for SIGINT and SIGTERM that raises ``KeyboardInterrupt`` once, so the ordinary
  path runs where it can: ``except``/``finally`` blocks remove temporaries and the trainer saves its
  last epoch; later signals raise nothing (a second ``KeyboardInterrupt`` inside that cleanup would
  end it with a traceback);
- a watchdog thread reading :func:`signal.set_wakeup_fd`'s pipe, to which CPython's C-level handler
  writes the signal number at once, whatever the main thread is doing (a call that released the GIL,
  as PyTorch, NumPy, ONNX Runtime, OpenVINO, PIL and hashlib do for long work). If the main thread has
  not started handling the signal after :data:`START_S` (it is inside such a call), has not finished
  after :data:`FINISH_S`, or a second signal comes, the watchdog runs the registered cleanups (every
  live temporary output and scratch folder is removed, every unfinished job's outputs rolled back:
  :mod:`.atomic`), prints ``<prog>: interrupted`` and ends the process with ``os._exit``.

Exit status ``128 + signal``: 130 for Ctrl-C, 143 for SIGTERM (what a shell reports for a process
the signal killed; both signals are handled alike). A signal that arrives after the work is done but
before the process has exited (the package is complete, worker threads are being joined) still gives
that status and the one line, never the old ``-2`` (killed by the signal during the interpreter's
teardown, where CPython restores the default actions): after :func:`decide` the watchdog exits at
once, and the last ``atexit`` hook ends the process with its status before that teardown. Outputs are
either complete (their rename happened) or absent.

Limit: a C call that holds the GIL for long also stops the watchdog; the libraries named above release it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

START_S = 1.0
"""Seconds the main thread has, after a signal, to reach Python code (and raise KeyboardInterrupt)."""
FINISH_S = 5.0
"""Seconds after a signal by which the program must have finished its own cleanup and decided its status."""
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_guard = threading.Lock()
_cleanups: dict[int, Callable[[], None]] = {}
_tokens = itertools.count()


class _State:
    prog = ""
    installed: set[int] = set()  # the signals whose handler is ours (not those the parent set to SIG_IGN)
    signum: int | None = None    # the first signal received
    raised = False               # the handler raised KeyboardInterrupt in the main thread
    reported = False             # the one "interrupted" line was printed
    decided: int | None = None   # the exit status, once the program has finished its work


_state = _State()


def on_forced_exit(fn: Callable[[], None]) -> int:
    """Run ``fn()`` (from the watchdog thread) if the process is ended by a signal before
    :func:`forget` of the returned token. ``fn`` must be quick and must not need the main thread."""
    token = next(_tokens)
    _cleanups[token] = fn
    return token


def forget(token: int) -> None:
    _cleanups.pop(token, None)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Hold off a forced exit: a rename onto an output happens wholly before the cleanups run, or not at all."""
    with _guard:
        yield


def status() -> int:
    """The exit status of an interrupted program: 128 + the signal (130 without one: a KeyboardInterrupt
    raised in-process)."""
    return 128 + (_state.signum or signal.SIGINT)


def reported() -> None:
    """The program printed its own ``interrupted`` line: the watchdog adds none."""
    _state.reported = True


def install(prog: str) -> bool:
    """Arm the handler and the watchdog for ``prog`` (main thread only); True when this call armed them
    (the caller then calls :func:`decide`), False when an outer call did (only the handlers are re-asserted,
    in case the program replaced them)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    first = not _state.prog
    if first:
        _state.prog = prog
        _state.installed = {s for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}  # nohup stays
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=_watch, args=(read_fd,), name="nerv-interrupt", daemon=True).start()
        atexit.register(_at_exit)
    for signum in _state.installed:
        signal.signal(signum, _handler)
    return first


def decide(code: int) -> int:
    """The program finished its work with exit status ``code``; returns the status to exit with: 128 +
    the signal if one came at any point (printing the one line if nobody did), else ``code``."""
    if _state.signum is not None:
        code = status()
        _report()
    _state.decided = code
    return code


def _handler(signum, frame) -> None:
    first = _state.signum is None
    if first:
        _state.signum = signum
    if first and _state.decided is None:
        _state.raised = True
        raise KeyboardInterrupt


def _report() -> None:
    if not _state.reported:
        _state.reported = True
        tqdm = sys.modules.get("tqdm")
        bars = getattr(getattr(tqdm, "tqdm", None), "_instances", None)
        start = "\n" if bars else ""  # an open progress bar keeps the cursor at the end of its line
        with contextlib.suppress(OSError):
            os.write(2, f"{start}{_state.prog}: interrupted\n".encode())


def _watch(read_fd: int) -> None:
    first_at = signum = None
    count = 0
    while True:
        timeout = None
        if first_at is not None:
            timeout = max(0.0, first_at + (FINISH_S if _state.raised else START_S) - time.monotonic())
        ready, _, _ = select.select([read_fd], [], [], timeout)
        if ready:
            got = [n for n in os.read(read_fd, 512) if n in _state.installed]
            if not got:
                continue
            count += len(got)
            if first_at is None:
                first_at, signum = time.monotonic(), got[0]
            if count > 1 or _state.decided is not None:
                _force(signum)
        elif not _state.raised or time.monotonic() - first_at >= FINISH_S:
            _force(signum)


def _force(signum: int) -> None:
    """Remove what the program was writing and end the process now, with 128 + ``signum``."""
    _guard.acquire(timeout=1.0)  # a rename in progress finishes first; then none starts (kept till the exit)
    for fn in list(_cleanups.values()):
        with contextlib.suppress(Exception):
            fn()
    _state.signum = _state.signum or signum
    _report()
    os._exit(status())


def _at_exit() -> None:
    """The last ``atexit`` hook (registered before the program imported anything that adds one): the threads
    are joined and every other hook has run, so the process ends here with its status, skipping the
    interpreter's teardown (a second or more with PyTorch loaded), where CPython has restored the
    signals' default actions and a Ctrl-C killed the process (status -2) instead of giving 130."""
    for signum in _state.installed:
        signal.signal(signum, signal.SIG_IGN)
    if _state.decided is None:
        return
    if _state.signum is not None:  # came after decide(), while the threads were joined
        _report()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status() if _state.signum is not None else _state.decided)
