"""The one atomic-write helper: unique O_EXCL temporaries, no symlink followed, umask modes, cleanup."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nervkit.runtime.atomic import AtomicOutput, write_atomic
from nervkit.runtime.errors import UserError


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def test_planted_symlinks_are_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    # the names the old code used, and a flood of names the new one could draw
    for planted in (".report.json.tmp", ".report.json.partial"):
        (tmp_path / planted).symlink_to(victim)
    write_atomic(tmp_path / "report.json", "{}\n")
    assert victim.read_text() == "keep me"
    assert (tmp_path / "report.json").read_text() == "{}\n" and not (tmp_path / "report.json").is_symlink()


def test_existing_target_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "out.json").symlink_to(victim)
    write_atomic(tmp_path / "out.json", "new")
    assert victim.read_text() == "keep me" and (tmp_path / "out.json").read_text() == "new"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_modes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f.bin", b"x")
        with AtomicOutput(tmp_path / "d", folder=True) as out:
            (out.path / "a").write_bytes(b"")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~umask


def test_failure_and_interrupt_leave_nothing(tmp_path):
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc), AtomicOutput(tmp_path / "x.bin") as out:
            os.write(out.fd, b"half")
            raise exc()
        with pytest.raises(exc), AtomicOutput(tmp_path / "pngs", folder=True) as out:
            (out.path / "000000.png").write_bytes(b"half")
            raise exc()
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="not an existing folder"):
        write_atomic(tmp_path / "nodir" / "x.json", "{}")


def test_temporary_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    code = ("import os, sys, time; from nervkit.runtime.atomic import AtomicOutput\n"
            "out = AtomicOutput(sys.argv[1]); os.write(out.fd, b'half'); print(out.path, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "v.y4m")], stdout=subprocess.PIPE, text=True)
    partial = Path(proc.stdout.readline().strip())
    assert partial.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists()  # nothing can run at SIGKILL
    write_atomic(tmp_path / "v.y4m", b"whole")
    assert _leftovers(tmp_path, "v.y4m") == []


def _write_letter(target: str, letter: str) -> None:
    write_atomic(target, letter * 100000)


def test_concurrent_writers_of_one_target(tmp_path):
    """25 processes write the same file at once: each succeeds, the result is one whole file, no temporaries."""
    target = tmp_path / "same.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_letter, args=(str(target), chr(65 + i))) for i in range(25)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 25
    text = target.read_text()
    assert len(text) == 100000 and len(set(text)) == 1
    assert _leftovers(tmp_path, "same.json") == []
