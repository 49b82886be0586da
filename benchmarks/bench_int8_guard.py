"""Does int8 keep the quality guard? ONNX Runtime static int8 (QDQ) of a package's decoder, calibrated on
the package's own embeddings, against fp32 decoding of the same package, both against the source frames.

    python benchmarks/bench_int8_guard.py PACKAGE SOURCE_DIR [--calib-frames 32] [--json FILE]

SOURCE_DIR holds the source frames as ``0001.png`` ... (center-cropped to the package's size), as
``nerv-export --source`` reads them. For each calibration method (MinMax, Entropy, Percentile) and
per-channel weights, the decoder's weights are filled in, ``quantize_static`` inserts QuantizeLinear /
DequantizeLinear pairs around every Conv (weights per output channel, activations per tensor, uint8
activations and int8 weights), and the result decodes the first frames with ONNX Runtime. Reports the
worst frame's PSNR loss against fp32 (the guard allows 0.02 dB), PSNR against fp32, and time per frame
(median of 3, after a warm-up) beside fp32 ort-cpu, in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from PIL import Image

from nervkit.export.guard import frame_psnr
from nervkit.player.machine import describe
from nervkit.runtime import open_package
from nervkit.runtime.backends.openvino import filled_graph
from nervkit.runtime.precision import MAX_LOSS_DB


class Embeddings(CalibrationDataReader):
    def __init__(self, pkg, frames: int):
        self._feeds = iter([pkg.embeddings(i, i + 1) for i in range(frames)])

    def get_next(self):
        return next(self._feeds, None)


def decode(path: str, pkg, n: int) -> tuple[np.ndarray, float]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    frames = [sess.run(None, pkg.embeddings(i, i + 1))[0] for i in range(n)]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        sess.run(None, pkg.embeddings(0, 1))
        times.append(time.perf_counter() - t)
    return np.concatenate(frames), float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package")
    ap.add_argument("source", help="folder of the source frames 0001.png ...")
    ap.add_argument("--frames", type=int, default=8, help="frames compared with the source")
    ap.add_argument("--calib-frames", type=int, default=32, help="embeddings the calibration runs on")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    pkg = open_package(args.package)
    n = args.frames
    h, w = pkg.height, pkg.width
    source = []
    for i in range(1, n + 1):
        img = np.asarray(Image.open(Path(args.source) / f"{i:04d}.png").convert("RGB"))
        top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        source.append(img[top:top + h, left:left + w].transpose(2, 0, 1) / 255.0)
    source = np.stack(source)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = f"{tmp}/fp32.onnx"
        Path(fp32).write_bytes(filled_graph(pkg))
        base, base_s = decode(fp32, pkg, n)
        base_psnr = frame_psnr(base, source)
        rows.append({"model": "fp32", "ms_per_frame": 1e3 * base_s, "psnr_db": float(base_psnr.mean())})
        for method in (CalibrationMethod.MinMax, CalibrationMethod.Entropy, CalibrationMethod.Percentile):
            q = f"{tmp}/int8-{method.name}.onnx"
            print(f"calibrating int8 ({method.name})", file=sys.stderr)
            quantize_static(fp32, q, Embeddings(pkg, min(args.calib_frames, pkg.num_frames)),
                            quant_format=QuantFormat.QDQ, per_channel=True, op_types_to_quantize=["Conv"],
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=method)
            out, s = decode(q, pkg, n)
            diff = out.astype(np.float64) - base
            loss = float(np.max(base_psnr - frame_psnr(out, source)))
            rows.append({"model": f"int8 QDQ per-channel, {method.name}", "ms_per_frame": 1e3 * s,
                         "psnr_db": float(frame_psnr(out, source).mean()), "loss_db": loss,
                         "passes_guard": loss <= MAX_LOSS_DB,
                         "psnr_vs_fp32_db": float(-10 * np.log10(np.mean(diff * diff))),
                         "max_abs_diff": 255 * float(np.abs(diff).max())})
    for r in rows:
        print(json.dumps(r))
    if args.json:
        report = {"machine": describe(), "package": args.package,
                  "frames": n, "calib_frames": args.calib_frames, "max_loss_db": MAX_LOSS_DB, "results": rows}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
