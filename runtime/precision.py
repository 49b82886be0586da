"""The quality guard of reduced precision: which ``(backend, precision)`` a package may run under ``auto``.

``nerv-export`` decodes the package's first frames with fp32 (``ort-cpu``, the reference) and with every
reduced precision of every backend it has, measures each against the source video, and records in the
manifest (key ``precision_guard``)::

    {"max_loss_db": 0.02, "frames": [0, 8], "against": "source video ...",
     "results": {"openvino:bf16": {"loss_db": 0.003, "psnr_vs_fp32_db": 64.0,
                                   "max_abs_diff": 3.1, "passed": true}, ...}}

``loss_db`` is the worst frame's PSNR drop (dB, on [0, 1] pixels, float and uint8-rounded frames alike)
of that precision against fp32 decoding of the same package, both measured against the source.
``--precision auto`` runs a reduced precision only when its record is present, says it passed and its
``loss_db`` is within ``MAX_LOSS_DB`` (the runtime's own constant: a manifest cannot raise the bar).
Without a source video nothing can be measured, nothing is recorded, and ``auto`` decodes in fp32.
An explicit ``--precision`` is obeyed, and ``nerv-bench`` reports what it costs.
"""

from __future__ import annotations

import math

from .errors import PackageError

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
"""Precisions a backend may declare (``int8`` is declared by none: see docs/precision.md)."""
MAX_LOSS_DB = 0.02
"""Largest PSNR cost (dB) against fp32 that ``--precision auto`` accepts."""
MANIFEST_KEY = "precision_guard"


def record_key(backend: str, precision: str) -> str:
    return f"{backend}:{precision}"


def guard_results(package) -> dict[str, dict]:
    """The manifest's guard results (``{}`` when none were recorded); a malformed record is a PackageError."""
    guard = package.manifest.get(MANIFEST_KEY)
    if guard is None:
        return {}
    results = guard.get("results") if isinstance(guard, dict) else None
    if not isinstance(results, dict):
        raise PackageError(f"invalid manifest: {MANIFEST_KEY}.results must be an object")
    for key, rec in results.items():
        loss = rec.get("loss_db") if isinstance(rec, dict) else None
        if (not isinstance(loss, (int, float)) or isinstance(loss, bool) or not math.isfinite(loss)
                or not isinstance(rec.get("passed"), bool)):
            raise PackageError(f"invalid manifest: {MANIFEST_KEY}.results.{key} needs a finite loss_db "
                               "and a boolean passed")
    return results


def trusted(package, backend: str, precision: str) -> bool:
    """Whether ``auto`` may decode ``package`` with ``backend`` in ``precision`` (fp32 always)."""
    if precision == "fp32":
        return True
    rec = guard_results(package).get(record_key(backend, precision))
    return rec is not None and rec["passed"] and rec["loss_db"] <= MAX_LOSS_DB
