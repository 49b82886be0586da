"""nerv-bench on a ``gop``-plan package (temporal down-sampling, paper 003): the TDS pipeline against the
base codec alone, in one run.

Rows, all decoding the same frames, timed interleaved round by round (``--warmup`` untimed rounds, then
``--repeats`` timed ones, the median):

- the base codec alone (``x264`` / ``x265`` through PyAV): both bitstreams decoded whole, the LR frames
  bicubic-up-sampled (:meth:`nervkit.runtime.plan.GopPlan.decode_base`): what a player shows without
  the enhancer;
- ``<family>-eager``: the trainer's enhancer in torch, fp32 (:mod:`.eager`), run by the plan;
- every runtime backend that runs the plan's enhancer graph (``ort-cpu``, ``ort-cuda``), fp32.

A TDS row's time is the base decode of its round plus its enhancement steps (Algorithm 1, only the
steps the frames need, batched up to ``batch`` graph runs per call), so its ``fps`` is the whole
pipeline's and ``enhance_fps`` the enhancer's alone. ``latency_ms`` is per frame over the rounds (p50,
p99). MACs per frame are the enhancer graph's convolutions (``DeformConv`` included, bilinear sampling
not) times the share of enhanced frames among the frames decoded.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nervkit.runtime.errors import UserError

from .macs import graph_macs, load_graph

DEFAULT_BATCH = 4


def _same(frames: np.ndarray) -> np.ndarray:
    return frames


def _enhance(pkg, dec, batch: int, frames: range, reader) -> np.ndarray:
    """Frames ``[start, stop)`` through the plan with ``dec.run`` (fresh: nothing kept from other calls)."""
    return np.concatenate(list(pkg.plan.batches(pkg, dec.run, dec.run, _same, frames.start, frames.stop, batch,
                                                reader, {})))


def bench_gop(pkg, args, decoders, make, frames: range, peaks: dict[str, dict]) -> dict:
    """The rows of the module docstring for the opened package ``pkg``; ``decoders`` and ``make`` are
    nerv-bench's (``make(name, device, precision, pkg, batch, max_memory)`` builds one)."""
    plan, n = pkg.plan, len(frames)
    chosen = [d for d in decoders if d[0] == "eager" or (d[0] in plan.backends and d[2] == "fp32")]
    skipped = sorted({d[0] for d in decoders} - {d[0] for d in chosen})
    if skipped:
        print(f"nerv-bench: {pkg.path}: {', '.join(skipped)} cannot run the enhancer graph (DeformConv); "
              "skipped", file=sys.stderr)
    if not chosen:
        raise UserError(f"{pkg.path}: none of the chosen decoders runs a gop plan's enhancer; use "
                        f"{' or '.join(plan.backends)} in fp32")
    enhanced = sum(1 for f in frames if not plan.layout.is_key(f))
    macs = graph_macs(load_graph(pkg), pkg.embed_shapes) * enhanced // n
    batch = min(args.batch or DEFAULT_BATCH, n)
    runs = []
    for name, device, precision in chosen:
        label = f"{pkg.family}-eager" if name == "eager" else name
        runs += [(label, device, precision, b, make(name, device, precision, pkg, b, args.max_memory))
                 for b in sorted({1, batch})]
    print(f"nerv-bench: {pkg.path}: timing the base codec and {len(runs)} decoder x batch runs, interleaved",
          file=sys.stderr)
    base_times, times = [], [[] for _ in runs]
    with ThreadPoolExecutor(1) as reader:
        plan.decoded(pkg)
        outputs = [_enhance(pkg, r[4], r[3], frames, reader) for r in runs]  # also the first warm-up
        for rnd in range(args.warmup - 1 + args.repeats):
            t0 = time.perf_counter()
            plan.decode_base(pkg)
            base = time.perf_counter() - t0
            laps = []
            for _, _, _, b, dec in runs:
                t0 = time.perf_counter()
                _enhance(pkg, dec, b, frames, reader)
                laps.append(time.perf_counter() - t0)
            if rnd >= args.warmup - 1:
                base_times.append(base)
                for record, lap in zip(times, laps, strict=True):
                    record.append(lap)
    for run in runs:
        run[4].close()
    base_s = float(np.median(base_times))
    rows = [_row(plan.base, "cpu", "-", 1, n, base_times, 0, None, None) | {"enhance_fps": None}]
    reference = next((o for r, o in zip(runs, outputs, strict=True) if r[0].endswith("-eager")), outputs[0])
    for (label, device, precision, b, _), record, out in zip(runs, times, outputs, strict=True):
        total = [base + lap for base, lap in zip(base_times, record, strict=True)]
        row = _row(label, device, precision, b, n, total, macs, peaks.get(f"{device} {precision}"),
                   out.astype(np.float64) - reference)
        row["enhance_fps"] = n / float(np.median(record))
        rows.append(row)
    return {"path": str(pkg.path), "family": pkg.family, "plan": "gop", "frames": [frames.start, frames.stop],
            "height": pkg.height, "width": pkg.width, "parameters": pkg.num_weights, "macs_per_frame": macs,
            "base_codec": plan.base, "base_seconds": base_s, "results": rows}


def _row(label, device, precision, batch, n, seconds, macs, peak, diff) -> dict:
    per_frame = [1e3 * s / n for s in seconds]
    fps = n / float(np.median(seconds))
    mse = None if diff is None else float(np.mean(diff * diff))
    return {"decoder": label, "device": device, "precision": precision, "batch": batch, "fps": fps,
            "latency_ms": {"p50": float(np.percentile(per_frame, 50)), "p99": float(np.percentile(per_frame, 99))},
            "flops": 2.0 * macs * fps, "peak_share": 2.0 * macs * fps / peak["flops"] if peak else 0.0,
            "max_abs_diff": None if diff is None else 255 * float(np.abs(diff).max()),
            "psnr_vs_fp32_db": None if not mse else float(-10 * np.log10(mse)), "guard_loss_db": None}
