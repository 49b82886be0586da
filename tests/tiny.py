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


def tiny_tds(path, frames: int = 11, hw=(32, 64), fusion: str = "mtsa", base: str = "x264", seed: int = 0,
             crf: int = 28):
    """A ``tds.pt`` at ``path`` without training: ``test-tds``'s enhancer (``seed``, non-zero offset convs so
    the deformable sampling is exercised) and ``frames`` smooth moving frames coded by ``base`` at
    GOP 5, scale 2, ``crf``; returns ``path``. Needs PyAV."""
    import numpy as np

    from nervkit.export import tds_files, tds_streams
    from nervkit.trainer.tds.enhancer import Enhancer, config_for

    torch.manual_seed(seed)
    enhancer = Enhancer(config_for("test", fusion)).eval()
    for m in enhancer.modules():
        if hasattr(m, "conv_offset"):
            torch.nn.init.normal_(m.conv_offset.weight, std=0.1)
    yy, xx = np.mgrid[0:hw[0], 0:hw[1]]
    video = np.stack([np.stack([128 + 60 * np.sin((xx + 2 * t) / 9), 128 + 60 * np.cos((yy + t) / 7),
                                128 + 40 * np.sin((xx + yy) / 11)], -1) for t in range(frames)]).round()
    streams = tds_streams.code(video.astype(np.uint8), tds_streams.make_layout(frames, *hw, 5, 2), base, crf)
    tds_files.save(path, tds_files.TDSCheckpoint("test-tds", streams, 25.0, enhancer, False, None, {}))
    return path
