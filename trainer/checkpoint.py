"""``model.pt``: tensors plus plain JSON-able config, loadable with ``torch.load(weights_only=True)``.

Layout of the saved dict (format version 1)::

    {"format": "nervkit-model", "version": 1,
     "family": "hnerv", "config": {...family config...},
     "video": {...VideoInfo...},
     "state_dict": {name: tensor},
     "embeddings": {embed_name: tensor [N, ...]}   # encoder output for every frame, float32
     "train": {"epoch": k, "epochs": E, "optimizer": ..., "rng": ..., "history": [...], "args": {...}}}

``train`` is what ``--resume`` needs; it is ``None`` for imported checkpoints. :func:`save_model` writes
to the file object it is given: the tools give it an atomic temporary file (``nervkit.export.files``), so
a model.pt is never half-written.
"""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .base import NeRVModel
from .errors import TrainerError
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


def save_model(f, loaded: LoadedModel) -> None:
    """Write ``loaded`` as a model.pt to ``f`` (a binary file object or a path)."""
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
    torch.save(obj, f)


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with user-facing errors for missing or non-checkpoint files."""
    path = Path(path)
    if path.is_dir():
        raise TrainerError(f"{path}: is a folder, not a model.pt")
    if not path.is_file():
        raise TrainerError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise TrainerError(f"{path}: not a PyTorch checkpoint (model.pt files are zip archives)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainerError(f"{path}: holds Python objects other than tensors and plain data; nervkit never "
                        "unpickles those") from None
    except Exception as err:  # torch raises many types for a bad file; all mean the same to a user
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TrainerError(f"{path}: not a loadable PyTorch checkpoint ({first[:200]})") from None


def load_model(path: str | Path, video: Callable[[], object] | None = None) -> LoadedModel:
    """Load a nervkit ``model.pt`` or an official HNeRV/SNeRV checkpoint (detected by content; ``official.py``).

    ``video``: for an official training checkpoint (``model_latest.pth``), a function returning the clip it
    was trained on (``frames`` uint8 ``[N, H, W, 3]``, ``fps``, ``source``), whose frames its encoder turns
    into the embeddings; called only for such a file."""
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _from_nervkit(path, obj)
    from .official import load_official

    return load_official(obj, path, video)


def _from_nervkit(path, obj: dict) -> LoadedModel:
    if obj.get("version") != VERSION:
        raise TrainerError(f"{path}: model.pt version {obj.get('version')} is not supported (want {VERSION})")
    try:
        state = obj["state_dict"]
        held = sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))
        model = model_from_config(obj["family"], obj["config"], max_values=held)
        model.load_state_dict(state)
        video = VideoInfo(**obj["video"])
        embeddings = dict(obj["embeddings"])
    except TrainerError:
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise TrainerError(f"{path}: damaged model.pt ({str(err).splitlines()[0][:200]})") from None
    if set(embeddings) != set(model.embed_names) or any(
            not isinstance(v, torch.Tensor) or v.ndim < 1 or v.shape[0] != video.num_frames
            for v in embeddings.values()):
        raise TrainerError(f"{path}: damaged model.pt (its embeddings are not {', '.join(model.embed_names)} with "
                        f"{video.num_frames} frames each, as its video says)")
    return LoadedModel(model, video, embeddings, obj.get("train"))
