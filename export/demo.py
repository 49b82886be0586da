"""``nerv-demo``: the main job end to end on a built-in clip, with no download.

It generates a clip in code (:func:`nervkit.trainer.synthetic.synthetic_clip`: moving textures with fine
detail), writes it as PNG frames, then runs the same commands a user would type, printing each one:

    nerv-train clip/ -o model.pt --model hnerv --size 0.1 --epochs E
    nerv-export model.pt -o clip.nvpkg --json export.json
    nerv-play clip.nvpkg --output decoded.mp4

and ends with PSNR (against the clip, before and after compression), package size and bits per pixel,
decode FPS and the total time. The commands run as subprocesses of this Python, so the player (which may
import only the runtime) stays independent of the trainer.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ..runtime.errors import UserError, run_cli
from ..trainer.synthetic import synthetic_clip, write_frames_png

_MODULES = {"nerv-train": "nervkit.trainer.cli", "nerv-export": "nervkit.export.cli",
            "nerv-play": "nervkit.player.play"}


def _run(tool: str, *args: str) -> str:
    """Run ``tool args`` (as ``python -m module``), echo the command, pass its stderr through."""
    print(f"\n$ {tool} {shlex.join(args)}", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", _MODULES[tool], *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise UserError(f"{tool} failed with exit status {proc.returncode} (its message is above)")
    return proc.stdout


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="nerv-demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="nervkit-demo", help="folder for the clip, model, package and video")
    p.add_argument("--model", default="hnerv", help="family to train (default hnerv)")
    p.add_argument("--size", type=float, default=0.1, help="parameter budget in millions (default 0.1)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--frames", type=int, default=16, help="frames of the built-in 64x128 clip")
    args = p.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    write_frames_png(synthetic_clip(args.frames, 64, 128), out / "clip")
    print(f"nerv-demo: wrote the built-in clip ({args.frames} frames, 64x128) to {out / 'clip'}", file=sys.stderr)
    _run("nerv-train", str(out / "clip"), "-o", str(out / "model.pt"), "--model", args.model,
         "--size", str(args.size), "--epochs", str(args.epochs), "--eval-every", str(max(args.epochs // 4, 1)))
    _run("nerv-export", str(out / "model.pt"), "-o", str(out / "clip.nvpkg"), "--eval-frames", str(args.frames),
         "--json", str(out / "export.json"))
    _run("nerv-play", str(out / "clip.nvpkg"), "--output", str(out / "decoded.mp4"))
    report = json.loads((out / "export.json").read_text())
    psnr = report.get("psnr", {})
    print(f"\nnerv-demo: {args.model} on {args.frames} frames: PSNR {psnr.get('before', float('nan')):.2f} dB "
          f"trained, {psnr.get('after', float('nan')):.2f} dB from {out / 'clip.nvpkg'} "
          f"({report['file_bytes']:,} bytes, {report['bpp']:.3f} bpp); video {out / 'decoded.mp4'}; "
          f"total {time.perf_counter() - t0:.0f} s")
    return 0


def main(argv=None) -> int:
    return run_cli("nerv-demo", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
