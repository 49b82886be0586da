"""The CLI contract every tool shares (GUIDE): exit 0 / 2 with one line / 1 with a traceback, 130, 141."""

from __future__ import annotations

import errno

import pytest

from nervkit.export import train_cli
from nervkit.runtime.errors import UserError, run_cli


def _raises(exc):
    def body(argv):
        raise exc
    return body


@pytest.mark.parametrize("exc, code", [
    (UserError("bad input"), 2),
    (OSError(errno.ENOSPC, "No space left on device"), 2),
    (KeyboardInterrupt(), 130),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), 141),
    (ZeroDivisionError("bug"), 1),
])
def test_run_cli_exit_statuses(capsys, exc, code):
    assert run_cli("nerv-x", _raises(exc), []) == code
    err = capsys.readouterr().err.strip().splitlines()
    if code == 2:
        assert len(err) == 1 and err[0].startswith("nerv-x: error: ")
    elif code == 141:
        assert err == []  # the reader went away: nothing to say
    elif code == 1:
        assert "Traceback" in err[0] and "internal error" in err[-1]


def test_nerv_train_uses_the_shared_contract(tmp_path, capsys):
    """nerv-train's main is run_cli: a bad output folder is exit 2 and one line, before any training."""
    (tmp_path / "frames").mkdir()
    code = train_cli.main([str(tmp_path / "frames"), "-o", str(tmp_path / "nodir" / "m.pt"), "--model", "test-hnerv"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nodir" in err[0] and "not an existing folder" in err[0]
