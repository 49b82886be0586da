"""Rate-distortion of TDS (paper 003) on bunny 160x320 against plain x265, and decode speed.

    python benchmarks/bench_tds_rd.py --part anchor|mtsa|conv   [--work DIR] [--steps 250] ...
    python benchmarks/bench_tds_rd.py --part fps                [--work DIR]
    python benchmarks/bench_tds_rd.py --part report             [--work DIR] [--json FILE]

The parts run as separate processes (they can run side by side) and leave JSON in ``--work``;
``report`` merges them into one result with BD-rate / BD-PSNR.

Setting: the 132 bunny frames (160x320, the ``frames-160x320`` folder), GOP 5, scale 2, base x265
(preset medium, one thread) at four CRF points, the same CRF for the key and the LR stream. The
enhancer is the paper's "part of the decoder" setting: it is trained once, on the decoded groups of
the first 65 frames at all four CRFs, and evaluated on the other 67 frames (13 groups and 2 tail key
frames), so its weights are not counted as rate; every bit of both base streams is. The anchor is
x265 at the same CRFs on the same 67 frames. Quality: mean over frames of RGB PSNR on 8-bit output.

- ``anchor``: x265 alone; TDS with bicubic up-sampling only (no enhancer).
- ``mtsa``: TDS + SRFR + MTSA (two stages, Sec. 4.1); ``conv``: the ablation without MTSA (one stage).
- ``fps``: decode speed of the test frames at CRF 32, interleaved with warm-up and repeats: x265
  alone, and the TDS pipeline (both streams, bicubic up-sampling, the MTSA enhancer run by ONNX
  Runtime on CPU from its exported graph, Algorithm 1 per group).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from nervkit.export import tds_streams
from nervkit.export.files import load_video
from nervkit.export.tds_onnx import export_enhancer_onnx
from nervkit.export.tds_streams import make_layout
from nervkit.player.machine import describe
from nervkit.runtime import basecodec
from nervkit.runtime.gop import frame_plan
from nervkit.trainer.tds import pipeline
from nervkit.trainer.tds.enhancer import Enhancer, config_for

DATA = Path(__file__).resolve().parents[2] / "shared/data/bunny/frames-160x320"
GOP, SCALE, BASE = 5, 2, "x265"
SPLIT = 65


def load(args):
    frames = load_video(args.data).frames
    train, test = frames[:SPLIT], frames[SPLIT:]
    n, h, w, _ = frames.shape
    return train, test, make_layout(len(train), h, w, GOP, SCALE), make_layout(len(test), h, w, GOP, SCALE)


def part_anchor(args, train, test, lay_train, lay_test) -> dict:
    n, h, w, _ = test.shape
    rows = []
    for crf in args.crfs:
        anchor = tds_streams.encode(test, BASE, crf)
        streams = tds_streams.code(test, lay_test, BASE, crf)
        rows.append({"crf": crf, "anchor_bpp": 8 * len(anchor) / (n * h * w),
                     "anchor_psnr": pipeline.mean_psnr(basecodec.decode(anchor, BASE), test),
                     "tds_bits": streams.bits, "tds_key_bytes": len(streams.key), "tds_lr_bytes": len(streams.lr),
                     "tds_bpp": streams.bits / (n * h * w),
                     "tds_bicubic_psnr": pipeline.mean_psnr(tds_streams.decode(streams), test)})
        print(f"anchor crf {crf}: {rows[-1]}", file=sys.stderr, flush=True)
    return {"points": rows}


def part_enhancer(args, fusion, train, test, lay_train, lay_test) -> dict:
    data = [(tds_streams.decode(tds_streams.code(train, lay_train, BASE, crf)), train) for crf in args.crfs]
    torch.manual_seed(1)
    enhancer = Enhancer(config_for(args.size, fusion))
    settings = pipeline.TrainSettings(steps=args.steps, patch=args.patch, batch=args.batch)
    saved = args.work / f"{fusion}.pt"
    if args.reuse and saved.exists():  # evaluate an enhancer this script trained before
        enhancer.load_state_dict(torch.load(saved, weights_only=True))
        trained = json.loads(saved.with_suffix(".train.json").read_text())
    else:
        t0 = time.perf_counter()
        history = pipeline.train(enhancer, data, GOP, frame_plan(GOP), settings)
        trained = {"history": history, "seconds": time.perf_counter() - t0}
        torch.save(enhancer.state_dict(), saved)
        saved.with_suffix(".train.json").write_text(json.dumps(trained))
    history, seconds = trained["history"], trained["seconds"]
    rows = []
    n, h, w, _ = test.shape
    for crf in args.crfs:
        streams = tds_streams.code(test, lay_test, BASE, crf)
        out = pipeline.enhance(enhancer, tds_streams.decode(streams), GOP, frame_plan(GOP))
        lr = lay_test.lr_frames()
        rows.append({"crf": crf, "bpp": streams.bits / (n * h * w), "psnr": pipeline.mean_psnr(out, test),
                     "psnr_lr_frames": pipeline.mean_psnr(out[lr], test[lr])})
        print(f"{fusion} crf {crf}: {rows[-1]}", file=sys.stderr, flush=True)
    return {"points": rows, "enhancer": {"size": args.size, "fusion": fusion,
                                          "params": sum(p.numel() for p in enhancer.parameters()),
                                          "train_seconds": seconds, "train": vars(settings),
                                          "train_frames": f"1-{SPLIT} at CRF {args.crfs}", "history": history}}


def part_fps(args, train, test, lay_train, lay_test) -> dict:
    import onnxruntime as ort

    n, h, w, _ = test.shape
    enhancer = Enhancer(config_for(args.size, "mtsa"))
    enhancer.load_state_dict(torch.load(args.work / "mtsa.pt", weights_only=True))
    sess = ort.InferenceSession(export_enhancer_onnx(enhancer, h, w).SerializeToString(),
                                providers=["CPUExecutionProvider"])

    def ort_enhancer(earlier, target, later):
        feeds = dict(zip(enhancer.input_names, (t.numpy() for t in (earlier, target, later))))
        return torch.from_numpy(sess.run(None, feeds)[0])

    anchor = tds_streams.encode(test, BASE, 32)
    streams = tds_streams.code(test, lay_test, BASE, 32)
    runs = {"x265": lambda: basecodec.decode(anchor, BASE),
            "tds-x265+mtsa-ort": lambda: pipeline.enhance(ort_enhancer, tds_streams.decode(streams), GOP,
                                                          frame_plan(GOP))}
    times = {k: [] for k in runs}
    for rep in range(args.repeats + 1):  # the first round is the warm-up
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            if rep:
                times[name].append(time.perf_counter() - t0)
    return {"frames": n, "crf": 32, "repeats": args.repeats,
            "fps_median": {k: n / statistics.median(v) for k, v in times.items()},
            "seconds": times}


def report(args) -> dict:
    from nervkit.player.bjontegaard import bd_psnr, bd_rate

    parts = {p: json.loads((args.work / f"{p}.json").read_text()) for p in ("anchor", "mtsa", "conv", "fps")
             if (args.work / f"{p}.json").exists()}
    a = parts["anchor"]["points"]
    anchor = ([p["anchor_bpp"] for p in a], [p["anchor_psnr"] for p in a])
    curves = {"tds-bicubic": ([p["tds_bpp"] for p in a], [p["tds_bicubic_psnr"] for p in a])}
    for fusion, name in (("mtsa", "tds+srfr+mtsa"), ("conv", "tds+srfr (no MTSA)")):
        if fusion in parts:
            pts = parts[fusion]["points"]
            curves[name] = ([p["bpp"] for p in pts], [p["psnr"] for p in pts])
    bd = {}
    for name, curve in curves.items():
        rate, rate_iv = bd_rate(anchor, curve, "cubic")
        dpsnr, psnr_iv = bd_psnr(anchor, curve, "cubic")
        bd[name] = {"bd_rate_percent": rate, "bd_psnr_db": dpsnr, "psnr_interval": rate_iv,
                    "log10_bpp_interval": psnr_iv}
    return {"benchmark": "tds_rd_bunny", "setting": __doc__.split("Setting: ")[1].split("\n\n")[0],
            "gop": GOP, "scale": SCALE, "base": BASE, "bd_vs_x265": bd, "parts": parts,
            "machine": describe()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", required=True, choices=("anchor", "mtsa", "conv", "fps", "report"))
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--work", type=Path, default=Path("/tmp/tds_rd"))
    p.add_argument("--crfs", type=lambda s: [int(c) for c in s.split(",")], default=[27, 32, 37, 42])
    p.add_argument("--size", default="test", help="enhancer size (test: 39k parameters)")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--patch", type=int, default=48)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reuse", action="store_true", help="evaluate the enhancer a previous run saved in --work")
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results/tds_rd_bunny.json")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_tds_rd: {args.data} is missing (the shared bunny frames)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.part == "report":
        result = report(args)
        args.json.write_text(json.dumps(result, indent=2))
        print(json.dumps(result["bd_vs_x265"], indent=2))
        return 0
    data = load(args)
    if args.part == "anchor":
        result = part_anchor(args, *data)
    elif args.part == "fps":
        result = part_fps(args, *data)
    else:
        result = part_enhancer(args, args.part, *data)
    (args.work / f"{args.part}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
