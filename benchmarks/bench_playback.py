"""Does playback hold the clip's frame rate? The real window loop (``play_window``) under SDL's dummy
video driver, fed by the real decode-ahead thread and ``Decoder``, timed at every frame it shows.

    SDL_VIDEODRIVER=dummy python benchmarks/bench_playback.py PACKAGE [--seconds 20] [--batch 4]
        [--backend auto] [--precision auto] [--fps F] [--json FILE]

Plays PACKAGE in a loop for ``--seconds`` at its own frame rate (or ``--fps``), then reports the decode
FPS the player measured, the intervals between shown frames (median, p99, max, against the period),
late frames (shown more than 1.5 periods after the previous one), and dropped frames (a shown index
that is not the one after the previous: the loop never skips, so any gap is a bug). Holding the rate
means: median interval = the period, no dropped frame, no late frame once the queue is full.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from nervkit.player.machine import describe
from nervkit.player.prefetch import Prefetcher
from nervkit.player.window import Window, play_window
from nervkit.runtime import Decoder, open_package


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--fps", type=float, help="playback rate (default: the clip's)")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    shown: list[tuple[int, float]] = []
    with open_package(args.package) as pkg, Decoder(pkg, args.backend, args.batch, args.precision) as dec:
        fps = args.fps or pkg.fps
        window = Window("bench", pkg.width, pkg.height)
        show, taken = window.show, []

        def timed_show(frame, text):
            show(frame, text)
            shown.append((taken[-1], time.perf_counter()))

        window.show = timed_show
        pg = window.pg
        pg.time.set_timer(pg.QUIT, int(1000 * args.seconds), loops=1)
        try:
            with Prefetcher(dec.decode_frames, range(pkg.num_frames), batch=args.batch,
                            depth=max(8, 2 * args.batch), loop=True) as p:
                get = p.get

                def timed_get(timeout=None):
                    item = get(timeout)
                    if item is not None:
                        taken.append(item[0])
                    return item

                p.get = timed_get
                play_window(p, window, fps, f"{dec.backend} {dec.precision}")
                decode_fps = p.decoded / p.decode_seconds if p.decode_seconds else 0.0
        finally:
            window.close()
        n = pkg.num_frames
        backend = (dec.backend, dec.precision)
    period = 1.0 / fps
    times = np.array([t for _, t in shown])
    intervals = np.diff(times)
    dropped = sum(1 for (a, _), (b, _) in zip(shown, shown[1:]) if b != (a + 1) % n)
    report = {
        "machine": describe(), "package": args.package, "backend": backend[0], "precision": backend[1],
        "batch": args.batch, "fps_target": fps, "seconds": float(times[-1] - times[0]), "frames_shown": len(times),
        "fps_shown": (len(times) - 1) / float(times[-1] - times[0]), "decode_fps": decode_fps,
        "interval_ms": {"period": 1e3 * period, "p50": 1e3 * float(np.median(intervals)),
                        "p99": 1e3 * float(np.percentile(intervals, 99)), "max": 1e3 * float(intervals.max())},
        "late_frames": int(np.sum(intervals > 1.5 * period)), "dropped_frames": dropped}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
