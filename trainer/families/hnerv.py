"""HNeRV (Chen et al., CVPR 2023), faithful to the official code.

Encoder: ConvNeXt with one patchify stage per decoder stride (dims 64 ... 64, 16), giving a per-frame
embedding ``[N, 16, H/P, W/P]`` with ``P = prod(strides)``. Decoder: a 1x1 conv to ``fc_dim`` channels,
then five NeRV blocks ``GELU(PixelShuffle(conv_k(x), s))`` with kernels 1,3,5,5,5 and widths shrinking
by ``reduce`` = 1.2 (never below ``lower_width`` = 12), then a 3x3 head and ``tanh(x)/2 + 1/2``.
No normalisation layers. Parameter names match the official state dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..base import NeRVModel
from ..layers import ConvNeXtEncoder, DownConv, NeRVBlock, UpConv, out_image
from ..registry import register_model
from ..sizing import channel_widths, hnerv_fc_dim, kernel_sizes, strides_for


@dataclass
class HNeRVConfig:
    """HNeRV's geometry. SNeRV and HFE-HNeRV subclass it and add their own fields (after these)."""

    frame_hw: tuple[int, int]
    """Output frame size (H, W) in pixels."""
    strides: list[int]
    """Decoder up-sampling strides; the encoder down-samples by the same (HNeRV's fc_h = fc_w = 1)."""
    fc_dim: int
    """Channels after the first 1x1 conv; set from the parameter budget by the family's ``for_video``
    (HNeRV: the official closed-form rule)."""
    embed_dim: int = 16
    """Embedding channels per frame (``--enc_dim 64_16``)."""
    enc_dim: int = 64
    """Encoder width of every stage but the last."""
    ks: tuple[int, int] = (1, 5)
    """Decoder kernel sizes: first stage and cap (``--ks 0_1_5``)."""
    reduce: float = 1.2
    """Channel reduction per stage."""
    lower_width: int = 12
    """Smallest channel width of a stage."""

    def __post_init__(self):
        self.frame_hw = tuple(self.frame_hw)
        self.ks = tuple(self.ks)
        self.strides = list(self.strides)

    @classmethod
    def for_video(cls, frame_hw, num_frames: int, size: float) -> HNeRVConfig:
        strides = strides_for(frame_hw)
        fc = hnerv_fc_dim(size, frame_hw, num_frames, strides, 16, (1, 5), 1.2)
        return cls(frame_hw=frame_hw, strides=strides, fc_dim=fc)


def tiny_hnerv(frame_hw, num_frames: int, size=None) -> HNeRVConfig:
    """``test-hnerv``: 16 channels, embedding of 8 channels; trains in seconds on a CPU."""
    return HNeRVConfig(frame_hw=frame_hw, strides=strides_for(frame_hw), fc_dim=16, embed_dim=8,
                       enc_dim=16, ks=(1, 3), reduce=1.2, lower_width=8)


@register_model("test-hnerv", make_config=tiny_hnerv, default_size=None)
@register_model("hnerv")
class HNeRV(NeRVModel):
    """HNeRV. ``encode``: frames ``[N,3,H,W]`` -> ``{"embed": [N, embed_dim, H/P, W/P]}``."""

    config_cls = HNeRVConfig

    def __init__(self, config: HNeRVConfig):
        super().__init__(config)
        c = config
        n = len(c.strides)
        self.encoder = ConvNeXtEncoder(c.strides, [c.enc_dim] * (n - 1) + [c.embed_dim])
        widths = channel_widths(c.fc_dim, c.reduce, c.lower_width, n)
        kernels = kernel_sizes(c.ks[0], c.ks[1], n)
        layers = [NeRVBlock(DownConv(c.embed_dim, c.fc_dim))]
        for i, s in enumerate(c.strides):
            layers.append(NeRVBlock(UpConv(widths[i], widths[i + 1], kernels[i], s)))
        self.decoder = nn.ModuleList(layers)
        self.head_layer = nn.Conv2d(widths[-1], 3, 3, 1, 1)

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embed": self.encoder(frames)}

    def decode(self, embed: torch.Tensor) -> torch.Tensor:
        x = embed
        for layer in self.decoder:
            x = layer(x)
        return out_image(self.head_layer(x))
