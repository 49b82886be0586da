"""``nerv-play clip.nvpkg``: play a package in a window, or write its frames to a file or a pipe.

    nerv-play clip.nvpkg                      # window at the clip's frame rate
    nerv-play clip.nvpkg --output clip.mp4    # or .y4m, .mkv, a folder of PNGs, - (y4m on stdout)
    nerv-play clip.nvpkg --output - | ffplay -
    nerv-play clip.nvpkg --no-window --loop   # decode as fast as possible, forever

Ends with one line on stderr (stdout may carry the video): frames decoded, seconds, decode FPS, backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from tqdm import tqdm

from nervkit.runtime import Decoder, open_package
from nervkit.runtime.errors import UserError, run_cli
from nervkit.runtime.memory import add_max_memory_argument
from nervkit.runtime.package import add_enhancer_argument
from nervkit.runtime.precision import PRECISIONS

from .frames import parse_frames
from .prefetch import Prefetcher
from .sinks import open_sink

MIN_FPS, MAX_FPS = 0.001, 1000.0
"""Playback rates a file can carry (a ratio with denominator at most 1001) and the package format allows."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerv-play", description=__doc__.split("\n\n")[0])
    p.add_argument("package", help="a .nvpkg file (made by nerv-export)")
    p.add_argument("--backend", default="auto", help="auto, openvino, ort-cpu, ort-cuda or trt (default: auto, "
                   "the fastest available)")
    p.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS),
                   help="arithmetic of the decoder network (default: auto, the fastest the package's quality "
                        "guard measured within 0.02 dB PSNR of fp32; fp32 without such a record)")
    p.add_argument("--batch", type=int, default=4, help="frames per decoder call (default: 4)")
    p.add_argument("--output", metavar="PATH",
                   help="write frames instead of showing them: .y4m, .mp4, .mkv, a folder (PNGs), "
                        "or - for y4m on stdout")
    p.add_argument("--frames", metavar="START:STOP", help="frame range, like a Python slice (default: all)")
    p.add_argument("--no-window", action="store_true", help="decode as fast as possible, show nothing")
    p.add_argument("--fps", type=float, help="playback rate in frames per second (default: the clip's)")
    p.add_argument("--loop", action="store_true", help="start over after the last frame")
    add_max_memory_argument(p)
    add_enhancer_argument(p)
    return p


def run_headless(prefetcher: Prefetcher, write: Callable | None = None,
                 on_frame: Callable[[int], bool] | None = None) -> int:
    """Take every frame from ``prefetcher`` as fast as it decodes, passing it to ``write(index, frame)``.

    ``on_frame(count)`` is called after each frame; returning False stops (the soak benchmark uses it
    to end a ``loop`` run). Returns the number of frames taken.
    """
    count = 0
    total = None if prefetcher.loop else len(prefetcher.frames)
    with tqdm(total=total, unit="frame", disable=None, file=sys.stderr, leave=False) as bar:
        while (item := prefetcher.get()) is not None:
            if write is not None:
                write(*item)
            count += 1
            bar.update()
            if on_frame is not None and on_frame(count) is False:
                break
    return count


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch < 1:
        raise UserError(f"--batch {args.batch}: must be at least 1")
    if args.fps is not None and not MIN_FPS <= args.fps <= MAX_FPS:
        raise UserError(f"--fps {args.fps}: must be between {MIN_FPS} and {MAX_FPS:g}")
    if args.output == "":
        raise UserError("--output: an empty name was given")
    if args.loop and args.output:
        raise UserError("--loop plays forever and cannot be combined with --output")
    with ExitStack() as stack:
        pkg = stack.enter_context(open_package(args.package, args.enhancer))
        frames = parse_frames(args.frames, pkg.num_frames)
        fps = args.fps or pkg.fps
        dec = stack.enter_context(Decoder(pkg, backend=args.backend, batch=args.batch, precision=args.precision,
                                          max_memory=args.max_memory))
        if args.output:
            sink = stack.enter_context(open_sink(args.output, pkg.width, pkg.height, fps))
        elif not args.no_window:
            from .window import Window, play_window

            window = Window(f"nerv-play {os.path.basename(args.package)}", pkg.width, pkg.height)
            stack.callback(window.close)
        start = time.perf_counter()
        prefetcher = Prefetcher(dec.decode_frames, frames, batch=args.batch, depth=max(8, 2 * args.batch),
                                loop=args.loop)
        stack.push(lambda kind, *_: None if kind and not issubclass(kind, KeyboardInterrupt) else _report(
            prefetcher, start, f"{dec.backend} {dec.precision}"))  # no closing line after an error
        stack.callback(prefetcher.close)
        if args.output:
            run_headless(prefetcher, sink.write)  # a reader that goes away: run_cli's broken-pipe exit
        elif args.no_window:
            run_headless(prefetcher)
        else:
            play_window(prefetcher, window, fps, f"{dec.backend} {dec.precision}")
    return 0


def _report(prefetcher: Prefetcher, start: float, backend: str) -> None:
    """The closing line (stderr: stdout may be the video): frames decoded, seconds, decode FPS, backend and
    precision."""
    seconds = time.perf_counter() - start
    rate = prefetcher.decoded / prefetcher.decode_seconds if prefetcher.decode_seconds else 0.0
    print(f"nerv-play: {prefetcher.decoded} frames, {seconds:.2f} s, {rate:.1f} decode FPS, "
          f"backend {backend}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nerv-play", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
