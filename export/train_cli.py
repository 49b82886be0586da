"""``nerv-train INPUT -o model.pt --model NAME``: fit a registered family to a video.

The command-line tool around the trainer library: it lives here, with the other torch-side tools,
because it joins the trainer (models, training loop) with the runtime's video reader, atomic writes,
memory bounds and exit-status contract, and the trainer imports none of nervkit's other layers.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from ..runtime.atomic import check_distinct, check_writable
from ..runtime.errors import UserError
from ..runtime.jsonout import add_json_argument, check_json_target, write_json
from ..runtime.memory import add_max_memory_argument, check_memory
from ..runtime.video import parse_hw
from ..trainer.checkpoint import VideoInfo
from ..trainer.registry import create_model, get_spec, model_names
from ..trainer.train import PRECISIONS, TrainConfig, fit
from . import tds_train
from .files import load_video, read_model, write_model
from .tool import run_tool

MAX_LR = 1.0
"""Adam moves each weight by about ``lr`` a step: above 1 it jumps by more than the weights' own scale."""

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerv-train", description=__doc__.split(":")[1].strip())
    p.add_argument("input", help="video file (anything PyAV opens) or a folder of PNG/JPEG frames")
    p.add_argument("-o", "--output", required=True, help="model.pt to write (also the resume checkpoint)")
    p.add_argument("--model", default="hnerv",
                   help=f"family: {', '.join([*model_names(), *tds_train.MODELS])} (default hnerv)")
    p.add_argument("--size", type=float, help="parameter budget in millions (decoder + embeddings)")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, help="frames per step (default: the family's paper recipe)")
    p.add_argument("--grad-clip", type=float,
                   help="clip the gradient norm, 0 = off (default: the family's recipe, e.g. 1.0 for snerv)")
    p.add_argument("--warmup", type=float, help="warm-up fraction of the cosine schedule (default: the recipe)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default on every device), bf16 autocast, or tf32 (CUDA)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=30, help="evaluate PSNR / MS-SSIM every N epochs")
    p.add_argument("--crop", help="center crop HxW before resizing (e.g. 640x1280)")
    p.add_argument("--resize", help="bicubic resize to HxW after cropping")
    p.add_argument("--max-frames", type=int, help="use only the first N frames")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue the interrupted run saved in --output")
    add_json_argument(p, "the training history and final metrics")
    tds_train.add_arguments(p)
    add_max_memory_argument(p)
    return p


def _check_device(device: str) -> None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available to PyTorch here")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"--device {device!r}: use cpu or cuda")


def run(argv=None, on_epoch_end=None) -> dict:
    """Parse ``argv`` and train; ``on_epoch_end(epoch)`` is passed to :func:`.train.fit`."""
    args = build_parser().parse_args(argv)
    _check_device(args.device)
    for flag in ("epochs", "eval_every", "max_frames"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    if not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
        raise UserError(f"--lr {args.lr}: must be a positive number at most {MAX_LR:g}")
    if args.grad_clip is not None and not (math.isfinite(args.grad_clip) and args.grad_clip >= 0):
        raise UserError(f"--grad-clip {args.grad_clip}: must be a gradient norm >= 0 (0 = off)")
    if args.size is not None and args.model not in tds_train.MODELS:  # tds refuses --size itself
        if not (math.isfinite(args.size) and args.size > 0):
            raise UserError(f"--size {args.size}: must be a positive number of millions of parameters")
        if get_spec(args.model).default_size is None:
            raise UserError(f"--size: {args.model} is a fixed-size test model; drop --size or choose a real family")
        # weights, gradients and the two Adam moments: 16 bytes a parameter
        check_memory(int(16e6 * args.size), args.max_memory, f"training {args.size:g}M parameters")
    out = Path(args.output)
    check_distinct(out, args.json)
    check_writable(out, inputs=(args.input,))  # outputs are checked before any training
    check_json_target(args.json)
    resume = None
    if args.resume and out.exists():
        prev = read_model(out)
        if not prev.train:
            raise UserError(f"{out}: has no training state to resume from")
        resume = prev
        stored = prev.train["args"]
        args.model, args.size = prev.model.name, stored.get("size")
        args.crop, args.resize = stored.get("crop"), stored.get("resize")
        args.batch_size, args.lr, args.seed = stored["batch_size"], stored["lr"], stored["seed"]
        args.grad_clip, args.warmup = stored.get("grad_clip"), stored.get("warmup")
        args.precision = stored.get("precision", "fp32")
        args.max_frames = stored.get("max_frames")
    elif args.resume:
        print(f"nerv-train: {out} does not exist yet; starting a new run", file=sys.stderr)
    if args.model not in tds_train.MODELS:  # an unknown name fails before any decoding
        recipe = get_spec(args.model).model_cls.recipe
        args.batch_size = recipe.batch_size if args.batch_size is None else args.batch_size
        args.grad_clip = recipe.grad_clip if args.grad_clip is None else (args.grad_clip or None)
        args.warmup = recipe.warmup if args.warmup is None else args.warmup
        if args.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        if not 0 <= args.warmup < 1:
            raise UserError("--warmup must be in [0, 1)")
    if args.precision == "tf32" and not args.device.startswith("cuda"):
        raise UserError("--precision tf32 needs --device cuda (TF32 is a CUDA tensor-core format)")
    crop, resize = parse_hw(args.crop), parse_hw(args.resize)
    clip = load_video(args.input, crop=crop, resize=resize, max_frames=args.max_frames, max_bytes=args.max_memory)
    if args.model in tds_train.MODELS:  # temporal down-sampling: base-codec streams plus an enhancer
        return tds_train.run(args, clip)
    n, h, w, _ = clip.frames.shape
    video = VideoInfo(num_frames=n, height=h, width=w, fps=clip.fps, source=str(Path(args.input).resolve()),
                      crop=crop, resize=resize)
    torch.manual_seed(args.seed)
    if resume is not None:
        if (resume.video.num_frames, resume.video.height, resume.video.width) != (n, h, w):
            raise UserError(f"--resume: {args.input} gives {n} frames of {h}x{w}, the checkpoint was trained "
                            f"on {resume.video.num_frames} of {resume.video.height}x{resume.video.width}")
        model = resume.model
        if resume.train["epoch"] >= args.epochs:
            print(f"nerv-train: {out} already has {resume.train['epoch']} epochs; nothing to do", file=sys.stderr)
            return {"epochs": resume.train["epoch"], "history": resume.train["history"]}
    else:
        model = create_model(args.model, (h, w), n, args.size)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, eval_every=args.eval_every,
                      seed=args.seed, device=args.device, grad_clip=args.grad_clip, warmup=args.warmup,
                      precision=args.precision)
    params = model.decoder_parameters()
    print(f"nerv-train: {args.model}, {n} frames {h}x{w}, decoder {params / 1e6:.3f}M parameters, "
          f"{cfg.epochs} epochs on {args.device}", file=sys.stderr)
    stored_args = {"size": args.size, "crop": args.crop, "resize": args.resize, "batch_size": args.batch_size,
                   "lr": args.lr, "seed": args.seed, "max_frames": args.max_frames, "grad_clip": args.grad_clip,
                   "warmup": args.warmup, "precision": args.precision}
    t0 = time.perf_counter()
    loaded = fit(model, clip.frames, video, cfg, out, write_model, resume=resume.train if resume else None,
                 args=stored_args, on_epoch_end=on_epoch_end)
    seconds = time.perf_counter() - t0
    last_eval = loaded.train["history"]["evals"][-1]
    result = {"model": args.model, "output": str(out), "frames": n, "height": h, "width": w,
              "decoder_params": params, "epochs": cfg.epochs, "seconds": seconds,
              "psnr": last_eval["psnr"], "ms_ssim": last_eval["ms_ssim"],
              "best_psnr": max(e["psnr"] for e in loaded.train["history"]["evals"]),
              "recipe": {"batch_size": cfg.batch_size, "grad_clip": cfg.grad_clip, "warmup": cfg.warmup,
                         "precision": cfg.precision},
              "history": loaded.train["history"]}
    if args.json:
        write_json(args.json, result)
    print(f"nerv-train: wrote {out}: PSNR {result['psnr']:.2f} dB, MS-SSIM {result['ms_ssim']:.4f}, "
          f"{seconds:.1f} s", file=sys.stderr)
    return result


def _main(argv) -> int:
    run(argv)
    return 0


def main(argv=None) -> int:
    return run_tool("nerv-train", _main, argv,
                    interrupted="interrupted; the last completed epoch is saved, continue with --resume")


if __name__ == "__main__":
    sys.exit(main())
