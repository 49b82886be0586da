"""Import of the official SNeRV code's checkpoints (``qwertja/SNeRV``, ``train_snerv.py``).

Two files, detected by content (:func:`official.load_official`):

- ``quant_vid.pth``: ``{"embed": Q, "norm": Q, "model": {name: Q}}`` with ``Q = {"quant": uint8, "min",
  "scale"}`` (``value = min + scale * quant``, broadcast), the decoder without the encoder; ``embed`` is the
  ``[N, 16, h, w]`` embedding, ``norm`` the LL minimum and maximum of every frame, flat ``[2 N]``;
- ``model_latest.pth`` / ``model_best.pth`` / ``epochN.pth``: ``{"state_dict": {name: tensor}, ...}``, the
  fp32 encoder and decoder (embeddings come from running the encoder on the video).

The official names are those of ``SNeRV`` (``model/snerv.py``): ``decoder.0`` the stem, ``decoder.1..5`` the
UBs, ``decoder.6..8`` the HFR blocks (``conv1``, ``conv2``), ``decoder.9``/``11`` the MFBs' transposed convs,
``decoder.10``/``12`` their residual groups (``main.0`` and ``main.1.k.conv1/conv2``), ``head_layer``, and
``encoder.0`` the DBs. The architecture is inferred from the shapes (:func:`official.decoder_geometry`).
"""

from __future__ import annotations

import math
import re

import torch

from .errors import TrainerError
from .families.snerv import SNeRV, SNeRVConfig

_UBS = 5
"""UBs of the official SNeRV decoder (``decoder.1..5``); the HFR blocks follow at ``decoder.6``."""


def is_snerv(names) -> bool:
    """Whether official state names are SNeRV's (an HFR block where HNeRV has none)."""
    return f"decoder.{_UBS + 1}.conv1.weight" in names


def nervkit_name(key: str) -> str:
    """The nervkit ``SNeRV`` parameter name of an official one (``decoder.10.main.1.2.conv1.weight`` ->
    ``mfbs.0.fuse.3.conv1.weight``); a name the official SNeRV does not have is a user error."""
    m = re.fullmatch(r"encoder\.0\.(.+)", key)
    if m:
        return f"encoder.stages.{m[1]}"
    m = re.fullmatch(r"head_layer\.(weight|bias)", key)
    if m:
        return f"head.{m[1]}"
    m = re.fullmatch(r"decoder\.(\d+)\.(.+)", key)
    if m:
        i, rest = int(m[1]), m[2]
        if i == 0:
            return f"stem.{rest}"
        if i <= _UBS:
            return f"ubs.{i - 1}.{rest}"
        hfr = re.fullmatch(r"conv([12])\.(weight|bias)", rest)
        if i <= _UBS + 3 and hfr:
            return f"hfr.{i - _UBS - 1}.{2 * (int(hfr[1]) - 1)}.{hfr[2]}"
        mfb, part = divmod(i - _UBS - 4, 2)
        if mfb in (0, 1) and part == 0 and rest in ("weight", "bias"):
            return f"mfbs.{mfb}.up.{rest}"
        group = re.fullmatch(r"main\.(0|1\.(\d+))\.(.+)", rest)
        if mfb in (0, 1) and part == 1 and group:
            return f"mfbs.{mfb}.fuse.{0 if group[2] is None else int(group[2]) + 1}.{group[3]}"
    raise TrainerError(f"official SNeRV checkpoint has a tensor {key!r} that SNeRV does not have")


def snerv_config(shapes: dict, geometry, ll_hw: tuple[int, int]) -> SNeRVConfig:
    """SNeRV's config from official tensor shapes; ``ll_hw`` is the embedding grid ``(h, w)``."""
    strides, kernels, widths, embed_dim = geometry
    n_rb = sum(1 for k in shapes if re.fullmatch(rf"decoder\.{_UBS + 5}\.main\.1\.\d+\.conv1\.weight", k))
    total = 2 * math.prod(strides)
    enc_dim = shapes["encoder.0.downsample_layers.0.0.weight"][0] if "encoder.0.downsample_layers.0.0.weight" in \
        shapes else 64
    return SNeRVConfig(frame_hw=(ll_hw[0] * total, ll_hw[1] * total), strides=strides, widths=widths,
                       embed_dim=embed_dim, ks=(kernels[0], max(kernels)), num_res_blocks=n_rb, enc_dim=enc_dim)


def snerv_model(config: SNeRVConfig, state: dict[str, torch.Tensor]) -> SNeRV:
    """``SNeRV(config)`` holding the official ``state`` (official names; the encoder's may be absent)."""
    model = SNeRV(config)
    model.name = "snerv"
    own = model.state_dict()
    for key, value in state.items():
        name = nervkit_name(key)
        if own[name].shape != value.shape:
            raise TrainerError(f"official SNeRV tensor {key} has shape {tuple(value.shape)}, the inferred "
                            f"architecture wants {tuple(own[name].shape)}")
        own[name] = value.float()
    model.load_state_dict(own)
    return model
