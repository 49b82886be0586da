"""One package per family at the same budget and size, for ``nerv-bench --suite`` timing comparisons.

    python benchmarks/make_family_suite.py OUT_DIR [--size 0.35] [--hw 160x320] [--frames 16]
    nerv-bench --suite OUT_DIR --baseline none --frames 0:8 --json benchmarks/results/FILE.json
    python benchmarks/bench_family_ratios.py OUT_DIR --json benchmarks/results/family_ratios_160x320.json

Weights are the families' random initialisation (decode time does not depend on their values), the
embeddings come from each model's own encoder on random frames; exported with nerv-export as a user
would, without a source (so no precision guard: every precision is timed explicitly by nerv-bench).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from nervkit.export.cli import main as export
from nervkit.trainer.checkpoint import LoadedModel, VideoInfo, save_model
from nervkit.trainer.registry import create_model, model_names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", type=float, default=0.35, help="parameter budget in millions")
    ap.add_argument("--hw", default="160x320", help="frame size HxW")
    ap.add_argument("--frames", type=int, default=16)
    args = ap.parse_args()
    h, w = map(int, args.hw.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in (n for n in model_names() if not n.startswith("test-")):
        torch.manual_seed(0)
        model = create_model(name, (h, w), args.frames, args.size)
        with torch.no_grad():
            frames = model.clip_input(torch.rand(args.frames, 3, h, w))  # windows for temporal families
            embeds = {k: v.detach() for k, v in model.encode(frames).items()}
        save_model(out / f"{name}.pt", LoadedModel(model, VideoInfo(args.frames, h, w), embeds))
        if export([str(out / f"{name}.pt"), "-o", str(out / f"{name}.nvpkg"), "--eval-frames", "0"]):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
