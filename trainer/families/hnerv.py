"""HNeRV (Chen et al., CVPR 2023), faithful to the official code.

The skeleton itself (``trainer/skeleton.py``). Encoder: ConvNeXt with one patchify stage per decoder stride
(dims 64 ... 64, 16), giving a per-frame embedding ``[N, 16, H/P, W/P]`` with ``P = prod(strides)``.
Decoder: a 1x1 conv to ``fc_dim`` = ``widths[0]`` channels,
then five NeRV blocks ``GELU(PixelShuffle(conv_k(x), s))`` with kernels 1,3,5,5,5 and widths shrinking
by ``reduce`` = 1.2 (never below ``lower_width`` = 12), then a 3x3 head and ``tanh(x)/2 + 1/2``.
No normalisation layers. Parameter names match the official state dict.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import out_image
from ..registry import register_model
from ..skeleton import NeRVSkeleton, base_width, stem, up_blocks


@register_model("test-hnerv", tiny={})
@register_model("hnerv")
class HNeRV(NeRVSkeleton):
    """HNeRV. ``encode``: frames ``[N,3,H,W]`` -> ``{"embed": [N, embed_dim, H/P, W/P]}``.

    Size: the official code has one knob, ``fc_dim``, setting every width by the 1.2 reduction; it is fitted
    to the exact count (1.5M at 640x1280, 132 frames gives 68, the published bunny checkpoint). One step of
    ``fc_dim`` moves the count by 4-9% at 0.35-0.75M, so no tolerance is imposed: the closest count wins.
    """

    budget_knobs = (base_width(),)
    budget_tolerance = None

    def __init__(self, config):
        super().__init__(config)
        self.decoder = nn.ModuleList([stem(config), *up_blocks(config)])
        self.head_layer = nn.Conv2d(config.widths[-1], 3, 3, 1, 1)

    def decode(self, embed: torch.Tensor) -> torch.Tensor:
        x = embed
        for layer in self.decoder:
            x = layer(x)
        return out_image(self.head_layer(x))
