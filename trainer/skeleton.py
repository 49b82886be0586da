"""The one model skeleton every family specialises: HNeRV's geometry, encoder, 1x1 stem and budget fit.

Every family keeps HNeRV's frame-level design (Chen et al. 2023): a ConvNeXt encoder down-sampling by
``P = prod(strides)`` to a per-frame embedding, a 1x1 conv "stem" widening it to ``widths[0]`` channels,
then one up-sampling stage per stride, ``widths[i] -> widths[i + 1]`` with kernels ``min(ks0 + 2 i, cap)``.
A family subclasses :class:`NeRVSkeleton` and changes only what its paper changes: the stage blocks, the
head, an encoder of its own input (SNeRV's LL band, HFE's detail bands), extra per-frame inputs, the loss.

Sizing is the one budget search :func:`sizing.fit_budget` over the family's ``budget_knobs`` (default: a
base width setting every width by HNeRV's rule, then ``widths[1]`` and ``widths[0]`` alone, each a finer
step), counted on the real module by :func:`sizing.model_budget`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import NeRVModel
from .layers import ConvNeXtEncoder, DownConv, NeRVBlock, UpConv
from .sizing import Knob, base_width, channel_widths, fit_budget, kernel_sizes, stage_width, strides_for

REDUCE = 1.2
"""HNeRV's channel reduction per stage (``--reduce``)."""
LOWER_WIDTH = 12
"""HNeRV's smallest stage width (``--lower_width``)."""


@dataclass
class NeRVConfig:
    """Geometry every family shares; a family's config subclasses it and adds its own fields after these."""

    frame_hw: tuple[int, int]
    """Output frame size (H, W) in pixels."""
    strides: list[int]
    """Decoder up-sampling strides; the encoder down-samples by the same (HNeRV's fc_h = fc_w = 1)."""
    widths: list[int]
    """Channels after the 1x1 stem (``widths[0]``, HNeRV's ``fc_dim``, SNeRV's ``C0``) and after each stage."""
    embed_dim: int = 16
    """Embedding channels per frame (HNeRV's ``--enc_dim 64_16``)."""
    enc_dim: int = 64
    """Encoder width of every stage but the last."""
    ks: tuple[int, int] = (1, 5)
    """Up-sampling conv kernels: first stage and cap, ``min(ks0 + 2 i, cap)`` = 1,3,5,5,5 (``--ks 0_1_5``)."""

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


class NeRVSkeleton(NeRVModel):
    """HNeRV's encoder on the frames; subclasses build the decoder from :func:`stem` and ``stage_specs``.

    ``encode``: frames ``[N, 3, H, W]`` -> ``{"embed": [N, embed_dim, H/P, W/P]}``.
    """

    config_cls: ClassVar[type] = NeRVConfig
    budget_knobs: ClassVar[Sequence[Knob]] = (base_width(), stage_width(1), stage_width(0))
    """The knobs :meth:`for_video` fits, in order."""
    budget_tolerance: ClassVar[float | None] = 0.02
    """Largest relative miss of the fitted count; a budget the knobs cannot reach is a user error."""

    def __init__(self, config: NeRVConfig):
        super().__init__(config)
        self.encoder = self.build_encoder(config)

    def build_encoder(self, c: NeRVConfig) -> nn.Module:
        """HNeRV's ConvNeXt encoder: ``[N, 3, H, W] -> [N, embed_dim, H/P, W/P]``."""
        return ConvNeXtEncoder(c.strides, [c.enc_dim] * (len(c.strides) - 1) + [c.embed_dim])

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embed": self.encoder(frames)}

    @classmethod
    def strides_for(cls, frame_hw: tuple[int, int], min_embed: int = 2) -> list[int]:
        """Decoder strides for frames of ``frame_hw`` (families that decode a sub-band override this)."""
        return strides_for(frame_hw, min_embed)

    @classmethod
    def for_video(cls, frame_hw, num_frames: int, size: float, **fields) -> NeRVConfig:
        """The config whose exact count (decoder + per-frame inputs) is closest to ``size`` M parameters."""
        strides = cls.strides_for(frame_hw)
        start = cls.config_cls(frame_hw=frame_hw, strides=strides, widths=[16] * (len(strides) + 1), **fields)
        return fit_budget(cls, start, num_frames, size, cls.budget_knobs, cls.budget_tolerance)

    @classmethod
    def tiny_config(cls, frame_hw, num_frames: int, size=None, *, min_embed: int = 2, **fields) -> NeRVConfig:
        """The ``test-*`` variant's config: widths 16,13,11,9,8,8, an 8-channel embedding, kernels 1,3,3.

        ``fields`` override family defaults that make no sense on tiny frames (e.g. a cutoff in pixels).
        """
        return cls.config_cls(frame_hw=frame_hw, strides=cls.strides_for(frame_hw, min_embed),
                              widths=channel_widths(16, REDUCE, 8), embed_dim=8, enc_dim=16, ks=(1, 3), **fields)


def stem(c: NeRVConfig) -> NeRVBlock:
    """HNeRV's first decoder block, ``GELU(conv1x1)``: ``[N, embed_dim, h, w] -> [N, widths[0], h, w]``."""
    return NeRVBlock(DownConv(c.embed_dim, c.widths[0]))


def up_blocks(c: NeRVConfig) -> list[NeRVBlock]:
    """HNeRV's up-sampling blocks ``GELU(PixelShuffle(conv_k(x), s))``, one per stage."""
    return [NeRVBlock(UpConv(*spec)) for spec in c.stage_specs()]
