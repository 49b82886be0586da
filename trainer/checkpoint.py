"""``model.pt``: tensors plus plain JSON-able config, loadable with ``torch.load(weights_only=True)``.

Layout of the saved dict (format version 1)::

    {"format": "nervkit-model", "version": 1,
     "family": "hnerv", "config": {...family config...},
     "video": {...VideoInfo...},
     "state_dict": {name: tensor},
     "embeddings": {embed_name: tensor [N, ...]}   # encoder output for every frame, float32
     "train": {"epoch": k, "epochs": E, "optimizer": ..., "rng": ..., "history": [...], "args": {...}}}

``train`` is what ``--resume`` needs; it is ``None`` for imported checkpoints. Writes are atomic:
a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..runtime.atomic import atomic_open
from ..runtime.container import MAGIC as PACKAGE_MAGIC
from ..runtime.errors import UserError
from .base import NeRVModel
from .registry import config_to_dict, model_from_config

FORMAT = "nervkit-model"
VERSION = 1


@dataclass
class VideoInfo:
    """What the model represents: frame count, size in pixels, frame rate, and how it was made."""

    num_frames: int
    height: int
    width: int
    fps: float = 24.0
    source: str = ""
    """Path of the input video or frame folder (empty when unknown)."""
    crop: tuple[int, int] | None = None
    """Center crop (H, W) applied before ``resize``."""
    resize: tuple[int, int] | None = None
    """Bicubic resize (H, W) applied after ``crop``."""


@dataclass
class LoadedModel:
    """A model with everything needed to decode its video."""

    model: NeRVModel
    video: VideoInfo
    embeddings: dict[str, torch.Tensor]
    """Per-frame decoder inputs, keyed by ``model.embed_names``; each ``[num_frames, ...]``."""
    train: dict | None = None
    quantized: dict | None = field(default=None, repr=False)
    """For imported quantized checkpoints: the original integer codes (``{"embed": ..., "model": ...}``)."""


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then rename: never a half-written file."""
    with atomic_open(path) as f:
        torch.save(obj, f)


def save_model(path: str | Path, loaded: LoadedModel) -> None:
    model = loaded.model
    obj = {
        "format": FORMAT,
        "version": VERSION,
        "family": model.name,
        "config": config_to_dict(model.config),
        "video": dataclasses.asdict(loaded.video),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "embeddings": {k: v.detach().float().cpu() for k, v in loaded.embeddings.items()},
        "train": loaded.train,
    }
    atomic_torch_save(obj, path)


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with user-facing errors for missing or non-checkpoint files."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a model.pt")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(8)
    if head == PACKAGE_MAGIC:
        raise UserError(f"{path}: is an .nvpkg package, not a model.pt (nerv-play plays it; nerv-export "
                        "takes the model.pt it was made from)")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a PyTorch checkpoint (model.pt files are zip archives)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path}: holds Python objects other than tensors and plain data; nervkit never "
                        "unpickles those") from None
    except Exception as err:  # torch raises many types for a bad file; all mean the same to a user
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a loadable PyTorch checkpoint ({first[:200]})") from None


def load_model(path: str | Path, video: str | Path | None = None) -> LoadedModel:
    """Load a nervkit ``model.pt`` or an official HNeRV/SNeRV checkpoint (detected by content; ``official.py``).

    ``video``: the clip an official training checkpoint (``model_latest.pth``) was trained on, whose frames
    its encoder turns into the embeddings; unused for every other file."""
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _from_nervkit(path, obj)
    from .official import load_official

    return load_official(obj, path, video)


def _from_nervkit(path, obj: dict) -> LoadedModel:
    if obj.get("version") != VERSION:
        raise UserError(f"{path}: model.pt version {obj.get('version')} is not supported (want {VERSION})")
    try:
        state = obj["state_dict"]
        held = sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))
        model = model_from_config(obj["family"], obj["config"], max_values=held)
        model.load_state_dict(state)
        video = VideoInfo(**obj["video"])
        embeddings = dict(obj["embeddings"])
    except UserError:
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise UserError(f"{path}: damaged model.pt ({str(err).splitlines()[0][:200]})") from None
    if set(embeddings) != set(model.embed_names) or any(
            not isinstance(v, torch.Tensor) or v.ndim < 1 or v.shape[0] != video.num_frames
            for v in embeddings.values()):
        raise UserError(f"{path}: damaged model.pt (its embeddings are not {', '.join(model.embed_names)} with "
                        f"{video.num_frames} frames each, as its video says)")
    return LoadedModel(model, video, embeddings, obj.get("train"))
