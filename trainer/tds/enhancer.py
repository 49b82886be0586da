"""The TDS enhancement network ``G`` (paper 003 Sec. 3.3-3.4): EDVR adapted HR-to-HR.

``G(earlier, target, later)``: three frames ``[B, 3, H, W]`` in [0, 1] (H, W multiples of 4) ->
the enhanced target ``[B, 3, H, W]``. ``target`` is the decoded LR frame bicubic-up-sampled to the
full size; ``earlier`` / ``later`` are decoded HR key frames or enhanced frames (Algorithm 1).

1. Feature extraction (EDVR): ``conv3x3 + lrelu``, ``extract_blocks`` residual blocks
   ``x + conv(relu(conv(x)))`` at full size (L1), then two stride-2 levels L2, L3 (``conv s2 + lrelu,
   conv + lrelu`` each). EDVR's pre-deblur and up-sampling modules are removed (HR-to-HR, Sec. 3.3).
2. PCD alignment (EDVR): each frame's pyramid is aligned to the target's, coarse to fine, with
   modulated deformable convolutions whose offsets come from the concatenated features and the
   up-sampled offsets of the coarser level, then a cascading deformable convolution at L1.
3. Fusion: :class:`.mtsa.MTSA` (TDS + SRFR + MTSA) or :class:`.mtsa.ConvFusion` (the ablation).
4. IQEM: ``iqem_layers`` 3x3 convolutions with ``iqem_channels`` (the paper's C2) filters and ReLU,
   the last one to RGB, predicting a residual added to the target frame::

       G(...) = target + IQEM(fusion(PCD(features)))

The output is not clamped (the runtime rounds to 8 bits); the loss is Charbonnier (:func:`charbonnier`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import TrainerError
from .deform import ModulatedDeformConv
from .mtsa import MTSA, ConvFusion, dims, lrelu, upsample

FRAMES = 3
"""The enhancer always sees three frames: earlier reference, target, later reference."""
TARGET = 1
PYRAMID = 4
"""The feature pyramid (PCD, MTA, PSA) halves the frame twice: H and W must divide by 4."""


@dataclass(frozen=True)
class EnhancerConfig:
    channels: int = 32
    """C: feature channels of extraction, PCD, MTA and PSA (EDVR-L and the paper: 128)."""
    extract_blocks: int = 2
    """Residual blocks of the L1 feature extraction (EDVR: 5)."""
    offset_groups: int = 4
    """Deformable groups of every PCD convolution (EDVR: 8)."""
    heads: int = 4
    """Attention heads of every MTA scale (*choice*: the paper does not give it)."""
    iqem_channels: int = 32
    """C2: filters of each IQEM convolution."""
    iqem_layers: int = 4
    """IQEM convolutions (the last one maps C2 -> 3)."""
    fusion: str = "mtsa"
    """``mtsa`` (the full model) or ``conv`` (the ablation TDS + SRFR without MTSA)."""

    def __post_init__(self):
        if self.fusion not in ("mtsa", "conv"):
            raise TrainerError(f"fusion {self.fusion!r}: use mtsa or conv")
        if self.channels % self.offset_groups or self.channels % self.heads:
            raise TrainerError(f"{self.channels} channels must divide by offset groups and heads")


SIZES = {
    # the paper's width (EDVR-L: 128 channels, 5 extraction blocks, 8 deformable groups); the IQEM depth
    # is *choice* (the paper gives 29.3M parameters in all but no per-module breakdown)
    "paper": EnhancerConfig(channels=128, extract_blocks=5, offset_groups=8, heads=8, iqem_channels=128,
                            iqem_layers=40),
    "small": EnhancerConfig(),
    "tiny": EnhancerConfig(channels=16, extract_blocks=1, offset_groups=2, heads=2, iqem_channels=16,
                           iqem_layers=3),
    "test": EnhancerConfig(channels=8, extract_blocks=1, offset_groups=2, heads=2, iqem_channels=8,
                           iqem_layers=2),
}
"""Named sizes: ``paper`` (GPU), ``small`` and ``tiny`` (train on a CPU), ``test`` (``test-tds``)."""


def config_for(size: str, fusion: str = "mtsa") -> EnhancerConfig:
    if size not in SIZES:
        raise TrainerError(f"enhancer size {size!r}: choose one of {', '.join(SIZES)}")
    return EnhancerConfig(**(asdict(SIZES[size]) | {"fusion": fusion}))


class ResidualBlock(nn.Module):
    """EDVR's ``ResidualBlockNoBN``: ``x + conv(relu(conv(x)))``."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.conv1(x)))


class FeaturePyramid(nn.Module):
    """Frames ``[N, 3, H, W]`` -> features at L1 (H), L2 (H/2), L3 (H/4), ``C`` channels each."""

    def __init__(self, c: int, blocks: int):
        super().__init__()
        self.first = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(c) for _ in range(blocks)))
        self.down = nn.ModuleList(nn.ModuleList([nn.Conv2d(c, c, 3, 2, 1), nn.Conv2d(c, c, 3, 1, 1)])
                                  for _ in range(2))

    def forward(self, x):
        levels = [self.blocks(lrelu(self.first(x)))]
        for stride_conv, conv in self.down:
            levels.append(lrelu(conv(lrelu(stride_conv(levels[-1])))))
        return levels


