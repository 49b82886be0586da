"""Import of the official HNeRV and SNeRV checkpoints, detected by content (never beyond ``weights_only``).

- HNeRV's and SNeRV's quantized "video checkpoint" ``quant_vid.pth`` (see ``shared/data/hnerv-official/
  README.md``): ``{"embed": Q, "model": {name: Q}}`` (SNeRV adds ``"norm": Q``, its LL ranges) with
  ``Q = {"quant": uint8, "min": fp16/fp32, "scale": fp16/fp32}`` and ``value = min + scale * quant``
  (broadcast);
- their fp32 training checkpoints ``model_latest.pth`` / ``model_best.pth``: ``{"state_dict": {name:
  tensor}, "epoch": ..., ...}`` (``module.``-prefixed when saved from DataParallel). They hold no
  embeddings: those are the encoder's output on the video the model was trained on, which must be given.

The architecture is inferred from the shapes alone (:func:`decoder_geometry`):

- each block's input channels give the widths (``decoder.0.conv.downconv.weight`` is the 1x1 stem);
- block i's conv ``[s_i^2 * c_{i+1}, c_i, k_i, k_i]`` gives its kernel, and its stride from the next
  block's input width ``c_{i+1}`` (the head's input for the last block): ``s_i^2 = out / c_{i+1}``;
- the frame size is the embedding grid ``(h, w) * prod(s_i)`` (SNeRV: times 2, the IDWT), or the video's.
"""

from __future__ import annotations

import math

import torch

from .checkpoint import LoadedModel, VideoInfo
from .errors import TrainerError
from .families.hnerv import HNeRV
from .official_snerv import is_snerv, snerv_config, snerv_model
from .skeleton import NeRVConfig

_FIRST = "decoder.0.conv.downconv.weight"


def dequantize(q: dict) -> torch.Tensor:
    """``min + scale * quant`` in float32, broadcasting ``min``/``scale`` over the quantized axis."""
    return q["min"].float() + q["scale"].float() * q["quant"].float()


def _quant(q) -> bool:
    return isinstance(q, dict) and {"quant", "min", "scale"} <= set(q) and all(
        isinstance(q[k], torch.Tensor) for k in ("quant", "min", "scale"))


def describe(obj) -> str:
    """What a loaded checkpoint looks like, for an error message."""
    if isinstance(obj, dict):
        keys = sorted(map(str, obj))
        return f"a dict with keys {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
    return f"a {type(obj).__name__}"


