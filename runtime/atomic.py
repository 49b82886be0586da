"""Atomic output, the one way every nervkit tool writes a file or a folder.

An output is built under a temporary name beside its target and renamed onto the target only when it
is complete; on an error or an interrupt it is removed. What this guarantees (issue 10):

- **unique temporary names** ``.<name>.<pid>.<random>.partial<suffix>`` created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` (folders: ``mkdir``) in the target's folder: a file or symlink planted at that name is
  never opened or followed (creation fails and another name is drawn), and concurrent writers of one
  target never share a temporary; the last to finish wins and every reader sees a whole file;
- **modes follow the user's umask**: files are created ``0o666`` and folders ``0o777`` and the kernel
  applies the umask, as for any ``open``;
- **durable**: the file is ``fsync``-ed before ``os.replace`` and the folder after it;
- **nothing half-written**: a failure or ``KeyboardInterrupt`` removes the temporary; so does a program
  that Ctrl-C or SIGTERM ends from inside a long C call (:mod:`.interrupt` runs the removal registered
  here for every live temporary, every unfinished :func:`all_or_nothing` job and every
  :func:`scratch_folder`); one left by a process killed outright (SIGKILL) is removed by the next write
  to the same target once its process is gone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from . import interrupt
from .errors import UserError

_TAG = ".partial"


def _temp_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}{_TAG}{target.suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale(target: Path) -> None:
    """Remove temporaries of ``target`` left by processes of this user that no longer run."""
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        rest = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
        pid, _, tail = rest.partition(".")
        if not (pid.isdigit() and _TAG in tail) or _pid_alive(int(pid)):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_uid != os.geteuid():
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(target: str | os.PathLike, folder: bool = False,
                   inputs: tuple[str | os.PathLike, ...] = ()) -> None:
    """Refuse, before any long work, an output that :class:`AtomicOutput` could not write: a missing or
    read-only folder, a folder where a file goes (or a non-empty folder where a folder goes), or one of
    the program's own ``inputs`` (writing there would replace the input)."""
    target = Path(target)
    if str(target) == "":
        raise UserError("an empty output path was given")
    parent = target.parent
    if not parent.is_dir():
        raise UserError(f"{target}: {parent} is not an existing folder")
    _refuse_special(target)
    _probe(target)
    if folder:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UserError(f"{target}: exists and is not an empty folder; choose a new name")
    elif target.is_dir():
        raise UserError(f"{target}: is a folder; give a file name")
    for src in inputs:
        if target.exists() and os.path.exists(src) and os.path.samefile(src, target):
            raise UserError(f"{target}: is also the input; choose another output name")


def _refuse_special(target: Path) -> None:
    """A device, pipe or socket (also through a symlink: ``/dev/stdout``) is never replaced by a file."""
    if target.exists() and not (target.is_file() or target.is_dir()):
        raise UserError(f"{target}: is a device or pipe, not a file or folder; nervkit writes whole files")


def _probe(target: Path) -> None:
    """Create and remove a temporary beside ``target``: the one test of "can we write there" that holds for
    root too (``os.access`` says yes to root where a read-only mount or sysfs then refuses)."""
    while True:
        path = target.parent / _temp_name(target)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise UserError(f"{target}: cannot write in folder {target.parent} ({err.strerror})") from None
        os.close(fd)
        os.unlink(path)
        return


def check_distinct(*targets: str | os.PathLike | None) -> None:
    """Refuse one path named for two outputs of a run (``-o x.nvpkg --json x.nvpkg``): the later write
    would replace the earlier output."""
    seen: set[str] = set()
    for target in targets:
        if target is None or str(target) in ("", "-"):
            continue
        key = os.path.realpath(target)
        if key in seen:
            raise UserError(f"{target}: named for two outputs; give each its own name")
        seen.add(key)


class AtomicOutput:
    """A temporary file (or folder, ``folder=True``) beside ``target``; :meth:`commit` renames it onto
    ``target``, :meth:`abort` removes it. As a context manager it commits on a clean exit.

    ``self.path`` is the temporary to write (or pass to a library that opens paths: PyAV, matplotlib);
    ``self.fd`` the open descriptor of a temporary file. A folder target must be absent or empty.
    """

    def __init__(self, target: str | os.PathLike, folder: bool = False):
        self.target = Path(target)
        self.folder = folder
        parent = self.target.parent
        if not parent.is_dir():
            raise UserError(f"{self.target}: {parent} is not an existing folder")
        _refuse_special(self.target)
        remove_stale(self.target)
        while True:
            path = parent / _temp_name(self.target)
            try:
                if folder:
                    os.mkdir(path, 0o777)
                    self.fd = None
                else:
                    self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                      0o666)
                break
            except FileExistsError:
                continue
            except OSError as err:
                raise UserError(f"{self.target}: cannot write here ({err.strerror})") from None
        self.path = path
        self.done = False
        self._token = interrupt.on_forced_exit(self._remove)

    def commit(self) -> None:
        """Make the output durable and rename it onto the target."""
        try:
            if self.fd is not None:
                os.fsync(self.fd)
                os.close(self.fd)
                self.fd = None
            with interrupt.guard():
                if self.folder and self.target.is_dir() and not self.target.is_symlink():
                    self.target.rmdir()  # an empty folder is replaced; a non-empty one raises
                os.replace(self.path, self.target)
                self.done = True
                interrupt.forget(self._token)
        except OSError as err:
            self.abort()
            raise UserError(f"{self.target}: cannot write ({err.strerror})") from None
        _fsync_folder(self.target.parent)

    def abort(self) -> None:
        """Remove the temporary (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.done:
            self.done = True
            self._remove()
            interrupt.forget(self._token)

    def _remove(self) -> None:
        if self.folder:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            with suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextmanager
def all_or_nothing(*targets: str | os.PathLike | None) -> Iterator[None]:
    """The outputs of one job: if the block fails or is interrupted, each target it (re)wrote is removed,
    so a failed run leaves no complete-looking output behind (an output it never reached is untouched)."""
    before = {t: _identity(t) for t in targets if t and str(t) != "-"}

    def roll_back() -> None:
        for target, ident in before.items():
            now = _identity(target)
            if now is not None and now != ident:
                with suppress(OSError):
                    os.unlink(target)

    token = interrupt.on_forced_exit(roll_back)
    try:
        yield
    except BaseException:
        roll_back()
        raise
    finally:
        interrupt.forget(token)


@contextmanager
def scratch_folder(prefix: str = "nerv-") -> Iterator[Path]:
    """A private temporary folder (in the system's temp folder) for intermediate files, removed when the
    block ends, also when a signal ends the program inside it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        token = interrupt.on_forced_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
        try:
            yield Path(tmp)
        finally:
            interrupt.forget(token)


@contextmanager
def atomic_open(target: str | os.PathLike) -> Iterator:
    """A binary file object whose content replaces ``target`` when the block ends cleanly."""
    out = AtomicOutput(target)
    try:
        with os.fdopen(os.dup(out.fd), "wb") as f:
            yield f
    except BaseException:
        out.abort()
        raise
    out.commit()


def write_atomic(target: str | os.PathLike, data: bytes | str) -> None:
    """Replace ``target`` with ``data`` (``str`` is written as UTF-8), atomically."""
    with atomic_open(target) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
