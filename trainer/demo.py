"""``nerv-demo``: the main job on a built-in clip, end to end, with no download.

Generates a synthetic clip (:mod:`.synthetic`), writes it as PNG frames, trains HNeRV on it with
``nerv-train``, decodes every frame, writes ``decoded.mp4`` and prints PSNR, MS-SSIM and the time taken.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import cli as train_cli
from .checkpoint import load_model
from .errors import UserError
from .metrics import ms_ssim, psnr
from .synthetic import synthetic_clip
from .train import to_float


def write_frames_png(frames: np.ndarray, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i + 1:04d}.png")


def write_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    """H.264 (CRF 18, yuv420p) through PyAV, written to a temporary name and renamed when complete."""
    import av

    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=int(round(fps)), options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    tmp.replace(path)


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="nerv-demo", description="Train, decode and score HNeRV on a built-in clip.")
    p.add_argument("--out", default="nervkit-demo", help="folder for the clip, model.pt and decoded.mp4")
    p.add_argument("--model", default="hnerv")
    p.add_argument("--size", type=float, default=0.1, help="parameter budget in millions")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--frames", type=int, default=24)
    args = p.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    clip = synthetic_clip(args.frames, 64, 128)
    write_frames_png(clip, out / "clip")
    print(f"nerv-demo: wrote the built-in clip ({len(clip)} frames, 64x128) to {out / 'clip'}", file=sys.stderr)
    model_path = out / "model.pt"
    train_cli.run([str(out / "clip"), "-o", str(model_path), "--model", args.model, "--size", str(args.size),
                   "--epochs", str(args.epochs), "--eval-every", str(max(args.epochs // 5, 1))])
    loaded = load_model(model_path)
    with torch.no_grad():
        decoded = loaded.model.decode(*(loaded.embeddings[n] for n in loaded.model.embed_names))
    target = to_float(torch.from_numpy(clip))
    frames_u8 = (decoded.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    write_mp4(frames_u8, out / "decoded.mp4", 24.0)
    result = {"psnr": psnr(decoded, target).mean().item(), "ms_ssim": ms_ssim(decoded, target).mean().item(),
              "seconds": time.perf_counter() - t0, "decoded": str(out / "decoded.mp4")}
    print(f"nerv-demo: decoded {len(clip)} frames to {result['decoded']}: PSNR {result['psnr']:.2f} dB, "
          f"MS-SSIM {result['ms_ssim']:.4f}, total {result['seconds']:.1f} s")
    return result


def main(argv=None) -> int:
    try:
        run(argv)
    except UserError as err:
        print(f"nerv-demo: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
