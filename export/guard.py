"""The reduced-precision quality guard, measured at export (see ``nervkit.runtime.precision``).

Every available backend decodes the package's first frames in each reduced precision it offers; each is
compared with fp32 decoding (``ort-cpu``) of the same package, both against the source video's frames.
The result, recorded in the manifest, is what ``--precision auto`` trusts at play time.
"""

from __future__ import annotations

import numpy as np

from ..runtime import Decoder, UserError
from ..runtime import backends as runtime_backends
from ..runtime.precision import MAX_LOSS_DB, record_key

REFERENCE = ("ort-cpu", "fp32")


def frame_psnr(frames: np.ndarray, source: np.ndarray) -> np.ndarray:
    """PSNR (dB) per frame of ``frames`` against ``source``, both ``[n, 3, H, W]`` in [0, 1] (float64 MSE)."""
    err = frames.astype(np.float64) - source
    return -10.0 * np.log10(np.maximum(np.mean(err * err, axis=(1, 2, 3)), 1e-20))


def _decode(pkg, backend: str, precision: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """float ``[n, 3, H, W]`` and the played uint8 frames as floats ``[n, 3, H, W]`` in [0, 1]."""
    with Decoder(pkg, backend, batch=min(n, 4), precision=precision) as dec:
        floats = dec.decode_float(0, n)
        played = np.concatenate(list(dec.decode_frames(0, n)))
    return floats, played.transpose(0, 3, 1, 2) / 255.0


def measure_guard(pkg, source: np.ndarray, against: str) -> dict:
    """Guard record for ``pkg`` (an open package) from ``source`` = its first frames ``[n, 3, H, W]`` in [0, 1].

    ``loss_db``: the worst frame's PSNR drop against fp32, over the float frames and the uint8 frames
    as played. ``psnr_vs_fp32_db`` and ``max_abs_diff`` (8-bit levels) compare the float frames directly.
    """
    n = len(source)
    base_f, base_u = _decode(pkg, *REFERENCE, n)
    psnr_f, psnr_u = frame_psnr(base_f, source), frame_psnr(base_u, source)
    results = {}
    for backend in runtime_backends.available_backends():
        for precision in runtime_backends.precisions(backend):
            if precision == "fp32":
                continue
            try:
                out_f, out_u = _decode(pkg, backend, precision, n)
            except UserError:  # e.g. no TensorRT engine of that precision built yet
                continue
            loss = max(float(np.max(psnr_f - frame_psnr(out_f, source))),
                       float(np.max(psnr_u - frame_psnr(out_u, source))))
            diff = out_f.astype(np.float64) - base_f
            results[record_key(backend, precision)] = {
                "loss_db": loss, "passed": loss <= MAX_LOSS_DB,
                "psnr_vs_fp32_db": float(-10 * np.log10(max(np.mean(diff * diff), 1e-20))),
                "max_abs_diff": 255.0 * float(np.abs(diff).max())}
    return {"max_loss_db": MAX_LOSS_DB, "frames": [0, n], "against": against,
            "reference": "/".join(REFERENCE), "fp32_psnr_db": float(np.mean(psnr_f)), "results": results}
