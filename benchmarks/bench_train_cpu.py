"""Train every family (and HNeRV) on the 132 real bunny frames at 160x320 on this CPU, side by side.

    python benchmarks/bench_train_cpu.py [--models hnerv,snerv,...] [--size 0.35] [--epochs 8] [--frames N]
                                         [--json benchmarks/results/train_cpu.json]

Each model is trained with ``nerv-train`` with its paper's recipe (the family's default batch size, gradient
clipping and warm-up, recorded per row; same budget, epochs, lr 1e-3, seed 1, fp32), evaluated over all
frames after every epoch (PSNR and MS-SSIM per epoch, seconds per training epoch excluding the
evaluation), then exported with ``nerv-export`` defaults (8-bit weights, 6-bit embeddings) for the package
size, bits per pixel and PSNR after compression, and the decoder's multiply-accumulates per frame counted
from the package graph. Prints a table and writes JSON with the machine description.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from nervkit.export import train_cli
from nervkit.export.build import ExportOptions, build_package
from nervkit.player.machine import describe
from nervkit.player.macs import macs_per_frame
from nervkit.runtime import open_package
from nervkit.trainer.checkpoint import load_model

DATA = Path(__file__).resolve().parents[2] / "shared/data/bunny/frames-160x320"
FAMILIES = "hnerv,hfs-hnerv,snerv,snerv-t,hfe-hnerv,cf-nerv"


def run_one(model: str, args, work: Path) -> dict:
    out, hist = work / f"{model}.pt", work / f"{model}.json"
    t0 = time.perf_counter()
    train_cli.run([str(args.data), "-o", str(out), "--model", model, "--size", str(args.size),
                   "--epochs", str(args.epochs), "--eval-every", "1", "--json", str(hist),
                   *(["--max-frames", str(args.frames)] if args.frames else [])])
    wall = time.perf_counter() - t0
    result = json.loads(hist.read_text())
    loaded = load_model(out)
    pkg_path = work / f"{model}.nvpkg"
    report = build_package(loaded, pkg_path, ExportOptions(eval_frames=loaded.video.num_frames))
    with open_package(pkg_path) as pkg:
        macs = macs_per_frame(pkg)
    epochs = result["history"]["epochs"]
    evals = result["history"]["evals"]
    return {"model": model, "decoder_params": result["decoder_params"],
            "total_params": result["decoder_params"] + sum(v[0].numel() for v in loaded.embeddings.values())
            * loaded.video.num_frames,
            "macs_per_frame": macs, "seconds_per_epoch": sum(e["seconds"] for e in epochs) / len(epochs),
            "wall_seconds": wall, "psnr": evals[-1]["psnr"], "ms_ssim": evals[-1]["ms_ssim"],
            "psnr_per_epoch": [e["psnr"] for e in evals], "ms_ssim_per_epoch": [e["ms_ssim"] for e in evals],
            "recipe": result["recipe"], "best_psnr": result["best_psnr"],
            "package_bytes": report["file_bytes"], "bpp": report["bpp"],
            "psnr_after_compression": report["psnr"].get("after")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=FAMILIES)
    ap.add_argument("--size", type=float, default=0.35, help="parameter budget in millions")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--frames", type=int, help="train on the first N frames only (default: all 132)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", default="benchmarks/results/train_cpu.json")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_train_cpu: {args.data} not found (the shared data folder)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            rows.append(run_one(model, args, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr)
    doc = {"benchmark": "train_cpu", "data": str(args.data), "frames": args.frames or 132, "size_m": args.size,
           "epochs": args.epochs,
           "lr": 1e-3, "torch_threads": torch.get_num_threads(),
           "machine": describe(), "results": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=2))
    print(f"\n{len(rows)} models, {args.size}M budget, {args.epochs} epochs, {doc['frames']} frames 160x320, "
          f"{doc['machine'].get('cpu')}")
    print(f"{'model':<10} {'batch':>5} {'clip':>5} {'params':>9} {'GMAC/fr':>8} {'s/epoch':>8} {'PSNR':>6} "
          f"{'MS-SSIM':>8} {'PSNR q':>7} {'bpp':>6}")
    for r in rows:
        print(f"{r['model']:<10} {r['recipe']['batch_size']:>5} {r['recipe']['grad_clip'] or '-':>5} "
              f"{r['total_params']:>9,} {r['macs_per_frame'] / 1e9:>8.3f} "
              f"{r['seconds_per_epoch']:>8.1f} {r['psnr']:>6.2f} {r['ms_ssim']:>8.4f} "
              f"{r['psnr_after_compression']:>7.2f} {r['bpp']:>6.3f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
