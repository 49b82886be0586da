"""A nervkit family as the base codec of temporal down-sampling (issue 15): two NeRVs, one per stream.

``nerv-train ... --model tds --base hnerv`` trains one NeRV of that family (``--base-size`` millions of
parameters each, ``--base-epochs``) on the HR key frames and another on the LR frames, down-sampled by
the layout's scale with swscale's bicubic filter in RGB (:func:`nervkit.runtime.basecodec.scale`, the
filter the x264/x265 path scales with; a NeRV codes RGB, so there is no 4:2:0 step). Each NeRV is
exported as a complete per-frame package (:func:`.build.build_package`, default compression): those
bytes are the stream, stored in ``tds.pt`` and then as a section of the TDS package, so every byte of
both nested packages is counted as rate. The enhancer is then trained on what the runtime decodes from
those bytes (:func:`.tds_streams.decode`), exactly what a decoder of the package sees.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..runtime import basecodec
from ..runtime.errors import UserError
from ..runtime.gop import GopLayout
from ..trainer.checkpoint import VideoInfo
from ..trainer.registry import create_model, get_spec, model_names
from ..trainer.train import TrainConfig, fit
from .build import ExportOptions, build_package
from .files import write_model
from .tds_streams import Streams


def families() -> list[str]:
    """The registered NeRV families a base stream can be (every family has a per-frame plan)."""
    return model_names()


def check_family(family: str, size: float | None, epochs: int) -> None:
    """``UserError`` unless ``family``/``size``/``epochs`` can train a base NeRV."""
    if family not in families():
        raise UserError(f"--base {family!r}: choose one of {', '.join(basecodec.BASES)} or a nervkit family: "
                        f"{', '.join(families())}")
    if size is not None and get_spec(family).default_size is None:
        raise UserError(f"--base-size: {family} is a fixed-size test model; drop --base-size")
    if size is not None and not size > 0:
        raise UserError(f"--base-size {size}: must be a positive number of millions of parameters")
    if epochs < 1:
        raise UserError("--base-epochs must be at least 1")


def encode(frames: np.ndarray, family: str, size: float | None, epochs: int, fps: float, seed: int,
           label: str) -> bytes:
    """Train a ``family`` NeRV on ``frames`` (uint8 ``[N, H, W, 3]``) and return its package's bytes."""
    n, h, w, _ = frames.shape
    torch.manual_seed(seed)
    model = create_model(family, (h, w), n, size)
    recipe = type(model).recipe
    cfg = TrainConfig(epochs=epochs, batch_size=min(recipe.batch_size, n), seed=seed, grad_clip=recipe.grad_clip,
                      warmup=recipe.warmup, eval_every=epochs)
    print(f"nerv-train: base {label}: {family}, {n} frames {h}x{w}, {model.decoder_parameters() / 1e6:.3f}M "
          f"decoder parameters, {epochs} epochs", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nerv-tds-base-") as tmp:
        loaded = fit(model, frames, VideoInfo(n, h, w, fps=fps), cfg, Path(tmp) / "model.pt", write_model)
        out = Path(tmp) / "base.nvpkg"
        build_package(loaded, out, ExportOptions(eval_frames=0))
        return out.read_bytes()


def code(frames: np.ndarray, layout: GopLayout, family: str, size: float | None, epochs: int, fps: float,
         seed: int) -> Streams:
    """The two streams of ``frames``: a NeRV package of the key frames and one of the down-sampled others."""
    n, h, w, _ = frames.shape
    lr = basecodec.scale(frames[layout.lr_frames()], (h // layout.scale, w // layout.scale))
    key = encode(frames[layout.key_frames()], family, size, epochs, fps, seed, "key frames")
    return Streams(layout, family, None, h, w, key, encode(lr, family, size, epochs, fps, seed, "LR frames"))
