"""``nerv-train INPUT -o tds.pt --model tds|test-tds --base x265 --gop 5 --scale 2 --crf 32``.

Codes the video's two streams with the base codec, decodes them, and trains the enhancer on what the
decoder sees (per-video enhancer, stored in ``tds.pt``), or, with ``--enhancer FILE``, takes the
enhancer of another ``tds.pt`` as a shared decoder component (no training; named by hash).
"""

from __future__ import annotations

import argparse
import sys
import time

from ..runtime.basecodec import BASES
from ..runtime.errors import UserError
from ..runtime.gop import frame_plan
from ..runtime.jsonout import write_json
from ..trainer.tds import pipeline
from ..trainer.tds.enhancer import SIZES, Enhancer, config_for
from . import tds_files, tds_nerv, tds_streams
from .tds_streams import check_match, make_layout

MODELS = {"tds": None, "test-tds": "test"}
"""``--model`` names of the TDS pipeline -> fixed enhancer size (``None``: ``--enhancer-size``)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("temporal down-sampling (--model tds or test-tds; paper 003)")
    g.add_argument("--base", default="x265", help=f"base codec: {', '.join(BASES)} (default x265), or a nervkit "
                   "family (two NeRVs: key frames, LR frames; e.g. hnerv, test-hnerv)")
    g.add_argument("--base-size", type=float, help="with a family --base: each NeRV's parameter budget in millions")
    g.add_argument("--base-epochs", type=int, default=300, help="with a family --base: each NeRV's epochs")
    g.add_argument("--gop", type=int, default=5, help="frames per group, odd, >= 3 (default 5)")
    g.add_argument("--scale", type=int, default=2, help="down-sampling factor of the middle frames: 2 or 4")
    g.add_argument("--crf", type=int, default=32, help="base codec constant rate factor for both streams")
    g.add_argument("--enhancer-size", default="small", help=f"enhancer width: {', '.join(SIZES)} (default small)")
    g.add_argument("--fusion", default="mtsa", help="mtsa (full model) or conv (the ablation without MTSA)")
    g.add_argument("--steps", type=int, default=2000, help="enhancer optimiser steps, both stages (default 2000)")
    g.add_argument("--patch", type=int, default=64, help="training crop side in pixels (default 64)")
    g.add_argument("--enhancer", metavar="FILE", help="use the enhancer of this tds.pt (shared; no training)")


def run(args, clip) -> dict:
    """Train (or attach) the enhancer for ``clip`` and write ``args.output``; returns the result dict."""
    nerv_base = args.base not in BASES
    if nerv_base:
        tds_nerv.check_family(args.base, args.base_size, args.base_epochs)
    frames = clip.frames
    n, h, w, _ = frames.shape
    layout = make_layout(n, h, w, args.gop, args.scale)
    if args.resume:
        raise UserError("--resume is not supported with --model tds (training is short; start again)")
    if args.size is not None:
        raise UserError("--size is a NeRV parameter budget; the TDS enhancer takes --enhancer-size")
    if not args.enhancer and (args.steps < 1 or args.patch < 8 or args.patch % 4 or args.patch > min(h, w)):
        raise UserError(f"--steps must be >= 1 and --patch a multiple of 4 between 8 and {min(h, w)}")
    shared = None
    if args.enhancer:
        shared = tds_files.load(args.enhancer)
        check_match({"scale": shared.streams.layout.scale, "base": shared.streams.base},
                    {"scale": args.scale, "base": args.base})
    config_for(args.enhancer_size, args.fusion)  # a bad name fails even where the size is fixed
    size = MODELS[args.model] or args.enhancer_size
    enhancer = shared.enhancer if shared else Enhancer(config_for(size, args.fusion))
    rate = f"{args.base_epochs} epochs" if nerv_base else f"CRF {args.crf}"
    print(f"nerv-train: {args.model}: {n} frames {h}x{w}, GOP {args.gop}, scale {args.scale}, {args.base} {rate}; "
          f"{len(layout.lr_frames())} frames down-sampled", file=sys.stderr)
    t0 = time.perf_counter()
    streams = (tds_nerv.code(frames, layout, args.base, args.base_size, args.base_epochs, clip.fps, args.seed)
               if nerv_base else tds_streams.code(frames, layout, args.base, args.crf, fps=clip.fps))
    decoded = tds_streams.decode(streams)
    steps = frame_plan(args.gop)
    train = None
    if shared is None:
        settings = pipeline.TrainSettings(steps=args.steps, patch=args.patch, seed=args.seed)  # paper lr 4e-4
        history = pipeline.train(enhancer, [(decoded, frames)], args.gop, steps, settings)
        train = {"settings": vars(settings), "history": history}
    enhanced = pipeline.enhance(enhancer, decoded, args.gop, steps)
    seconds = time.perf_counter() - t0
    lr, q = layout.lr_frames(), pipeline.mean_psnr
    metrics = {"bpp_streams": streams.bits / (n * h * w), "key_bytes": len(streams.key), "lr_bytes": len(streams.lr),
               "psnr_decoded": q(decoded, frames), "psnr": q(enhanced, frames),
               "psnr_lr_decoded": q(decoded[lr], frames[lr]), "psnr_lr": q(enhanced[lr], frames[lr])}
    if train is not None:
        train["seconds"] = seconds
    tds_files.save(args.output, tds_files.TDSCheckpoint(args.model, streams, clip.fps, enhancer,
                                                          shared is not None, train, metrics))
    result = {"model": args.model, "output": str(args.output), "frames": n, "height": h, "width": w,
              "enhancer_params": sum(p.numel() for p in enhancer.parameters()), "seconds": seconds, **metrics}
    if args.json:
        write_json(args.json, result)
    print(f"nerv-train: wrote {args.output}: {metrics['bpp_streams']:.4f} bpp in the base streams, PSNR "
          f"{metrics['psnr_decoded']:.2f} dB decoded -> {metrics['psnr']:.2f} dB enhanced, {seconds:.1f} s",
          file=sys.stderr)
    return result

