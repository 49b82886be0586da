"""SNeRV-T, the temporal extension of SNeRV (Kim, Lee, Kang; ECCV 2024, Sec. 3.3, supplementary A.2), "Ours(T)".

Input: each frame ``I_t`` with its neighbours, a triplet ``(I_{t-1}, I_t, I_{t+1})``; at the ends of the
video the missing neighbour is mirrored (``I_{-1} = I_1``, ``I_N = I_{N-2}``), as the official data loader
does. ``encode``/``loss`` take windows ``[N, 3, 3, H, W]`` (neighbours on axis 1, ``context = 1``).

Encoder, the 2+1D DWT: the 2-D Haar DWT (periodization) of the three frames; their LL bands are scaled to
[0, 1] under ONE joint minimum and maximum of the triplet (the per-frame side information ``ll_range [N,
2]``); the current frame's scaled LL goes through HNeRV's DBs to ``embed [N, 16, H/2P, W/2P]``; a 1-D Haar
DWT over time of the backward pair ``(t-1, t)`` and the forward pair ``(t, t+1)`` keeps each pair's low band
``(a + b) / sqrt 2``, halved (as the official code feeds it), and two temporal ConvNeXt encoders (the paper's
DBs, ``C_e`` = 64, 3 output channels) give the temporal embeddings ``t_embed_b``, ``t_embed_f``
``[N, 3, h_t, w_t]`` (3x20x40 at 640x1280, the paper's ``e_{Delta t}``).

Decoder (supplementary A.2), ``decode(embed, t_embed_b, t_embed_f, ll_range)``:

- HNeRV's 1x1 stem to ``C0`` with GELU;
- the first two UBs are residual blocks ``t + lrelu(conv3(lrelu(conv3(t))))`` on ``t = CT(x)`` (transposed
  conv, kernel = stride), widths ``c -> 2c -> c``;
- the temporal stem (shared by both temporal embeddings): ``GELU(conv1x1)`` to the third UB's input width,
  then transposed convs up to the second UB's output grid (x2 at 640x1280);
- the last three UBs are TUBs: three transposed convs (backward, current, forward) stacked on a time axis
  ``[N, C, 3, h, w]``, then ``lrelu(Conv3d_3x3x3(C -> 2C))`` and ``lrelu(Conv3d_3x3x3(2C -> C))`` with a
  residual to the stack; the last TUB's second Conv3d has no temporal padding, so time collapses to the
  target frame, with a residual to the current branch;
- SNeRV's MFU, head (normalised LL, de-normalised with ``ll_range``), HFR and Haar IDWT, unchanged.

LeakyReLU slope 0.1. Loss as SNeRV, Eq. (3), on the target frame; as the official code does, the LL term's
target is the frame's LL scaled by its OWN minimum and maximum (the decoder's LL is in the triplet's scale).
Size: the paper's ``(C0, N_RB)`` of supplementary Tables 2a and 4 (640x1280: 0.35M 39/2, 0.75M 61/3, 1.5M
82/4, 3M 103/6, 4.6M 129/8, 6M 146/10; 3M at 480x960: 113/6, at 960x1920: 96/6) and Table 4's temporal
embedding sizes by budget (3x5x10 up to 0.75M, 3x10x20 at 1.5M, 3x20x40 above); other budgets fit ``C0``
and ``N_RB`` as SNeRV does. Training recipe: batch 1, gradient clipping 1.0, warm-up 0.2
(``train_snerv_t.py``'s ``cosine_0.2_1_0.1``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvNeXtEncoder
from ..registry import register_model
from ..sizing import split_stride
from .snerv import RANGE_EPS, SNeRV, SNeRVConfig, ll_size, paper_size

PAPER_CONFIGS = {
    (640, 1280): {0.35: (39, 2), 0.75: (61, 3), 1.5: (82, 4), 3.0: (103, 6), 4.6: (129, 8), 6.0: (146, 10)},
    (480, 960): {3.0: (113, 6)},
    (960, 1920): {3.0: (96, 6)},
}
"""The paper's ``(C0, N_RB)`` (supplementary Tables 2a and 4)."""

