"""Multi-scale Temporal-Spatial Attention fusion (MTSA, paper 003 Sec. 3.4): MTA then PSA.

Shapes: ``T`` frames (3: earlier reference, target, later reference), ``C`` channels, ``H x W`` the
frame size (multiples of 4). Choices where the paper is silent are marked *choice* below; the paper's
equations are quoted in words because its text gives them only as figures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with slope 0.1, EDVR's activation everywhere outside the IQEM head."""
    return F.leaky_relu(x, 0.1)


def dims(x: torch.Tensor) -> tuple[int, ...]:
    """``x``'s shape as Python ints. Under ``torch.onnx.export`` they become constants of the graph (the
    frame size is fixed per package), so no ``Shape``/``Gather`` chains are traced and every tensor has a
    static shape once the batch is known; callers write the batch axis as ``-1``."""
    return tuple(int(d) for d in x.shape)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``U``: bilinear up-sampling by ``factor`` (*choice*: bilinear, ``align_corners=False``, as EDVR)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class AdaNorm(nn.Module):
    """Adaptive LayerNorm over channels, per frame and pixel.

    ``x [B, T, C, H, W]``::

        x_hat = (x - mean_c(x)) / sqrt(var_c(x) + eps)            (LayerNorm over C, no affine)
        s     = mean_{H,W}(x)                                     [B, T, C] global descriptor
        y     = x_hat * (1 + gamma(s)) + beta(s)                  gamma, beta: one Linear C -> 2C

    The paper says only "an adaptive Layer Normalization mechanism that normalizes channel-wise
    statistics and modulates feature responses". *Choice*: the modulation is conditioned on the frame's
    own pooled features, and the Linear starts at zero so training starts from plain LayerNorm.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.mod = nn.Linear(channels, 2 * channels)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=2, keepdim=True)
        var = (centred * centred).mean(dim=2, keepdim=True)
        x_hat = centred / torch.sqrt(var + self.eps)
        gamma, beta = self.mod(x.mean(dim=(3, 4))).split(dims(x)[2], dim=-1)  # [B, T, C] each
        return x_hat * (1 + gamma[..., None, None]) + beta[..., None, None]


class TemporalAttention(nn.Module):
    """``A``: multi-head scaled dot-product self-attention along time, independently at every pixel.

    ``x [B, T, C, H, W]`` -> same shape. At pixel ``p`` the ``T`` feature vectors are the tokens;
    with ``h`` heads of ``d = C / h`` channels (embedding dimension = C, as the paper states)::

        Q = X Wq + bq,  K = X Wk + bk,  V = X Wv + bv                 X: [T, C] at p
        head_j = softmax(Q_j K_j^T / sqrt(d)) V_j
        A(X) = concat_j(head_j) Wo + bo

    exactly ``torch.nn.MultiheadAttention`` (what the test compares against), written with
    MatMul/Softmax so it exports as standard ONNX ops.
    """

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, t, c, h, w = dims(x)
        d = c // self.heads
        tokens = x.permute(0, 3, 4, 1, 2).reshape(-1, t, c)  # [BHW, T, C]
        q, k, v = self.qkv(tokens).view(-1, t, 3, self.heads, d).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1)  # [BHW, heads, T, T]
        y = self.out((attn @ v).transpose(1, 2).reshape(-1, t, c))
        return y.view(-1, h, w, t, c).permute(0, 3, 4, 1, 2)


class MTA(nn.Module):
    """Multi-Temporal Attention: ``F [B, T, C, H, W]`` -> fused feature ``[B, C, H, W]``.

    For each scale ``s`` in (1, 2, 4)::

        F_s  = D_s(F)                              D_s: s x s average pooling per frame (*choice*)
        F'_s = F_s + A_s(AdaNorm_s(F_s))           residual around the attention
        out  = lrelu(conv1x1(concat_s U_s(F'_s)))  U_s: bilinear x s; concat over scales and frames

    Every scale has its own AdaNorm and attention weights. *Choice*: the fusion of the concatenation is
    a 1x1 conv to ``C`` channels with LeakyReLU (EDVR's fusion conv), which also merges the ``T`` frames.
    """

    SCALES = (1, 2, 4)

    def __init__(self, channels: int, frames: int, heads: int):
        super().__init__()
        self.norms = nn.ModuleList(AdaNorm(channels) for _ in self.SCALES)
        self.attns = nn.ModuleList(TemporalAttention(channels, heads) for _ in self.SCALES)
        self.fuse = nn.Conv2d(len(self.SCALES) * frames * channels, channels, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        _, t, c, h, w = dims(feats)
        branches = []
        for s, norm, attn in zip(self.SCALES, self.norms, self.attns):
            f = feats if s == 1 else F.avg_pool2d(feats.reshape(-1, c, h, w), s).view(-1, t, c, h // s, w // s)
            f = f + attn(norm(f))
            f = f.reshape(-1, t * c, h // s, w // s)
            branches.append(f if s == 1 else upsample(f, s))
        return lrelu(self.fuse(torch.cat(branches, dim=1)))


class PSA(nn.Module):
    """Pyramid Spatial Attention: ``F [B, C, H, W]`` -> ``F * M`` with a sigmoid mask ``M``.

    With ``SA_i(x) = lrelu(conv_i(x))`` (a spatial-attention block), ``P(x) = concat(maxpool(x),
    avgpool(x))`` (3x3 windows, stride 2, padding 1, as EDVR's TSA) and ``UC_i(x) = conv_i(U_2(x))``
    (an up-convolution)::

        A1 = SA1(F)                     [C, H, W]      conv 3x3
        A2 = SA2(P(A1))                 [C, H/2, W/2]  conv 1x1 on the pooled descriptors
        R  = A2 + lrelu(UC1(P(A2)))     [C, H/2, W/2]  second pooling, up-conv, residual
        A3 = SA3(R)                     [C, H/2, W/2]  conv 3x3
        M  = sigmoid(UC2(A3))           [C, H, W]
        out = F * M

    *Choice*: the paper adds the up-convolved descriptors "to the original feature"; it is added to the
    feature of the same resolution (``A2``, the level's input, as EDVR adds its pyramid level), since
    the mask's own up-convolution must then bring ``H/2`` back to ``H``.
    """

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.sa1 = nn.Conv2d(c, c, 3, padding=1)
        self.sa2 = nn.Conv2d(2 * c, c, 1)
        self.up1 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.sa3 = nn.Conv2d(c, c, 3, padding=1)
        self.up2 = nn.Conv2d(c, c, 3, padding=1)

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        return torch.cat((F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)), dim=1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        a1 = lrelu(self.sa1(feat))
        a2 = lrelu(self.sa2(self.pool(a1)))
        r = a2 + lrelu(self.up1(upsample(self.pool(a2), 2)))
        a3 = lrelu(self.sa3(r))
        return feat * torch.sigmoid(self.up2(upsample(a3, 2)))


class MTSA(nn.Module):
    """MTA then PSA: aligned features ``[B, T, C, H, W]`` -> fused ``[B, C, H, W]``.

    ``baseline``: during the first training stage (Sec. 4.1 a) a :class:`ConvFusion` set here stands in
    for MTA, so alignment, the baseline fusion and PSA are trained together; the second stage sets it
    back to ``None`` (the baseline is dropped) and trains MTA, PSA and IQEM.
    """

    def __init__(self, channels: int, frames: int, heads: int):
        super().__init__()
        self.mta = MTA(channels, frames, heads)
        self.psa = PSA(channels)
        self.baseline: ConvFusion | None = None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.psa(self.mta(feats) if self.baseline is None else self.baseline(feats))


class ConvFusion(nn.Module):
    """The ablation without MTSA (TDS + SRFR): ``lrelu(conv1x1(concat_t F_t))``, EDVR's fusion conv alone."""

    def __init__(self, channels: int, frames: int):
        super().__init__()
        self.fuse = nn.Conv2d(frames * channels, channels, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        _, t, c, h, w = dims(feats)
        return lrelu(self.fuse(feats.reshape(-1, t * c, h, w)))
