"""Decode FPS of the official HNeRV bunny checkpoint: nervkit runtime (ONNX Runtime CPU) versus the
official code's way (eager PyTorch fp32, ``torch.no_grad``, same batch size), side by side in one run.

    python benchmarks/bench_runtime_cpu.py [--ckpt PATH] [--batch 1] [--repeats 4] [--json FILE]

Each timed call decodes the next ``--batch`` frames (embedding to frames, float32 on the host); one
untimed warm-up call per decoder comes first. The runtime's time includes reading and entropy-decoding
the frame embeddings from the package. Prints a table and writes JSON (machine, settings, per-decoder
median/p50/p99 latency, FPS, MACs per frame and achieved FLOP/s against the CPU's nominal peak).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from nervkit.export.nvpkg import ExportOptions, build_package
from nervkit.runtime import Decoder, open_package
from nervkit.runtime.timing import measure
from nervkit.trainer.checkpoint import load_model

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared/data/hnerv-official/bunny-1.5m-quant_vid.pth"


def conv_macs_per_frame(model, embeds: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d in one frame's decode (counted by forward hooks)."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total[0] += out[0].numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model.decode(embeds[:1])
    for h in handles:
        h.remove()
    return total[0]


def machine(flops_per_cycle: int) -> dict:
    cpu, mhz = platform.processor(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    peak = cores * (mhz or 0) * 1e6 * flops_per_cycle
    return {"cpu": cpu, "cores": cores, "mhz": mhz, "flops_per_cycle_assumed": flops_per_cycle,
            "peak_flops": peak, "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(DEFAULT_CKPT), help="official HNeRV checkpoint")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls per decoder")
    ap.add_argument("--repeats", type=int, default=4, help="timed calls (batches) per decoder")
    ap.add_argument("--flops-per-cycle", type=int, default=32,
                    help="fp32 FLOP/cycle/core for the peak estimate (32: 2x256-bit FMA, or Zen4 AVX-512)")
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
        pkg.close()

    macs = conv_macs_per_frame(model, embeds)
    info = machine(args.flops_per_cycle)
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
          f"CPU peak ~{info['peak_flops'] / 1e9:.0f} GFLOP/s ({info['cores']} cores, {info['cpu']})")
    out = {"benchmark": "bench_runtime_cpu", "checkpoint": args.ckpt, "batch": b, "warmup": args.warmup,
           "repeats": args.repeats, "macs_per_frame": macs, "speedup": speedup, "machine": info,
           "results": results}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
