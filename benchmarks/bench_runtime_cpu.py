"""Decode speed of the official HNeRV bunny checkpoint: nerv-bench on the package made from it.

    python benchmarks/bench_runtime_cpu.py [--ckpt PATH] [--source DIR] [--frames 0:8] [--batch B]
        [--repeats 3] [--json FILE]

Builds the package from the official checkpoint (``nerv-export --source`` the original frames, so the
package records its precision guard; in a temporary folder) and runs ``nerv-bench`` on it, so this
benchmark and nerv-bench share one baseline: ``hnerv-eager`` is the trainer's HNeRV module with the
package's dequantised weights, fp32, one ``decode`` per batch (the official code's way), timed side by
side and interleaved with every available backend in every precision, at batch 1 and the best batch.
nerv-bench's JSON (machine, CPU flags, measured peaks, per-decoder FPS, latency, FLOP/s, difference and
PSNR against fp32, the guard's recorded cost) is written as is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from nervkit.export.cli import main as export
from nervkit.player.bench import main as bench

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared/data/hnerv-official/bunny-1.5m-quant_vid.pth"
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/bunny/frames-720p"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(DEFAULT_CKPT), help="official HNeRV checkpoint")
    ap.add_argument("--source", default=str(DEFAULT_SOURCE), help="the original frames (for the guard)")
    ap.add_argument("--frames", default="0:8", help="frames every decoder decodes (default 0:8)")
    ap.add_argument("--batch", help="the batch compared with 1 (default: nerv-bench picks the fastest)")
    ap.add_argument("--repeats", default="3", help="timed calls per batch (default 3)")
    ap.add_argument("--json", default="benchmarks/results/bench_runtime_cpu.json", help="JSON output file")
    args = ap.parse_args(argv)
    if not Path(args.ckpt).is_file():
        print(f"checkpoint not found: {args.ckpt}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "bunny-official.nvpkg"
        if export([args.ckpt, "-o", str(package), "--source", args.source]):
            return 1
        batch = ["--batch", args.batch] if args.batch else []
        return bench([str(package), "--frames", args.frames, "--repeats", args.repeats, *batch, "--json", args.json])


if __name__ == "__main__":
    sys.exit(main())
