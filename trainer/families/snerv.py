"""SNeRV backbone (Kim, Lee, Kang; ECCV 2024), "Ours(B)" of the paper.

Encoder (Sec. 3.2): a 2-D Haar DWT splits each frame ``[3, H, W]`` into ``C_LL`` and ``C_LH, C_HL, C_HH``
(each ``[3, H/2, W/2]``, orthonormal filters ``[1, 1]/sqrt 2`` and ``[1, -1]/sqrt 2``). Only ``C_LL`` is
embedded: it is normalised per frame to [0, 1] by its own minimum and maximum (the authors' code; the
paper's budget counts these two numbers per frame) and fed to HNeRV's ConvNeXt down-sampling blocks, giving
``embed [N, 16, H/2P, W/2P]`` with ``P = prod(strides)``. The two statistics are per-frame side information:
``encode`` returns them as ``ll_range [N, 2]`` = (min, max) and ``decode`` takes them as its second input.

Decoder: a 1x1 conv to ``C0`` channels, five HNeRV up-sampling blocks (UBs) ``GELU(PixelShuffle(conv))``
reaching the LL resolution ``H/2 x W/2`` (the IDWT replaces the last 2x up-sampling, so the strides are
those of HNeRV with one factor 2 removed: supplementary Table 1, 640x1280 -> 5,4,2,2,2), then

- MFU, Eq. (1): ``m_{i+1} = RB(CT(m_i) || u_{i+3})`` for i = 0, 1 with ``m_0 = u_3`` (UB outputs
  numbered 1..5): two MF blocks, each a transposed conv (kernel = stride = that UB's stride) and a
  residual group (3x3 conv to the width of ``u_{i+3}``, then ``N_RB`` blocks ``x + conv(lrelu(conv(x)))``);
- a 3x3 head and ``tanh/2 + 1/2`` give the normalised LL, de-normalised with ``ll_range``;
- HFR: three blocks ``conv3x3(lrelu(conv1x1(m_2)))`` give ``C_LH, C_HL, C_HH`` (3 channels each);
- the Haar IDWT of the four sub-bands is the frame.

LeakyReLU slope 0.1 (supplementary A.1); channel reduction 1.2, lower width 12, kernels 1,3,5,5,5 as HNeRV.

Loss, Eq. (2)-(3): ``L(I, I_hat) + L(C, C_hat)`` with ``L = 0.7 L1 + 0.3 (1 - SSIM)``. Choices where the
paper is silent (all as the authors' code does): the coefficient term is ``L`` on the normalised LL plus
``L`` on the three detail bands (each band an image of its own for SSIM), and the frame term uses the
IDWT output before any clamping. ``decode`` clamps the frame to [0, 1] so the output honours the
contract; on a trained model the clamp only trims rounding overshoot. A constant LL (max = min) is
normalised with a floor of ``1e-6`` on the range instead of dividing by zero.

Size: ``C0`` is fitted to the budget (decoder + embeddings + the 2 range values per frame), with ``N_RB``
from the supplementary's Table 4 (0.35M: 2, 0.75M: 3, 1.5M: 4, 3M: 6, 4.6M: 8, 6M: 10 residual blocks).
When the nearest ``C0`` misses the budget by more than 1%, the neighbouring ``N_RB`` values are tried too
(the paper varies both, Table 5) and the closest total wins.

Not implemented: the temporal extension SNeRV-T (Sec. 3.3, TUBs and temporal embeddings); only the
backbone is provided.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...runtime.errors import UserError
from ..base import NeRVModel
from ..l1_ssim import l1_ssim_loss
from ..layers import ConvNeXtEncoder, DownConv, NeRVBlock, UpConv, out_image
from ..registry import register_model
from ..sizing import channel_widths, fit_width_and_option, kernel_sizes, strides_for
from ..wavelets import HaarDWT, HaarIDWT
from .hnerv import HNeRVConfig

RANGE_EPS = 1e-6
"""Smallest LL range used for normalisation (a flat frame would otherwise divide by zero)."""

_RB_BY_SIZE = ((0.5, 2), (1.0, 3), (2.0, 4), (4.0, 6), (5.0, 8))
"""Supplementary Table 4: residual blocks per MF block by budget in millions (10 above 5M)."""


@dataclass
class SNeRVConfig(HNeRVConfig):
    """HNeRV's fields, where ``frame_hw`` must have even sides (one Haar level), ``fc_dim`` is ``C0`` (the
    input width of the first UB) and the embedding ``e_t`` is 16x2x4 at 640x1280; plus the MF blocks'
    depth and the loss mix."""

    strides: list[int]  # re-declared only for what it means here; it keeps its place among the fields
    """UB strides; their product takes the embedding to the LL size (H/2, W/2)."""
    num_res_blocks: int = 6
    """``N_RB``: residual blocks in each of the two MF blocks."""
    alpha: float = 0.7
    """Weight of L1 against ``1 - SSIM`` in Eq. (2)."""

    @classmethod
    def for_video(cls, frame_hw, num_frames: int, size: float) -> SNeRVConfig:
        strides = strides_for(ll_size(frame_hw))
        target = int(round(size * 1e6))
        rb = next((n for limit, n in _RB_BY_SIZE if size <= limit), 10)

        def count(c0, n_rb):
            return budget_count(cls(frame_hw=frame_hw, strides=strides, fc_dim=c0, num_res_blocks=n_rb), num_frames)

        c0, n_rb = fit_width_and_option(count, target, [n for n in (rb, rb - 1, rb + 1) if n >= 1])
        return cls(frame_hw=frame_hw, strides=strides, fc_dim=c0, num_res_blocks=n_rb)


def ll_size(frame_hw) -> tuple[int, int]:
    """Size of the Haar sub-bands ``(H/2, W/2)``; SNeRV needs even frame sides."""
    h, w = frame_hw
    if h % 2 or w % 2:
        raise UserError(f"snerv needs even frame sides, got {h}x{w}: use --crop or --resize")
    return h // 2, w // 2


def budget_count(config: SNeRVConfig, num_frames: int) -> int:
    """Parameters the budget counts: decoder, embeddings and the two LL statistics per frame."""
    with torch.device("meta"):
        model = SNeRV(config)
    h, w = ll_size(config.frame_hw)
    total = 1
    for s in config.strides:
        total *= s
    embeds = config.embed_dim * (h // total) * (w // total) + 2
    return model.decoder_parameters() + embeds * num_frames


def tiny_snerv(frame_hw, num_frames: int, size=None) -> SNeRVConfig:
    """``test-snerv``: C0 16, one residual block, 8-channel embedding; trains in seconds on a CPU."""
    return SNeRVConfig(frame_hw=frame_hw, strides=strides_for(ll_size(frame_hw), min_embed=1), fc_dim=16,
                       num_res_blocks=1, embed_dim=8, enc_dim=16, ks=(1, 3), lower_width=8)


class ResidualGroup(nn.Sequential):
    """MFB's residual part: ``conv3x3(C_in -> C)`` then ``n`` blocks ``x + conv3x3(lrelu(conv3x3(x)))``."""

    def __init__(self, in_ch: int, ch: int, n: int):
        super().__init__(nn.Conv2d(in_ch, ch, 3, 1, 1), *[ResidualBlock(ch) for _ in range(n)])


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