def load_official(obj, path, video=None) -> LoadedModel:
    """An official HNeRV or SNeRV checkpoint as a ``LoadedModel``; anything else is a one-line user error that
    says what the file holds. ``video``: a function returning the clip a training checkpoint was trained on
    (see ``load_model``)."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and _quant(obj.get("embed")):
        model = obj["model"]
        if _FIRST not in model or not all(_quant(q) for q in model.values()):
            raise TrainerError(f"{path}: a quantized checkpoint (embed, model) without an official HNeRV/SNeRV "
                            f"decoder ({_FIRST} and quant/min/scale records)")
        if is_snerv(model):
            if not _quant(obj.get("norm")):
                raise TrainerError(f"{path}: an official SNeRV quant_vid.pth without its 'norm' (LL ranges) record")
            return _snerv_quant_vid(obj)
        return _hnerv_quant_vid(obj)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = {k.removeprefix("module."): v for k, v in obj["state_dict"].items()}
        if _FIRST in state and all(isinstance(v, torch.Tensor) for v in state.values()):
            return _training_checkpoint(state, path, video)
        raise TrainerError(f"{path}: a training checkpoint (state_dict) of neither HNeRV nor SNeRV (no {_FIRST})")
    raise TrainerError(f"{path}: {describe(obj)}: neither a nervkit model.pt nor an official HNeRV/SNeRV "
                    "checkpoint (quant_vid.pth, model_latest.pth)")


def decoder_geometry(shapes: dict) -> tuple[list[int], list[int], list[int], int]:
    """(strides, kernels, widths, embedding channels) of an official decoder from its tensor shapes."""
    try:
        embed_dim = shapes[_FIRST][1]
        convs, i = [], 1
        while f"decoder.{i}.conv.upconv.0.weight" in shapes:
            convs.append(shapes[f"decoder.{i}.conv.upconv.0.weight"])
            i += 1
        head = shapes["head_layer.weight"]
    except (KeyError, IndexError) as err:
        raise TrainerError(f"official checkpoint is missing or has a malformed tensor ({err})") from None
    widths = [c[1] for c in convs] + [head[1]]
    strides, kernels = [], []
    for i, shape in enumerate(convs):
        ratio, rem = divmod(shape[0], widths[i + 1])
        s = math.isqrt(ratio)
        if rem or s * s != ratio:
            raise TrainerError(f"official checkpoint: block {i + 1} has {shape[0]} outputs, not a stride^2 "
                            f"multiple of the next block's {widths[i + 1]} inputs")
        strides.append(s)
        kernels.append(shape[2])
    if not convs:
        raise TrainerError("official checkpoint has no up-sampling blocks (decoder.1.conv.upconv.0.weight)")
    return strides, kernels, widths, embed_dim


def encoder_width(shapes: dict, first: str) -> int:
    """The encoder's width from its first patchify conv ``first`` ``[enc_dim, 3, s, s]`` (64 when the file
    has no encoder, as ``quant_vid.pth``: the default of every official run)."""
    return shapes[first][0] if first in shapes else 64


def _hnerv_config(geometry, frame_hw, shapes: dict) -> NeRVConfig:
    strides, kernels, widths, embed_dim = geometry
    return NeRVConfig(frame_hw=frame_hw, strides=strides, widths=widths, embed_dim=embed_dim,
                      ks=(kernels[0], max(kernels)),
                      enc_dim=encoder_width(shapes, "encoder.downsample_layers.0.0.weight"))


def _hnerv_model(config: NeRVConfig, state: dict) -> HNeRV:
    model = HNeRV(config)
    model.name = "hnerv"
    own = model.state_dict()
    for key, value in state.items():
        if key not in own:
            raise TrainerError(f"official checkpoint has a tensor {key!r} that HNeRV does not have")
        if value.shape != own[key].shape:
            raise TrainerError(f"official checkpoint tensor {key} has shape {tuple(value.shape)}, "
                            f"the inferred architecture wants {tuple(own[key].shape)}")
        own[key] = value.float()
    model.load_state_dict(own)
    return model


def _hnerv_quant_vid(obj: dict) -> LoadedModel:
    n, _, h, w = obj["embed"]["quant"].shape
    shapes = {k: tuple(q["quant"].shape) for k, q in obj["model"].items()}
    geometry = decoder_geometry(shapes)
    total = math.prod(geometry[0])
    model = _hnerv_model(_hnerv_config(geometry, (h * total, w * total), shapes),
                         {k: dequantize(q) for k, q in obj["model"].items()})
    video = VideoInfo(num_frames=n, height=h * total, width=w * total, source="official HNeRV checkpoint")
    return LoadedModel(model, video, {"embed": dequantize(obj["embed"])}, None, quantized=obj)


def _snerv_quant_vid(obj: dict) -> LoadedModel:
    embed = dequantize(obj["embed"])
    n, _, h, w = embed.shape
    norm = dequantize(obj["norm"])
    if norm.numel() != 2 * n:
        raise TrainerError(f"official SNeRV quant_vid.pth: 'norm' holds {norm.numel()} values, not 2 per frame "
                        f"for its {n} embeddings")
    shapes = {k: tuple(q["quant"].shape) for k, q in obj["model"].items()}
    model = snerv_model(snerv_config(shapes, decoder_geometry(shapes), (h, w)),
                        {k: dequantize(q) for k, q in obj["model"].items()})
    fh, fw = model.config.frame_hw
    video = VideoInfo(num_frames=n, height=fh, width=fw, source="official SNeRV checkpoint")
    return LoadedModel(model, video, {"embed": embed, "ll_range": norm.reshape(n, 2)})


def _training_checkpoint(state: dict, path, video) -> LoadedModel:
    family = "SNeRV" if is_snerv(state) else "HNeRV"
    if video is None:
        raise TrainerError(f"{path}: an official {family} training checkpoint (model_*.pth: weights, no "
                        "embeddings): give the video it was trained on with --video")
    from .train import evaluate_embeddings

    clip = video()
    n, fh, fw, _ = clip.frames.shape
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    geometry = decoder_geometry(shapes)
    total = math.prod(geometry[0]) * (2 if family == "SNeRV" else 1)
    if fh % total or fw % total:
        raise TrainerError(f"{clip.source}: {fh}x{fw} frames are not a multiple of the checkpoint's {total}x "
                           "up-sampling (use the frames it was trained on)")
    if family == "SNeRV":
        model = snerv_model(snerv_config(shapes, geometry, (fh // total, fw // total)), state)
    else:
        model = _hnerv_model(_hnerv_config(geometry, (fh, fw), shapes), state)
    embeddings = evaluate_embeddings(model, torch.from_numpy(clip.frames))
    info = VideoInfo(num_frames=n, height=fh, width=fw, fps=clip.fps, source=clip.source)
    return LoadedModel(model, info, embeddings)
