"""A random-weight tiny model with its embeddings: what most export, runtime and player tests start from."""

import torch

from nervkit.trainer.checkpoint import LoadedModel, VideoInfo, save_model
from nervkit.trainer.registry import create_model


def tiny_loaded(name: str = "test-hnerv", frames: int = 4, hw=(32, 64), fps: float = 25.0) -> LoadedModel:
    """``name``'s tiny variant (seed 0) and its encoder's output for ``frames`` random frames of ``hw``."""
    torch.manual_seed(0)
    model = create_model(name, hw, frames).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(torch.rand(frames, 3, *hw)))
    return LoadedModel(model, VideoInfo(frames, *hw, fps=fps), embeds)


def tiny_model_pt(path, **kwargs):
    """:func:`tiny_loaded` saved as a ``model.pt`` at ``path``; returns ``path``."""
    save_model(path, tiny_loaded(**kwargs))
    return path