class MFBlock(nn.Module):
    """One MF block of Eq. (1): ``RB(CT(m) || u)``; ``CT`` up-samples ``m`` to the size of ``u``."""

    def __init__(self, m_ch: int, u_ch: int, stride: int, n_rb: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(m_ch, m_ch, stride, stride)
        self.fuse = ResidualGroup(m_ch + u_ch, u_ch, n_rb)

    def forward(self, m: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(m), u], dim=1))


class HFRBlock(nn.Sequential):
    """One HFR block: ``conv3x3(lrelu(conv1x1(x)))`` -> one detail band ``[N, 3, H/2, W/2]``."""

    def __init__(self, ch: int):
        super().__init__(nn.Conv2d(ch, ch, 1), nn.LeakyReLU(0.1), nn.Conv2d(ch, 3, 3, 1, 1))


@register_model("test-snerv", make_config=tiny_snerv, default_size=None)
@register_model("snerv")
class SNeRV(NeRVModel):
    """SNeRV. ``encode``: frames ``[N,3,H,W]`` -> ``{"embed": [N, embed_dim, h, w], "ll_range": [N, 2]}``."""

    config_cls = SNeRVConfig
    embed_names = ("embed", "ll_range")

    def __init__(self, config: SNeRVConfig):
        super().__init__(config)
        c = config
        n = len(c.strides)
        # Everything only the encoder side needs lives under ``encoder`` (not exported, not in the budget).
        self.encoder = nn.ModuleDict({
            "dwt": HaarDWT(mode="periodization"),  # the official code's mode
            "stages": ConvNeXtEncoder(c.strides, [c.enc_dim] * (n - 1) + [c.embed_dim]),
        })
        self.idwt = HaarIDWT()
        widths = channel_widths(c.fc_dim, c.reduce, c.lower_width, n)
        kernels = kernel_sizes(c.ks[0], c.ks[1], n)
        self.stem = NeRVBlock(DownConv(c.embed_dim, c.fc_dim))
        self.ubs = nn.ModuleList(
            NeRVBlock(UpConv(widths[i], widths[i + 1], kernels[i], s)) for i, s in enumerate(c.strides))
        self.mfbs = nn.ModuleList(MFBlock(widths[n - 2 + i], widths[n - 1 + i], c.strides[n - 2 + i],
                                          c.num_res_blocks) for i in range(2))
        self.head = nn.Conv2d(widths[-1], 3, 3, 1, 1)
        self.hfr = nn.ModuleList(HFRBlock(widths[-1]) for _ in range(3))

    def _normalised_ll(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """frames -> (LL scaled to [0, 1] per frame, detail bands ``[N,3,3,h,w]``, ``ll_range [N, 2]``)."""
        ll, high = self.encoder["dwt"](frames)
        lo, hi = ll.amin(dim=(1, 2, 3)), ll.amax(dim=(1, 2, 3))
        scale = (hi - lo).clamp_min(RANGE_EPS)
        return (ll - lo[:, None, None, None]) / scale[:, None, None, None], high, torch.stack([lo, hi], 1)

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        ll_norm, _, ll_range = self._normalised_ll(frames)
        return {"embed": self.encoder["stages"](ll_norm), "ll_range": ll_range}

    def synthesize(self, embed: torch.Tensor, ll_range: torch.Tensor):
        """Decoder before the clamp -> (frame ``[N,3,H,W]``, LL in [0, 1], detail bands ``[N,3,3,h,w]``)."""
        u = [self.stem(embed)]
        for ub in self.ubs:
            u.append(ub(u[-1]))
        m = u[-3]
        for i, mfb in enumerate(self.mfbs):
            m = mfb(m, u[-2 + i])
        ll_norm = out_image(self.head(m))
        lo, hi = ll_range[:, 0, None, None, None], ll_range[:, 1, None, None, None]
        ll = ll_norm * (hi - lo).clamp_min(RANGE_EPS) + lo
        high = torch.stack([blk(m) for blk in self.hfr], dim=2)
        return self.idwt(ll, high), ll_norm, high

    def decode(self, embed: torch.Tensor, ll_range: torch.Tensor) -> torch.Tensor:
        return self.synthesize(embed, ll_range)[0].clamp(0.0, 1.0)

    def loss(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. (3): ``L(I, I_hat) + L(LL, LL_hat) + L(high, high_hat)`` (module docstring)."""
        ll_norm, high, ll_range = self._normalised_ll(frames)
        frame_hat, ll_hat, high_hat = self.synthesize(self.encoder["stages"](ll_norm), ll_range)
        bands = high.flatten(1, 2)  # [N, 9, h, w]: every detail band of every colour is its own SSIM image
        a = self.config.alpha
        total = (l1_ssim_loss(frame_hat, frames, a) + l1_ssim_loss(ll_hat, ll_norm, a)
                 + l1_ssim_loss(high_hat.flatten(1, 2), bands, a))
        return total, frame_hat.clamp(0.0, 1.0)
