"""What the HNeRV-derived families with fitted widths share: geometry config, budget fit, encoder + stem.

HFS-HNeRV and CF-NeRV keep HNeRV's ConvNeXt encoder, its embedding contract (``embed_names =
("embed",)``, ``[N, embed_dim, H/P, W/P]`` with ``P = prod(strides)``) and its first 1x1 conv block, and
change only the up-sampling stages. Their attention modules add parameters, so HNeRV's closed-form
``fc_dim`` rule no longer gives the budget; instead the widths are fitted to an exact parameter count
(decoder + embeddings, the papers' convention) measured on a model built on the meta device, so the
count can never drift from the architecture.

Fit (three bisections with :func:`sizing.fit_width`, each keeping the closest exact count):

1. a base width ``c`` sets every width by HNeRV's rule ``channel_widths(c, 1.2, 12)``, the papers'
   "reduce the channels of all layers" to pay for the attention. One step of ``c`` moves the count by
   about ``2 / c`` of the budget (6 % at 0.35 M), too coarse for a 2 % target;
2. ``widths[1]`` alone is re-fitted (one channel is about 1 % of the budget at 0.35 M, less above);
3. ``widths[0]`` (the 1x1 stem's output, HNeRV's ``fc_dim``) alone is re-fitted: one channel is about
   ``widths[1] * s_1^2`` parameters (0.2 %). Each stage moves its width by a few channels only, so the
   decoder keeps HNeRV's shape and lands within a fraction of a percent of the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..runtime.errors import UserError
from .base import NeRVModel
from .layers import ConvNeXtEncoder, DownConv, NeRVBlock
from .sizing import channel_widths, fit_width, kernel_sizes, strides_for

REDUCE = 1.2
"""HNeRV's channel reduction per stage, used to shape the fitted widths."""
LOWER_WIDTH = 12
"""HNeRV's smallest stage width, used to shape the fitted widths."""
BUDGET_TOLERANCE = 0.02
"""Largest relative miss of the fitted count; a budget the widths cannot reach is a user error."""


@dataclass
class HybridConfig:
    """Geometry shared by the width-fitted hybrid families (subclassed per family)."""

    frame_hw: tuple[int, int]
    """Output frame size (H, W) in pixels."""
    strides: list[int]
    """Decoder up-sampling strides; the encoder down-samples by the same."""
    widths: list[int]
    """Channels after the 1x1 stem (``widths[0]``, HNeRV's ``fc_dim``) and after each up-sampling stage."""
    embed_dim: int = 16
    """Embedding channels per frame (HNeRV's ``--enc_dim 64_16``)."""
    enc_dim: int = 64
    """Encoder width of every stage but the last."""
    ks: tuple[int, int] = (1, 5)
    """Up-sampling conv kernels: first stage and cap, ``min(ks0 + 2 i, cap)`` = 1,3,5,5,5 (HNeRV)."""

    def __post_init__(self):
        self.frame_hw = tuple(self.frame_hw)
        self.strides = list(self.strides)
        self.widths = list(self.widths)
        self.ks = tuple(self.ks)
        if len(self.widths) != len(self.strides) + 1:
            raise ValueError(f"need {len(self.strides) + 1} widths for {len(self.strides)} strides")

    def stage_specs(self) -> list[tuple[int, int, int, int]]:
        """``(in_channels, out_channels, kernel, stride)`` of each up-sampling stage."""
        kernels = kernel_sizes(self.ks[0], self.ks[1], len(self.strides))
        return list(zip(self.widths[:-1], self.widths[1:], kernels, self.strides, strict=True))

    @classmethod
    def fit_budget(cls, model_cls: type, frame_hw, num_frames: int, size: float, **fields) -> HybridConfig:
        """The config of ``model_cls`` with HNeRV geometry whose exact count is closest to ``size`` M."""
        strides = strides_for(frame_hw)
        target = int(round(size * 1e6))

        def build(widths: list[int]) -> HybridConfig:
            return cls(frame_hw=frame_hw, strides=strides, widths=widths, **fields)

        def count(widths: list[int]) -> int:
            return budget_parameters(model_cls, build(widths), num_frames)

        base = fit_width(lambda c: count(channel_widths(c, REDUCE, LOWER_WIDTH, len(strides))), target)
        widths = channel_widths(base, REDUCE, LOWER_WIDTH, len(strides))
        for i in (1, 0):
            widths[i] = fit_width(lambda v, i=i: count(widths[:i] + [v] + widths[i + 1:]), target)
        got = count(widths)
        if abs(got - target) > BUDGET_TOLERANCE * target:
            raise UserError(f"--size {size}M cannot be met at {frame_hw[0]}x{frame_hw[1]} with {num_frames} "
                            f"frames: the closest {model_cls.__name__} has {got / 1e6:.3f}M parameters")
        return build(widths)


def embedding_parameters(config: HybridConfig, num_frames: int) -> int:
    """Embedding values stored for the whole video: ``num_frames * embed_dim * (H/P) * (W/P)``."""
    total = int(np.prod(config.strides))
    h, w = config.frame_hw
    return num_frames * config.embed_dim * (h // total) * (w // total)


def budget_parameters(model_cls: type, config: HybridConfig, num_frames: int) -> int:
    """Exact model size in the papers' sense (decoder + embeddings), built on the meta device (no memory)."""
    with torch.device("meta"):
        model = model_cls(config)
    return model.decoder_parameters() + embedding_parameters(config, num_frames)


class HybridModel(NeRVModel):
    """HNeRV's encoder and 1x1 stem; subclasses add ``stages`` and the output head.

    ``encode``: frames ``[N, 3, H, W]`` -> ``{"embed": [N, embed_dim, H/P, W/P]}``.
    ``stem``: ``[N, embed_dim, h, w] -> [N, widths[0], h, w]``, ``GELU(conv1x1)`` as in HNeRV.
    """

    def __init__(self, config: HybridConfig):
        super().__init__(config)
        c = config
        n = len(c.strides)
        self.encoder = ConvNeXtEncoder(c.strides, [c.enc_dim] * (n - 1) + [c.embed_dim])
        self.stem = NeRVBlock(DownConv(c.embed_dim, c.widths[0]))

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embed": self.encoder(frames)}


def tiny_config(cls: type, **fields) -> Callable[..., HybridConfig]:
    """``make_config`` of a ``test-*`` variant: widths 16,13,11,9,8,8, embedding of 8 channels, kernels 1,3,3.

    ``fields`` override family defaults that make no sense on tiny frames (e.g. a cutoff in pixels).
    """

    def make(frame_hw, num_frames: int, size=None) -> HybridConfig:
        return cls(frame_hw=frame_hw, strides=strides_for(frame_hw), widths=channel_widths(16, REDUCE, 8),
                   embed_dim=8, enc_dim=16, ks=(1, 3), **fields)

    return make


def conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    """``nn.Conv2d`` with 'same' padding ``dilation * (k - 1) // 2`` for an odd ``kernel``."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                     groups=groups)