_T_UP_BY_SIZE = ((1.0, [2, 2, 2]), (2.0, [2, 2]))
"""Table 4's temporal embeddings by budget: 3x5x10 to 0.75M, 3x10x20 at 1.5M, 3x20x40 above (at 640x1280:
the second UB's 40x80 grid over 8, 4 and 2, the official ``temp_strd``)."""


@dataclass
class SNeRVTConfig(SNeRVConfig):
    """SNeRV's fields plus the temporal embeddings' geometry."""

    t_embed_dim: int = 3
    """Channels of each temporal embedding (3 in the paper)."""
    t_up: list[int] = field(default_factory=lambda: [2])
    """Strides of the temporal stem's transposed convs: temporal grid -> the second UB's output grid."""

    def __post_init__(self):
        super().__post_init__()
        self.t_up = list(self.t_up)

    def t_strides(self) -> list[int]:
        """Down-sampling of the temporal encoders: LL size -> temporal grid, four stages (Table 2b)."""
        return split_stride(math.prod(self.strides[2:]) * math.prod(self.t_up), 4)


class ResidualUB(nn.Module):
    """The first two UBs of SNeRV-T: ``t + lrelu(conv3(lrelu(conv3(t))))``, ``t = CT_s(x)``;
    ``[N, C_in, h, w] -> [N, C_out, s h, s w]``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, stride, stride)
        self.conv1 = nn.Conv2d(out_ch, 2 * out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(2 * out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.up(x)
        return F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(t), 0.1)), 0.1) + t


class TUB(nn.Module):
    """Temporally extended UB: ``(x, x_b, x_f)`` each ``[N, C_in, h, w]`` -> the same three at ``[N, C_out, sh,
    sw]``, or, for the last TUB, the target frame's features alone (time collapsed by the unpadded Conv3d)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, last: bool):
        super().__init__()
        self.up_b = nn.ConvTranspose2d(in_ch, out_ch, stride, stride)
        self.up = nn.ConvTranspose2d(in_ch, out_ch, stride, stride)
        self.up_f = nn.ConvTranspose2d(in_ch, out_ch, stride, stride)
        self.conv1 = nn.Conv3d(out_ch, 2 * out_ch, 3, 1, 1)
        self.conv2 = nn.Conv3d(2 * out_ch, out_ch, 3, 1, (0 if last else 1, 1, 1))
        self.last = last

    def forward(self, x: torch.Tensor, x_b: torch.Tensor, x_f: torch.Tensor):
        cur = self.up(x)
        stack = torch.stack([self.up_b(x_b), cur, self.up_f(x_f)], dim=2)  # [N, C, 3, h, w]
        y = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(stack), 0.1)), 0.1)
        if self.last:
            return y[:, :, 0] + cur
        y = y + stack
        return y[:, :, 1], y[:, :, 0], y[:, :, 2]


