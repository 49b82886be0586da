"""``nerv-bench clip.nvpkg``: decode speed of every runtime backend against the package's own eager model.

    nerv-bench clip.nvpkg --json bench.json --plot bench.png
    nerv-bench hnerv.nvpkg snerv.nvpkg hfs.nvpkg      # a suite: each family's cost relative to HNeRV
    nerv-bench --suite packages/                      # every .nvpkg in a folder

Each decoder (the eager baseline ``<family>-eager``, the trainer's module in fp32 as the papers' codes
run it, see :mod:`.eager`; then ``ort-cpu``, ``ort-cuda``, ``trt`` where available) decodes the same
frames at batch 1 and at its best batch. Only the network is timed: the frames' embeddings are
entropy-decoded once, before any clock starts, and every call returns frames on the host. A suite adds
one comparison block: each package's time per frame relative to the HNeRV package among them.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nervkit.runtime import available_backends, open_package
from nervkit.runtime import backends as runtime_backends
from nervkit.runtime.errors import UserError, run_cli
from nervkit.runtime.jsonout import add_json_argument, write_json
from nervkit.runtime.timing import measure

from . import machine
from .benchreport import plot, table
from .eager import eager_name
from .frames import parse_frames
from .macs import macs_per_frame

EAGER = "eager"
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
    return p


def _decoders(args, torch_devices: list[str]) -> list[tuple[str, str]]:
    """``(decoder name, device)`` pairs to run, the eager baseline first."""
    out = [(EAGER, d) for d in torch_devices]
    names = args.backends.split(",") if args.backends else available_backends()
    for name in names:
        reason = runtime_backends.unavailable(name)
        if reason:
            raise UserError(f"--backends: {name}: {reason}")
        out.append((name, "cpu" if name == "ort-cpu" else "cuda"))
    return out


def _make(name: str, device: str, pkg, batch: int):
    if name == EAGER:
        from .eager import EagerDecoder

        return EagerDecoder(pkg, device)
    return runtime_backends.create(name, pkg, batch)


def _time(decoder, feeds: dict[str, np.ndarray], batch: int, warmup: int, repeats: int):
    """Per-call seconds of every full and partial batch, and the frames decoded (float32 [n, 3, H, W])."""
    n = next(iter(feeds.values())).shape[0]
    sync = getattr(decoder, "sync", None)
    times, outputs = [], []
    for a in range(0, n, batch):
        chunk = {k: v[a:a + batch] for k, v in feeds.items()}
        outputs.append(decoder.run(chunk))
        t = measure(lambda c=chunk: decoder.run(c), warmup=max(0, warmup - 1), repeats=repeats, sync=sync)
        times.append(t)
    return times, np.concatenate(outputs)


def _best_batch(name, device, pkg, feeds, n: int) -> int:
    """The batch (from BATCH_CANDIDATES, at most ``n``) with the most frames per second in one timed call."""
    best, best_rate = 1, 0.0
    for b in (b for b in BATCH_CANDIDATES if b <= n):
        dec = _make(name, device, pkg, b)
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
    with open_package(path) as pkg:
        frames = parse_frames(args.frames, pkg.num_frames) if args.frames else range(
            min(DEFAULT_FRAMES, pkg.num_frames))
        n = len(frames)
        feeds = pkg.embeddings(frames.start, frames.stop)
        macs = macs_per_frame(pkg)
        for device in sorted({d for _, d in decoders} - set(peaks)):
            print(f"nerv-bench: measuring the peak FLOP/s of {device}", file=sys.stderr)
            peaks[device] = machine.peak_flops(device)
        params = pkg.num_weights + pkg.num_frames * sum(math.prod(s) for s in pkg.embed_shapes.values())
        info = {"path": str(path), "family": pkg.family, "frames": [frames.start, frames.stop],
                "height": pkg.height, "width": pkg.width, "parameters": params, "macs_per_frame": macs,
                "results": []}
        reference = None
        for name, device in decoders:
            batch = args.batch or _best_batch(name, device, pkg, feeds, n)
            for b in sorted({1, min(batch, n)}):
                label = eager_name(pkg.family) if name == EAGER else name
                print(f"nerv-bench: {Path(path).name}: {label} ({device}) batch {b}", file=sys.stderr)
                dec = _make(name, device, pkg, b)
                times, out = _time(dec, feeds, b, args.warmup, args.repeats)
                dec.close()
                if reference is None and name == EAGER:
                    reference = out
                fps = n / sum(t.median_s for t in times)
                calls = [s for t in times[:n // b] for s in t.times_s]  # full batches only
                flops = 2.0 * macs * fps
                info["results"].append({
                    "decoder": label, "device": device, "precision": getattr(dec, "precision", "fp32"),
                    "batch": b, "fps": fps,
                    "latency_ms": {"p50": 1e3 * float(np.percentile(calls, 50)),
                                   "p99": 1e3 * float(np.percentile(calls, 99))},
                    "flops": flops, "peak_share": flops / peaks[device]["flops"],
                    # in 8-bit levels, on the float frames before rounding
                    "max_abs_diff": None if reference is None else 255 * float(np.abs(out - reference).max()),
                })
    return info


def _kind(row: dict) -> tuple:
    """What a row is compared on across packages: decoder (any ``*-eager`` is the eager baseline),
    device, and batch 1 or best."""
    decoder = EAGER if row["decoder"].endswith("-eager") else row["decoder"]
    return decoder, row["device"], row["batch"] == 1


def versus_hnerv(packages: list[dict]) -> dict | None:
    """The suite's comparison: every other package's time per frame relative to the HNeRV package's,
    same decoder kind, device and batch kind (``None`` without an HNeRV package and another one)."""
    base = next((p for p in packages if p["family"].removeprefix("test-") == "hnerv"), None)
    if base is None or len(packages) < 2:
        return None
    ref = {_kind(r): r for r in base["results"]}
    rows = [{"package": p["path"], "family": p["family"], "parameters": p["parameters"],
             "decoder": r["decoder"], "device": r["device"], "batch": r["batch"],
             "time_vs_hnerv": ref[_kind(r)]["fps"] / r["fps"]}
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
                           "frames": args.frames or f"first {DEFAULT_FRAMES}",
                           "timed": "decoder network only, per batch call, outputs on the host"},
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
