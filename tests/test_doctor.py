"""``nerv-doctor`` in-process: it reports every backend and self-tests the available ones against eager."""

from __future__ import annotations

import json

from nervkit.export.doctor import main
from nervkit.runtime.backends import BACKENDS


def test_doctor_reports_backends_and_self_tests_ort_cpu(capsys):
    assert main(["--json", "-"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert set(report["backends"]) == set(BACKENDS)
    cpu = report["backends"]["ort-cpu"]
    assert cpu["available"] and cpu["passed"] and cpu["self_test_max_abs_error"] <= 1e-4
    for name, entry in report["backends"].items():
        assert entry["available"] or entry["reason"], name  # unavailable ones say why
    assert "backend ort-cpu: self-test passed" in captured.err


def test_doctor_bad_flag_is_a_user_error(capsys):
    try:
        code = main(["--no-such-flag"])
    except SystemExit as exit_:  # argparse exits 2 itself
        code = exit_.code
    assert code == 2