class PCDAlign(nn.Module):
    """Pyramid, Cascading and Deformable alignment (EDVR): neighbour pyramid -> aligned L1 ``[N, C, H, W]``.

    Level ``l`` = 3, 2, 1 (coarse to fine), ``n``/``r`` the neighbour/reference features::

        o_3 = lrelu(c2(lrelu(c1([n_3, r_3]))))
        o_l = lrelu(c3(lrelu(c2([lrelu(c1([n_l, r_l])), 2 * U(o_{l+1})]))))     l = 2, 1
        a_3 = lrelu(DCN(n_3, o_3))
        a_2 = lrelu(conv([DCN(n_2, o_2), U(a_3)]));  a_1 = conv([DCN(n_1, o_1), U(a_2)])
        out = lrelu(DCN_cas(a_1, lrelu(cc2(lrelu(cc1([a_1, r_1]))))))
    """

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.offset1 = nn.ModuleList(nn.Conv2d(2 * c, c, 3, padding=1) for _ in range(3))
        self.offset2 = nn.ModuleList([nn.Conv2d(2 * c, c, 3, padding=1), nn.Conv2d(2 * c, c, 3, padding=1),
                                      nn.Conv2d(c, c, 3, padding=1)])  # index 0 = L1, 2 = L3
        self.offset3 = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(2))
        self.dcn = nn.ModuleList(ModulatedDeformConv(c, 3, groups) for _ in range(3))
        self.feat_conv = nn.ModuleList(nn.Conv2d(2 * c, c, 3, padding=1) for _ in range(2))
        self.cas1 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.cas2 = nn.Conv2d(c, c, 3, padding=1)
        self.cas_dcn = ModulatedDeformConv(c, 3, groups)

    def forward(self, nbr: list[torch.Tensor], ref: list[torch.Tensor]) -> torch.Tensor:
        up_offset = up_feat = None
        for lvl in (2, 1, 0):
            offset = lrelu(self.offset1[lvl](torch.cat((nbr[lvl], ref[lvl]), 1)))
            if lvl == 2:
                offset = lrelu(self.offset2[lvl](offset))
            else:
                offset = lrelu(self.offset2[lvl](torch.cat((offset, up_offset), 1)))
                offset = lrelu(self.offset3[lvl](offset))
            feat = self.dcn[lvl](nbr[lvl], offset)
            if lvl < 2:
                feat = self.feat_conv[lvl](torch.cat((feat, up_feat), 1))
            if lvl > 0:
                feat = lrelu(feat)
                up_offset, up_feat = upsample(offset, 2) * 2, upsample(feat, 2)
        offset = lrelu(self.cas2(lrelu(self.cas1(torch.cat((feat, ref[0]), 1)))))
        return lrelu(self.cas_dcn(feat, offset))


class IQEM(nn.Module):
    """Image Quality Enhancement Module: ``[N, C, H, W]`` -> residual ``[N, 3, H, W]``.

    ``conv3x3(C -> C2) + ReLU``, ``(layers - 2) x (conv3x3(C2 -> C2) + ReLU)``, ``conv3x3(C2 -> 3)``.
    """

    def __init__(self, c: int, c2: int, layers: int):
        super().__init__()
        convs = [nn.Conv2d(c, c2, 3, padding=1), nn.ReLU()]
        for _ in range(layers - 2):
            convs += [nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU()]
        convs.append(nn.Conv2d(c2, 3, 3, padding=1))
        self.body = nn.Sequential(*convs)

    def forward(self, x):
        return self.body(x)


class Enhancer(nn.Module):
    """``G(earlier, target, later)`` of the module docstring; each input ``[B, 3, H, W]``."""

    input_names = ("earlier", "target", "later")

    def __init__(self, config: EnhancerConfig):
        super().__init__()
        c = config.channels
        self.config = config
        self.features = FeaturePyramid(c, config.extract_blocks)
        self.align = PCDAlign(c, config.offset_groups)
        self.fusion = MTSA(c, FRAMES, config.heads) if config.fusion == "mtsa" else ConvFusion(c, FRAMES)
        self.iqem = IQEM(c, config.iqem_channels, config.iqem_layers)

    def forward(self, earlier: torch.Tensor, target: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
        levels = self.features(torch.cat((earlier, target, later), 0))  # frame-major: [3B, C, ...]
        refs = [torch.cat([lv.view(FRAMES, -1, *dims(lv)[1:])[TARGET]] * FRAMES, 0) for lv in levels]
        aligned = self.align(levels, refs)  # all three frames aligned to the target in one batch
        aligned = aligned.view(FRAMES, -1, *dims(aligned)[1:]).transpose(0, 1)  # [B, T, C, H, W]
        return target + self.iqem(self.fusion(aligned))


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((pred - target)^2 + eps^2))`` (Sec. 3.4 d; ``eps = 1e-3`` as EDVR)."""
    return torch.sqrt((pred - target).pow(2) + eps * eps).mean()
