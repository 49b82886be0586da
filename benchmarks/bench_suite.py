"""nerv-bench's suite: every family at the same budget and frame size, each against the HNeRV package.

    python benchmarks/bench_suite.py [--size 0.35] [--hw 160x320] [--frames 0:16] [--repeats 5] [--json FILE]

Builds one package per registered family (``nerv-export`` defaults) from a model at ``--size`` million
parameters with seeded random weights (decode time does not depend on the weights' values), then runs
``nerv-bench --suite`` on them: each package's ``<family>-eager`` baseline (the trainer's module, as the
papers' codes run it) and ``ort-cpu``, and the ``versus_hnerv`` block.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from nervkit.export.build import ExportOptions, build_package
from nervkit.player.bench import main as bench
from nervkit.trainer.checkpoint import LoadedModel, VideoInfo
from nervkit.trainer.registry import create_model, model_names

FRAMES = 132
"""The bunny clip's length: the papers' budgets count its embeddings."""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=0.35, help="parameter budget in millions")
    ap.add_argument("--hw", default="160x320", help="frame size HxW")
    ap.add_argument("--frames", default="0:16")
    ap.add_argument("--repeats", default="5")
    ap.add_argument("--json", default="benchmarks/results/nerv_bench_suite_160x320.json")
    args = ap.parse_args(argv)
    hw = tuple(int(v) for v in args.hw.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in (n for n in model_names() if not n.startswith("test-")):
            torch.manual_seed(0)
            model = create_model(name, hw, FRAMES, args.size).eval()
            with torch.no_grad():
                embeds = model.encode(torch.rand(FRAMES, 3, *hw))
            loaded = LoadedModel(model, VideoInfo(FRAMES, *hw), embeds)
            build_package(loaded, Path(tmp) / f"{name}.nvpkg", ExportOptions(eval_frames=0))
        return bench(["--suite", tmp, "--backends", "ort-cpu", "--frames", args.frames,
                      "--repeats", args.repeats, "--json", args.json])


if __name__ == "__main__":
    sys.exit(main())
