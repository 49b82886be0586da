"""``nerv-bench clip.nvpkg``: decode speed of every runtime backend against the package's own eager model.

    nerv-bench clip.nvpkg --json bench.json --plot bench.png
    nerv-bench hnerv.nvpkg snerv.nvpkg hfs.nvpkg      # a suite: each family's cost relative to HNeRV
    nerv-bench --suite packages/                      # every .nvpkg in a folder
    nerv-bench tds.nvpkg                              # a gop plan: the TDS pipeline vs its base codec

Each decoder (the eager baseline ``<family>-eager``, the trainer's module in fp32 as the papers' codes
run it, see :mod:`.eager`; then every available runtime backend in every precision it runs here:
``openvino`` fp32/bf16, ``ort-cpu``, ``ort-cuda``, ``trt``) decodes the same frames at batch 1 and at its
best batch, all decoders timed interleaved, round by round. Only the network is timed: the frames'
embeddings are entropy-decoded once, before any clock starts, and every call returns frames on the host.
Each row is compared with the fp32 reference (the eager baseline, else the first fp32 backend): max
pixel difference, PSNR, and the package's recorded quality-guard cost; its FLOP/s are a share of this
CPU's measured peak in its precision. A suite adds one comparison block: each package's time per frame
relative to the HNeRV package among them, beside its MACs relative to HNeRV's. A ``gop``-plan package
(temporal down-sampling) is timed as a pipeline against its base codec alone (:mod:`.bench_gop`).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nervkit.runtime import available_backends, open_package
from nervkit.runtime import backends as runtime_backends
from nervkit.runtime.atomic import check_distinct
from nervkit.runtime.errors import UserError, run_cli
from nervkit.runtime.jsonout import add_json_argument, check_json_target, write_json
from nervkit.runtime.memory import add_max_memory_argument
from nervkit.runtime.package import add_enhancer_argument
from nervkit.runtime.precision import PRECISIONS, guard_results, record_key
from nervkit.runtime.timing import measure

from . import figure, machine
from .bench_gop import bench_gop
from .benchreport import plot, table
from .eager import eager_name
from .frames import parse_frames
from .macs import macs_per_frame

EAGER = "eager"
CPU_BACKENDS = ("ort-cpu", "openvino")
BATCH_CANDIDATES = (1, 2, 4, 8, 16, 32)
DEFAULT_FRAMES = 16


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerv-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("packages", nargs="*", help=".nvpkg files (several: a suite, compared with the HNeRV one)")
    p.add_argument("--suite", metavar="DIR", help="add every .nvpkg in DIR")
    p.add_argument("--baseline", choices=(EAGER, "none"), default=EAGER,
                   help="the reference decoder: the package's model as eager PyTorch, fp32 (needs torch)")
    p.add_argument("--backends", metavar="LIST",
                   help="comma-separated runtime backends (default: all available)")
    p.add_argument("--precision", metavar="LIST", default="all",
                   help="comma-separated precisions to run where a backend supports them (default: all)")
    p.add_argument("--batch", type=int, help="the batch to compare with 1 (default: the fastest of "
                   f"{', '.join(map(str, BATCH_CANDIDATES[1:]))} that fits the frames)")
    p.add_argument("--frames", metavar="START:STOP",
                   help=f"frames every decoder decodes, as a Python slice (default: first {DEFAULT_FRAMES})")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed calls before timing each batch, at least 1: the first gives the frames "
                        "compared with the baseline (default: 1)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per batch (default: 3)")
    add_json_argument(p, "every number")
    p.add_argument("--plot", metavar="FILE", help="bar chart of frames per second (.png, .svg, .pdf)")
    add_max_memory_argument(p)
    add_enhancer_argument(p)
    return p


def _decoders(args, torch_devices: list[str]) -> list[tuple[str, str, str]]:
    """``(decoder name, device, precision)`` to run, the eager baseline first."""
    wanted = PRECISIONS if args.precision == "all" else tuple(args.precision.split(","))
    for p in wanted:
        if p not in PRECISIONS:
            raise UserError(f"--precision: unknown precision {p!r}; choose all or from {', '.join(PRECISIONS)}")
    out = [(EAGER, d, "fp32") for d in torch_devices if "fp32" in wanted]
    names = args.backends.split(",") if args.backends else available_backends()
    for name in names:
        reason = runtime_backends.unavailable(name)
        if reason:
            raise UserError(f"--backends: {name}: {reason}")
        device = "cpu" if name in CPU_BACKENDS else "cuda"
        out += [(name, device, p) for p in reversed(runtime_backends.precisions(name)) if p in wanted]
    if len(out) == len([d for d in out if d[0] == EAGER]):
        raise UserError(f"--precision {args.precision}: no chosen backend runs it here")
    return out


def _make(name: str, device: str, precision: str, pkg, batch: int, max_memory: int):
    if name == EAGER:
        from .eager import EagerDecoder

        return EagerDecoder(pkg, device)
    return runtime_backends.create(name, pkg, batch, precision, max_memory)


def _time_interleaved(runs: list[tuple[object, int]], feeds: dict[str, np.ndarray], warmup: int, repeats: int):
    """Each ``(decoder, batch)`` run over all frames: per-chunk call seconds and the frames (float32 [n, 3, H, W]).

    The first call of each chunk gives the frames compared with the reference (and warms up). Then every
    round times every run's chunks once, runs interleaved, so a change of load on a shared machine falls
    on all decoders alike; ``repeats`` rounds, the median per chunk.
    """
    n = next(iter(feeds.values())).shape[0]
    chunks = {b: [{k: v[a:a + b] for k, v in feeds.items()} for a in range(0, n, b)] for _, b in runs}
    outputs = [np.concatenate([dec.run(c) for c in chunks[b]]) for dec, b in runs]
    times = [[[] for _ in chunks[b]] for _, b in runs]
    for rnd in range(warmup - 1 + repeats):
        for (dec, b), per_chunk in zip(runs, times, strict=True):
            sync = getattr(dec, "sync", None)
            for c, record in zip(chunks[b], per_chunk, strict=True):
                t0 = time.perf_counter()
                dec.run(c)
                if sync:
                    sync()
                if rnd >= warmup - 1:
                    record.append(time.perf_counter() - t0)
    return list(zip(times, outputs, strict=True))


def _best_batch(name, device, precision, pkg, feeds, n: int, max_memory: int) -> int:
    """The batch (from BATCH_CANDIDATES, at most ``n``) with the most frames per second in one timed call."""
    best, best_rate = 1, 0.0
    for b in (b for b in BATCH_CANDIDATES if b <= n):
        dec = _make(name, device, precision, pkg, b, max_memory)
        chunk = {k: v[:b] for k, v in feeds.items()}
        t = measure(lambda d=dec, c=chunk: d.run(c), warmup=1, repeats=1, sync=getattr(dec, "sync", None))
        if b / t.median_s > best_rate:
            best, best_rate = b, b / t.median_s
        dec.close()
    return best


def bench_package(path: str, args, decoders, peaks: dict[str, dict]) -> dict:
    """Every decoder at batch 1 and its best batch on one package: a dict of package facts and rows.

    ``peaks`` caches each device's measured peak (measured on first use, once arguments are known good).
    """
    with open_package(path, args.enhancer) as pkg:
        gop = pkg.plan.kind == "gop"  # the base streams decode whole: time every frame by default
        frames = parse_frames(args.frames, pkg.num_frames) if args.frames else range(
            pkg.num_frames if gop else min(DEFAULT_FRAMES, pkg.num_frames))
        for key in sorted({f"{d} {p}" for _, d, p in decoders} - set(peaks)):
            print(f"nerv-bench: measuring the peak FLOP/s of {key}", file=sys.stderr)
            peaks[key] = machine.peak_flops(*key.split())
        if gop:
            return bench_gop(pkg, args, decoders, _make, frames, peaks)
        n = len(frames)
        feeds = pkg.embeddings(frames.start, frames.stop)
        macs = macs_per_frame(pkg)
        params = pkg.num_weights + pkg.num_frames * sum(math.prod(s) for s in pkg.embed_shapes.values())
        info = {"path": str(path), "family": pkg.family, "frames": [frames.start, frames.stop],
                "height": pkg.height, "width": pkg.width, "parameters": params, "macs_per_frame": macs,
                "results": []}
        reference, has_eager = None, any(d[0] == EAGER for d in decoders)
        guard = guard_results(pkg)
        runs = []  # (label, device, precision, batch, decoder), all built first and timed interleaved
        for name, device, precision in decoders:
            batch = args.batch or _best_batch(name, device, precision, pkg, feeds, n, args.max_memory)
            label = eager_name(pkg.family) if name == EAGER else name
            runs += [(label, device, precision, b, _make(name, device, precision, pkg, b, args.max_memory))
                     for b in sorted({1, min(batch, n)})]
        print(f"nerv-bench: {Path(path).name}: timing {len(runs)} decoder x batch runs, interleaved",
              file=sys.stderr)
        timed = _time_interleaved([(r[4], r[3]) for r in runs], feeds, args.warmup, args.repeats)
        for (label, device, precision, b, dec), (times, out) in zip(runs, timed, strict=True):
            dec.close()
            if reference is None and precision == "fp32" and (label.endswith("-eager") or not has_eager):
                reference = out
            fps = n / sum(float(np.median(t)) for t in times)
            calls = [s for t in times[:n // b] for s in t]  # full batches only
            flops = 2.0 * macs * fps
            diff = None if reference is None else out.astype(np.float64) - reference
            mse = None if diff is None else float(np.mean(diff * diff))
            info["results"].append({
                "decoder": label, "device": device, "precision": precision,
                "batch": b, "fps": fps,
                "latency_ms": {"p50": 1e3 * float(np.percentile(calls, 50)),
                               "p99": 1e3 * float(np.percentile(calls, 99))},
                "flops": flops, "peak_share": flops / peaks[f"{device} {precision}"]["flops"],
                # against the fp32 reference: in 8-bit levels on the float frames before rounding; PSNR
                # in dB (None when identical); the package's guard cost against its source (if recorded)
                "max_abs_diff": None if diff is None else 255 * float(np.abs(diff).max()),
                "psnr_vs_fp32_db": None if not mse else float(-10 * np.log10(mse)),
                "guard_loss_db": guard.get(record_key(label, precision), {}).get("loss_db"),
            })
    return info


def _kind(row: dict) -> tuple:
    """What a row is compared on across packages: decoder (any ``*-eager`` is the eager baseline),
    device, precision, and batch 1 or best."""
    decoder = EAGER if row["decoder"].endswith("-eager") else row["decoder"]
    return decoder, row["device"], row["precision"], row["batch"] == 1


def versus_hnerv(packages: list[dict]) -> dict | None:
    """The suite's comparison: every other package's time per frame relative to the HNeRV package's,
    same decoder kind, device, precision and batch kind, beside its MACs per frame relative to HNeRV's
    (``None`` without an HNeRV package and another one)."""
    base = next((p for p in packages if p["family"].removeprefix("test-") == "hnerv"), None)
    if base is None or len(packages) < 2:
        return None
    ref = {_kind(r): r for r in base["results"]}
    rows = [{"package": p["path"], "family": p["family"], "parameters": p["parameters"],
             "decoder": r["decoder"], "device": r["device"], "precision": r["precision"], "batch": r["batch"],
             "time_vs_hnerv": ref[_kind(r)]["fps"] / r["fps"],
             "macs_vs_hnerv": p["macs_per_frame"] / base["macs_per_frame"]}
            for p in packages if p is not base for r in p["results"] if _kind(r) in ref]
    return {"hnerv": base["path"], "hnerv_parameters": base["parameters"], "rows": rows}


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    paths = list(args.packages)
    if args.suite:
        if not Path(args.suite).is_dir():
            raise UserError(f"--suite {args.suite}: not a folder")
        paths += sorted(str(p) for p in Path(args.suite).glob("*.nvpkg"))
    if not paths:
        raise UserError("no package given (name .nvpkg files, or a folder with --suite)")
    for flag, value, low in (("--warmup", args.warmup, 1), ("--repeats", args.repeats, 1),
                             ("--batch", args.batch, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag} {value}: must be at least {low}")
    check_distinct(args.json, args.plot)
    figure.check_target(args.plot)  # outputs are checked before the benchmark, not after it
    check_json_target(args.json)
    torch_devices, gpu = [], None
    if args.baseline == EAGER:
        try:
            import torch
        except ImportError:
            raise UserError("the eager baseline needs torch (pip install 'nervkit[train]'), "
                            "or pass --baseline none") from None
        torch_devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    decoders = _decoders(args, torch_devices)
    peaks: dict[str, dict] = {}
    packages = [bench_package(p, args, decoders, peaks) for p in paths]
    report = {"machine": machine.describe(gpu), "peak": peaks,
              "settings": {"warmup": args.warmup, "repeats": args.repeats,
                           "frames": args.frames or f"first {DEFAULT_FRAMES} (all for a gop plan)",
                           "timed": "decoder network only, per batch call, outputs on the host; "
                                    "decoders interleaved per round, median"},
              "packages": packages}
    suite = versus_hnerv(packages)
    if suite:
        report["versus_hnerv"] = suite
    if args.json:
        write_json(args.json, report)
    if args.plot:
        plot(report, args.plot)
    if args.json != "-":
        print(table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nerv-bench", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
