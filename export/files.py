"""The files the torch-side tools read and write for the trainer: the training video and ``model.pt``.

The trainer imports none of nervkit's other layers (GUIDE), so the tools join the two here: the training
video is the runtime's torch-free reader with the trainer's bicubic resize (PyTorch's, bit-identical to
the official code's); a model.pt is written through the runtime's atomic writes (never half-written,
modes from the user's umask) and, before PyTorch reads it, refused in one line if it is a package.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime import video
from ..runtime.atomic import atomic_open
from ..runtime.container import MAGIC as PACKAGE_MAGIC
from ..runtime.errors import UserError
from ..trainer.checkpoint import LoadedModel, load_model, save_model
from ..trainer.video import resize_bicubic


def load_video(path: str | Path, crop=None, resize=None, max_frames: int | None = None,
               max_bytes: int = video.DEFAULT_MAX_BYTES) -> video.Clip:
    """Decode ``path`` (video file or image folder) as nerv-train sees it: cropped then resized ((H, W)
    tuples, HNeRV's ``--crop_list`` then ``--resize_list``) with the trainer's bicubic."""
    return video.load_video(path, crop, resize, max_frames, max_bytes, resize_fn=resize_bicubic)


def write_model(path: str | Path, loaded: LoadedModel) -> None:
    """Write ``loaded`` as the model.pt ``path``, atomically."""
    with atomic_open(path) as f:
        save_model(f, loaded)


def refuse_package(path: str | Path) -> None:
    """A ``.nvpkg`` given where a PyTorch checkpoint is expected is a one-line ``UserError``."""
    path = Path(path)
    if path.is_file():
        with path.open("rb") as f:
            if f.read(len(PACKAGE_MAGIC)) == PACKAGE_MAGIC:
                raise UserError(f"{path}: is an .nvpkg package, not a model.pt (nerv-play plays it; nerv-export "
                                "takes the model.pt it was made from)")


def read_model(path: str | Path, video_path: str | Path | None = None) -> LoadedModel:
    """Load a nervkit model.pt or an official checkpoint; ``video_path``: the video an official training
    checkpoint was trained on (read only for such a file)."""
    refuse_package(path)
    return load_model(path, None if video_path is None else lambda: load_video(video_path))