@register_model("test-snerv-t", tiny={"min_embed": 1, "num_res_blocks": 1})
@register_model("snerv-t")
class SNeRVT(SNeRV):
    """SNeRV-T. ``encode``: windows ``[N, 3, 3, H, W]`` -> ``{"embed": [N, 16, h, w], "t_embed_b", "t_embed_f":
    [N, 3, h_t, w_t], "ll_range": [N, 2]}``."""

    config_cls = SNeRVTConfig
    embed_names = ("embed", "t_embed_b", "t_embed_f", "ll_range")
    context = 1
    recipe = dataclasses.replace(SNeRV.recipe, warmup=0.2)

    def build_encoder(self, c: SNeRVTConfig) -> nn.Module:
        t_dims = [c.enc_dim] * 3 + [c.t_embed_dim]
        return nn.ModuleDict({
            **super().build_encoder(c),
            "t_stages_b": ConvNeXtEncoder(c.t_strides(), t_dims),
            "t_stages_f": ConvNeXtEncoder(c.t_strides(), t_dims),
        })

    def build_ubs(self, c: SNeRVTConfig) -> nn.ModuleList:
        w, s = c.widths, c.strides
        self.t_stem = nn.Sequential(nn.Conv2d(c.t_embed_dim, w[2], 1), nn.GELU(),
                                    *[nn.ConvTranspose2d(w[2], w[2], u, u) for u in c.t_up])
        return nn.ModuleList([ResidualUB(w[0], w[1], s[0]), ResidualUB(w[1], w[2], s[1]),
                              *[TUB(w[i], w[i + 1], s[i], last=i == len(s) - 1) for i in range(2, len(s))]])

    @classmethod
    def for_video(cls, frame_hw, num_frames: int, size: float) -> SNeRVTConfig:
        t_up = next((up for limit, up in _T_UP_BY_SIZE if size <= limit), [2])
        strides = cls.strides_for(frame_hw)
        grid = [side // math.prod(strides[2:]) for side in ll_size(frame_hw)]  # the second UB's output
        while any(side % math.prod(t_up) for side in grid):  # a temporal grid of whole pixels (160x320: 5x10)
            t_up = t_up[1:]
        return paper_size(cls, frame_hw, num_frames, size, PAPER_CONFIGS, t_up=t_up)

    def bands(self, windows: torch.Tensor):
        """The 2+1D DWT of ``windows [N, 3, 3, H, W]``: (current LL, backward and forward temporal low bands,
        each ``[N, 3, h, w]`` in the triplet's [0, 1] scale; ``ll_range [N, 2]``). The temporal bands are the
        Haar lows over time ``(a + b) / sqrt 2``, halved as the official code feeds them."""
        n = windows.shape[0]
        ll = self.encoder["dwt"](windows.flatten(0, 1))[0].unflatten(0, (n, 3))
        lo, hi = ll.amin(dim=(1, 2, 3, 4)), ll.amax(dim=(1, 2, 3, 4))
        ll = (ll - lo[:, None, None, None, None]) / (hi - lo).clamp_min(RANGE_EPS)[:, None, None, None, None]
        low_b = (ll[:, 0] + ll[:, 1]) / (2 * math.sqrt(2))
        low_f = (ll[:, 1] + ll[:, 2]) / (2 * math.sqrt(2))
        return ll[:, 1], low_b, low_f, torch.stack([lo, hi], 1)

    def encode(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        ll, low_b, low_f, ll_range = self.bands(windows)
        enc = self.encoder
        return {"embed": enc["stages"](ll), "t_embed_b": enc["t_stages_b"](low_b),
                "t_embed_f": enc["t_stages_f"](low_f), "ll_range": ll_range}

    def features(self, embed: torch.Tensor, t_embed_b: torch.Tensor, t_embed_f: torch.Tensor) -> list[torch.Tensor]:
        u = [self.stem(embed)]
        for ub in self.ubs[:2]:
            u.append(ub(u[-1]))
        x, x_b, x_f = u[-1], self.t_stem(t_embed_b), self.t_stem(t_embed_f)
        for tub in self.ubs[2:-1]:
            x, x_b, x_f = tub(x, x_b, x_f)
            u.append(x)
        u.append(self.ubs[-1](x, x_b, x_f))
        return u

    def decode(self, embed, t_embed_b, t_embed_f, ll_range) -> torch.Tensor:
        return self.synthesize(self.features(embed, t_embed_b, t_embed_f), ll_range)[0].clamp(0.0, 1.0)

    def loss(self, windows: torch.Tensor):
        """Eq. (3) on the target frame (module docstring): terms ``frame``, ``ll``, ``high``."""
        e = self.encode(windows)
        out = self.synthesize(self.features(e["embed"], e["t_embed_b"], e["t_embed_f"]), e["ll_range"])
        frames = windows[:, 1]
        ll_own, high, _ = self._normalised_ll(frames)
        return self.eq3(out, frames, ll_own, high)
