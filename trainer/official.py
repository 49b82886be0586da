"""Import of the official HNeRV quantized "video checkpoint" (``quant_vid.pth``).

Its layout (see ``shared/data/hnerv-official/README.md``): ``{"embed": Q, "model": {name: Q}}`` with
``Q = {"quant": uint8, "min": fp16/fp32, "scale": fp16/fp32}`` and ``value = min + scale * quant``
(broadcast). The architecture is inferred from the shapes alone:

- embedding ``[N, C, h, w]`` gives the frame count and embedding channels;
- each block's input channels give the widths (``decoder.0.conv.downconv.weight`` is the 1x1 stem);
- block i's conv ``[s_i^2 * c_{i+1}, c_i, k_i, k_i]`` gives its kernel, and its stride from the next
  block's input width ``c_{i+1}`` (the head's input for the last block): ``s_i^2 = out / c_{i+1}``;
- the frame size is ``(h, w) * prod(s_i)``.
"""

from __future__ import annotations

import math

import torch

from ..runtime.errors import UserError
from .checkpoint import LoadedModel, VideoInfo
from .families.hnerv import HNeRV
from .skeleton import NeRVConfig

_FIRST = "decoder.0.conv.downconv.weight"


def is_official_checkpoint(obj) -> bool:
    return (isinstance(obj, dict) and set(obj) >= {"embed", "model"} and isinstance(obj["model"], dict)
            and _FIRST in obj["model"] and isinstance(obj["embed"], dict) and "quant" in obj["embed"])


def dequantize(q: dict) -> torch.Tensor:
    """``min + scale * quant`` in float32, broadcasting ``min``/``scale`` over the quantized axis."""
    return q["min"].float() + q["scale"].float() * q["quant"].float()


def infer_config(obj: dict) -> tuple[NeRVConfig, int]:
    """Architecture of an official checkpoint from its tensor shapes; returns (config, frame count)."""
    model = obj["model"]
    try:
        n, embed_dim, h, w = obj["embed"]["quant"].shape
        convs, i = [], 1
        while f"decoder.{i}.conv.upconv.0.weight" in model:
            convs.append(model[f"decoder.{i}.conv.upconv.0.weight"]["quant"].shape)
            i += 1
        head = model["head_layer.weight"]["quant"].shape
    except (KeyError, ValueError, AttributeError) as err:
        raise UserError(f"official HNeRV checkpoint is missing or has a malformed tensor ({err})") from None
    in_widths = [c[1] for c in convs] + [head[1]]
    strides, kernels = [], []
    for i, shape in enumerate(convs):
        ratio, rem = divmod(shape[0], in_widths[i + 1])
        s = math.isqrt(ratio)
        if rem or s * s != ratio:
            raise UserError(f"official checkpoint: block {i + 1} has {shape[0]} outputs, not a stride^2 "
                            f"multiple of the next block's {in_widths[i + 1]} inputs")
        strides.append(s)
        kernels.append(shape[2])
    total = math.prod(strides)
    config = NeRVConfig(frame_hw=(h * total, w * total), strides=strides, widths=in_widths,
                        embed_dim=embed_dim, ks=(kernels[0], max(kernels)))
    return config, n


def official_to_loaded(obj: dict, fps: float = 24.0) -> LoadedModel:
    """Dequantize an official checkpoint into an HNeRV model, its embeddings and video info."""
    config, n = infer_config(obj)
    model = HNeRV(config)
    model.name = "hnerv"
    state = model.state_dict()
    for key, q in obj["model"].items():
        if key not in state:
            raise UserError(f"official checkpoint has a tensor {key!r} that HNeRV does not have")
        value = dequantize(q)
        if value.shape != state[key].shape:
            raise UserError(f"official checkpoint tensor {key} has shape {tuple(value.shape)}, "
                            f"the inferred architecture wants {tuple(state[key].shape)}")
        state[key] = value
    model.load_state_dict(state)
    h, w = config.frame_hw
    video = VideoInfo(num_frames=n, height=h, width=w, fps=fps, source="official HNeRV checkpoint")
    return LoadedModel(model, video, {"embed": dequantize(obj["embed"])}, None, quantized=obj)
