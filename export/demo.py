"""``nerv-demo``: the main job end to end on a built-in clip, with no download, and how it compares.

It generates a clip in code (:func:`nervkit.trainer.synthetic.synthetic_clip`: a camera panning across a
landscape with smooth sky, hills, sharp-edged houses, a road and objects moving on their own), writes it as
PNG frames, then runs the same commands a user would type, printing each one:

    nerv-train clip/ -o model.pt --model hnerv --size 0.1 --epochs 60 --lr 0.002 --batch-size 1
    nerv-export model.pt -o clip.nvpkg --json export.json
    nerv-play clip.nvpkg --output decoded.mp4
    nerv-rd clip/ clip.nvpkg --codecs libx264 --same-size --side-by-side compare.png --plot rd.png

and ends by printing the package's size, PSNR, MS-SSIM and decode FPS next to x264's at the same number of
bytes (both measured by nerv-rd, whichever way it falls), with the side-by-side picture (source | nervkit |
x264) and the rate-distortion chart it wrote. The short schedule (a higher learning rate than the papers'
1e-3, one frame per step) is what fits a couple of CPU minutes. The commands run as subprocesses of this
Python, so the player (which may import only the runtime) stays independent of the trainer.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..runtime.errors import UserError
from ..trainer.synthetic import synthetic_clip, write_frames_png
from .tool import run_tool

_MODULES = {"nerv-train": "nervkit.export.train_cli", "nerv-export": "nervkit.export.cli",
            "nerv-play": "nervkit.player.play", "nerv-rd": "nervkit.player.rd"}
HEIGHT, WIDTH = 64, 128


def _run(tool: str, *args: str) -> str:
    """Run ``tool args`` (as ``python -m module``), echo the command, pass its stderr through."""
    print(f"\n$ {tool} {shlex.join(args)}", file=sys.stderr, flush=True)
    with subprocess.Popen([sys.executable, "-m", _MODULES[tool], *args], stdout=subprocess.PIPE, text=True) as proc:
        try:
            out, _ = proc.communicate()
        except KeyboardInterrupt:  # the tool cleans up and ends within seconds (it may have had the signal already)
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
    if proc.returncode:
        raise UserError(f"{tool} failed with exit status {proc.returncode} (its message is above)")
    return out


def _summary(rd: dict, package: Path) -> list[str]:
    """The closing comparison: the package and x264 at the same size, one line each."""
    mine = next(q for s in rd["series"] if s["kind"] == "nervkit" for q in s["points"])
    match = next(c for c in rd["same_size"] if c["codec"] == "x264")
    x264 = match["point"]
    rows = [("", "bytes", "bpp", "PSNR dB", "MS-SSIM", "decode FPS"),
            (f"nervkit {rd['series'][0]['name']} ({package.name})", f"{mine['bytes']:,}", f"{mine['bpp']:.3f}",
             f"{mine['psnr']:.2f}", f"{mine['ms_ssim']:.4f}", f"{mine['decode_fps']:.0f}"),
            (f"x264 {x264['setting']} (medium)", f"{x264['bytes']:,}", f"{x264['bpp']:.3f}", f"{x264['psnr']:.2f}",
             f"{x264['ms_ssim']:.4f}", f"{x264['decode_fps']:.0f}")]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    if not match["matched"]:
        lines.append(f"  (x264 cannot reach that size here: {x264['setting']} is its nearest file)")
    ceiling = rd["conversion_ceiling"]
    lines.append(f"  (x264 codes 8-bit 4:2:0: the RGB -> yuv420p -> RGB conversion alone reaches "
                 f"{ceiling['psnr']:.2f} dB and MS-SSIM {ceiling['ms_ssim']:.4f} on this clip; nervkit decodes RGB)")
    return lines


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="nerv-demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="nervkit-demo", help="folder for the clip, model, package, video and pictures")
    p.add_argument("--model", default="hnerv", help="family to train (default hnerv)")
    p.add_argument("--size", type=float, default=0.1, help="parameter budget in millions (default 0.1)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--frames", type=int, default=48, help=f"frames of the built-in {HEIGHT}x{WIDTH} clip")
    args = p.parse_args(argv)
    if args.frames < 2 or args.epochs < 1:
        raise UserError("--frames must be at least 2 and --epochs at least 1")
    if not (math.isfinite(args.size) and args.size > 0):
        raise UserError(f"--size {args.size}: must be a positive number of millions of parameters")
    import torch  # noqa: F401  the demo trains: without the train extra, run_cli names it in one line

    from ..trainer.registry import get_spec

    sized = get_spec(args.model).default_size is not None  # an unknown family fails here, before any work

    out = Path(args.out)
    t0 = time.perf_counter()
    write_frames_png(synthetic_clip(args.frames, HEIGHT, WIDTH), out / "clip")
    print(f"nerv-demo: wrote the built-in clip ({args.frames} frames, {HEIGHT}x{WIDTH}) to {out / 'clip'}",
          file=sys.stderr)
    t_train = time.perf_counter()
    _run("nerv-train", str(out / "clip"), "-o", str(out / "model.pt"), "--model", args.model,
         *(["--size", str(args.size)] if sized else []), "--epochs", str(args.epochs), "--lr", "0.002",
         "--batch-size", "1", "--eval-every", str(args.epochs))
    trained = time.perf_counter() - t_train
    package = out / "clip.nvpkg"
    _run("nerv-export", str(out / "model.pt"), "-o", str(package), "--eval-frames", "0")
    _run("nerv-play", str(package), "--output", str(out / "decoded.mp4"))
    _run("nerv-rd", str(out / "clip"), str(package), "--codecs", "libx264", "--same-size",
         "--side-by-side", str(out / "compare.png"), "--plot", str(out / "rd.png"), "--json", str(out / "rd.json"))
    rd = json.loads((out / "rd.json").read_text())
    lines = [f"\nnerv-demo: {args.model} {args.size}M on {args.frames} frames {HEIGHT}x{WIDTH}, {args.epochs} epochs "
             f"({trained:.0f} s to train); against x264 at the same size, measured by nerv-rd:", *_summary(rd, package),
             f"nerv-demo: side by side (source | nervkit | x264) {out / 'compare.png'}, RD chart {out / 'rd.png'}, "
             f"video {out / 'decoded.mp4'}; total {time.perf_counter() - t0:.0f} s"]
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    return run_tool("nerv-demo", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
