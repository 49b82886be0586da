"""Soak: loop playback with ``--no-window`` for many frames; resident memory must not grow.

    python benchmarks/soak_play.py [PACKAGE] [--frames 10000] [--batch 4]

Runs the pieces ``nerv-play PACKAGE --no-window --loop`` wires together (package, Decoder,
decode-ahead Prefetcher, run_headless) in this process, stopping after ``--frames`` frames, and
compares resident memory (RSS) at the end with RSS after the first 500 frames: it passes when the end
is within 5%. Without PACKAGE it builds a tiny test-hnerv package (32x64, 8 frames) with the
trainer and exporter in a child process, so torch never inflates this process's RSS (which would
make 5% a looser bound). Prints one JSON object on stdout; exit 1 when memory grew past the limit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from nervkit.player.play import run_headless
from nervkit.player.prefetch import Prefetcher
from nervkit.runtime import Decoder, open_package

BASELINE_AT = 500
LIMIT = 0.05


def make_tiny_package(folder: Path) -> int:
    import torch

    from nervkit.export.cli import main as export
    from nervkit.trainer.checkpoint import LoadedModel, VideoInfo, save_model
    from nervkit.trainer.registry import create_model

    torch.manual_seed(0)
    model = create_model("test-hnerv", (32, 64), 8)
    embeds = {k: v.detach() for k, v in model.encode(torch.rand(8, 3, 32, 64)).items()}
    save_model(folder / "tiny.pt", LoadedModel(model, VideoInfo(8, 32, 64), embeds))
    return export([str(folder / "tiny.pt"), "-o", str(folder / "tiny.nvpkg"), "--eval-frames", "0"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package", nargs="?")
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--make-package", metavar="DIR", help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.make_package:
        return make_tiny_package(Path(args.make_package))
    proc = psutil.Process()
    samples: dict[int, int] = {}

    def on_frame(count: int) -> bool:
        if count == BASELINE_AT or count % 1000 == 0 or count == args.frames:
            samples[count] = proc.memory_info().rss
        return count < args.frames

    with tempfile.TemporaryDirectory() as tmp:
        path = args.package or str(Path(tmp) / "tiny.nvpkg")
        if not args.package:
            subprocess.run([sys.executable, __file__, "--make-package", tmp], check=True)
        with open_package(path) as pkg, Decoder(pkg, backend="auto", batch=args.batch) as dec:
            start = time.perf_counter()
            with Prefetcher(dec.decode_frames, range(pkg.num_frames), batch=args.batch,
                            depth=max(8, 2 * args.batch), loop=True) as p:
                frames = run_headless(p, on_frame=on_frame)
                decoded, busy = p.decoded, p.decode_seconds
            seconds = time.perf_counter() - start
            backend = dec.backend
    base, end = samples[BASELINE_AT], samples[frames]
    growth = (end - base) / base
    print(json.dumps({
        "package": str(args.package or "tiny test-hnerv 32x64, 8 frames"), "backend": backend,
        "frames": frames, "decoded": decoded, "seconds": round(seconds, 2),
        "decode_fps": round(decoded / busy, 1), "rss_after_500_mib": round(base / 2**20, 2),
        "rss_end_mib": round(end / 2**20, 2), "growth_percent": round(100 * growth, 3),
        "rss_samples_mib": {k: round(v / 2**20, 2) for k, v in sorted(samples.items())},
        "pass": abs(growth) <= LIMIT}, indent=1))
    return 0 if abs(growth) <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
