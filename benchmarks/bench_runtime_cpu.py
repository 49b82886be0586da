"""Decode FPS of the official HNeRV bunny checkpoint: nervkit runtime (ONNX Runtime CPU) versus the
official code's way (eager PyTorch fp32, ``torch.no_grad``, same batch size), side by side in one run.

    python benchmarks/bench_runtime_cpu.py [--ckpt PATH] [--batch 1] [--repeats 4] [--json FILE]

Each timed call decodes the next ``--batch`` frames (embedding to frames, float32 on the host); one
untimed warm-up call per decoder comes first. The runtime's time includes reading and entropy-decoding
the frame embeddings from the package. Prints a table and writes JSON (machine, settings, per-decoder
median/p50/p99 latency, FPS, MACs per frame and achieved FLOP/s against the CPU's measured peak).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import torch

from nervkit.export.build import ExportOptions, build_package
from nervkit.player.machine import describe, peak_flops
from nervkit.player.macs import macs_per_frame
from nervkit.runtime import Decoder, open_package
from nervkit.runtime.jsonout import write_json
from nervkit.runtime.timing import measure
from nervkit.trainer.checkpoint import load_model

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared/data/hnerv-official/bunny-1.5m-quant_vid.pth"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(DEFAULT_CKPT), help="official HNeRV checkpoint")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls per decoder")
    ap.add_argument("--repeats", type=int, default=4, help="timed calls (batches) per decoder")
    ap.add_argument("--json", default="benchmarks/results/bench_runtime_cpu.json", help="JSON output file")
    args = ap.parse_args(argv)
    if not Path(args.ckpt).is_file():
        print(f"checkpoint not found: {args.ckpt}", file=sys.stderr)
        return 2

    loaded = load_model(args.ckpt)
    model = loaded.model.eval()
    embeds = loaded.embeddings["embed"]
    n, b = loaded.video.num_frames, args.batch
    with tempfile.TemporaryDirectory() as tmp:
        pkg_path = Path(tmp) / "bunny.nvpkg"
        build_package(loaded, pkg_path, ExportOptions(eval_frames=0))
        pkg = open_package(pkg_path)
        runtime = Decoder(pkg, backend="ort-cpu", batch=b)

        starts = None  # each decoder cycles through the same frames, from frame 0

        def run_runtime():
            s = next(starts)
            return runtime.decode_float(s, s + b)

        def run_eager():
            s = next(starts)
            with torch.no_grad():
                return model.decode(embeds[s:s + b]).numpy()

        print(f"decoding {args.repeats} batches of {b} frames ({loaded.video.width}x{loaded.video.height}) "
              f"per decoder after {args.warmup} warm-up batch(es)...", file=sys.stderr)
        results = {}
        for name, fn in (("hnerv-eager (torch fp32)", run_eager), ("nervkit runtime (ort-cpu)", run_runtime)):
            starts = itertools.cycle(range(0, n - b + 1, b))
            results[name] = measure(fn, warmup=args.warmup, repeats=args.repeats).summary(items_per_call=b)
        runtime.close()
        macs = macs_per_frame(pkg)
        pkg.close()

    info = {**describe(), "torch_threads": torch.get_num_threads(), "peak": peak_flops()}
    info["peak_flops"] = info["peak"]["flops"]
    for r in results.values():
        r["fps"] = r.pop("per_second")
        r["achieved_flops"] = 2 * macs * r["fps"]
        r["fraction_of_peak"] = r["achieved_flops"] / info["peak_flops"] if info["peak_flops"] else None
    eager, ours = results.values()
    speedup = ours["fps"] / eager["fps"]
    print(f"{'decoder':<28}{'FPS':>8}{'p50 ms':>10}{'p99 ms':>10}{'GFLOP/s':>10}{'% peak':>8}")
    for name, r in results.items():
        peak = f"{100 * r['fraction_of_peak']:.1f}" if r["fraction_of_peak"] else "-"
        print(f"{name:<28}{r['fps']:>8.3f}{1e3 * r['p50_s']:>10.0f}{1e3 * r['p99_s']:>10.0f}"
              f"{r['achieved_flops'] / 1e9:>10.1f}{peak:>8}")
    print(f"speed-up runtime / eager: {speedup:.2f}x; {macs / 1e9:.2f} GMAC per frame; "
          f"CPU peak {info['peak_flops'] / 1e9:.0f} GFLOP/s measured ({info['peak']['method']}; "
          f"{info['cores']} cores, {info['cpu']})")
    out = {"benchmark": "bench_runtime_cpu", "checkpoint": args.ckpt, "batch": b, "warmup": args.warmup,
           "repeats": args.repeats, "macs_per_frame": macs, "speedup": speedup, "machine": info,
           "results": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, out)
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
