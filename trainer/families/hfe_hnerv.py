"""HFE-HNeRV: High-Frequency Enhanced Hybrid Neural Representation (Yu et al., arXiv 2411.06685).

Our spec is a summary of the paper, so most shapes below are our choices, each with its reason.

Encoders (not part of the decoder budget):

- content encoder: HNeRV's ConvNeXt encoder, ``frames [N,3,H,W] -> embed [N, 16, H/P, W/P]``,
  ``P = prod(strides)`` with HNeRV's strides (640x1280 -> 5,4,4,2,2, embedding 2x4);
- wavelet high-frequency encoder: a WFD block (Haar DWT of the frame, the three detail sub-bands summed,
  ``F_H = F_LH + F_HL + F_HH`` in [N, 3, H/2, W/2], the summary's "sum high-frequency components") then
  ConvNeXt stages with the same strides less the factor 2 the DWT already took, giving
  ``hf_embed [N, hf_dim, H/P, W/P]`` on the content embedding's grid. Choice: one WFD, at the input, so
  the embedding sees the frame's own detail bands rather than details of learned features; ``hf_dim`` = 8
  by default (half the content channels: the detail bands are sparse).

Decoder, ``decode(embed, hf_embed)``:

- stem: HNeRV's 1x1 conv to ``fc_dim`` with GELU;
- HFM (High-Frequency Feature Modulation): an affine, spatially varying modulation of the content
  features by the high-frequency embedding (SFT-style, our choice of form):
  ``g = GELU(conv3x3(hf_embed))``, ``x <- x * (1 + conv1x1_gamma(g)) + conv1x1_beta(g)``. The gamma and
  beta convs start at zero, so the block starts as the identity and the HF path grows in with training;
- five Harmonic blocks: HNeRV's sub-pixel up-sampling conv (kernels 1,3,5,5,5, widths / 1.2, at least
  12) followed by the adaptive harmonic activation ``sigma(x) = w1 sin(x) + w2 cos(x)`` with learnable
  ``w1, w2`` per channel (choice: per channel, 2C parameters, instead of one pair per block), initialised
  to ``w1 = 1, w2 = 0`` so each block starts as SIREN's ``sin`` and learns how much ``cos`` to add;
- HNeRV's 3x3 head and ``tanh/2 + 1/2``.

Loss: ``L = L_spa + mu * L_fre`` with ``L_spa = alpha L1 + (1 - alpha)(1 - SSIM)`` (alpha = 0.7, the
SNeRV/HNeRV ``Fusion6`` mix; the summary gives no value) and the dynamic weighted frequency loss
``L_fre = mean(W * |FFT(x_hat) - FFT(x)|)`` with ``W = ln(1 + |FFT(x_hat) - FFT(x)|)`` (summary Sec. 3.4).
Choices: the 2-D FFT per colour channel with ``norm="ortho"`` (Parseval: per-coefficient errors on the
pixel scale, independent of the frame size); ``W`` is a weight, so it is detached (as in focal frequency
loss) and only ``|dF|`` carries gradients; the mean runs over frames, channels and frequencies; mu = 1.

Size: ``fc_dim`` (every width by HNeRV's rule) is fitted to the budget (decoder + both embeddings), then
``hf_dim`` within 4..16 (each channel moves the budget by one embedding plane per frame): the closest total.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainerError
from ..l1_ssim import l1_ssim_loss
from ..layers import ConvNeXtEncoder, UpConv, out_image
from ..registry import register_model
from ..sizing import base_width, field_knob
from ..skeleton import NeRVConfig, NeRVSkeleton, stem
from ..wavelets import HaarDWT


@dataclass
class HFEHNeRVConfig(NeRVConfig):
    """The skeleton's fields, where ``embed_dim`` counts the content embedding, ``widths[0]`` is also the HFM's
    width and ``enc_dim`` the width of both encoders; plus the high-frequency embedding and the loss weights."""

    hf_dim: int = 8
    """High-frequency embedding channels per frame."""
    alpha: float = 0.7
    """Weight of L1 against ``1 - SSIM`` in the spatial loss."""
    freq_weight: float = 1.0
    """``mu``: weight of the dynamic weighted frequency loss."""


def without_one_factor_two(strides: list[int]) -> list[int]:
    """The strides left for the HF encoder after the WFD's 2x down-sampling: the last even one halved."""
    out = list(strides)
    for i in reversed(range(len(out))):
        if out[i] % 2 == 0:
            out[i] //= 2
            return out
    raise TrainerError(f"hfe-hnerv needs an even total stride (got {strides}): use --crop or --resize")


class WFD(nn.Module):
    """Wavelet Frequency Decomposer: ``x [N, C, H, W] -> F_LH + F_HL + F_HH [N, C, H/2, W/2]`` (Haar)."""

    def __init__(self):
        super().__init__()
        self.dwt = HaarDWT()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dwt(x)[1].sum(dim=2)


class HFM(nn.Module):
    """High-Frequency Feature Modulation: ``x * (1 + gamma(e_h)) + beta(e_h)`` on ``[N, C, h, w]``."""

    def __init__(self, hf_dim: int, ch: int):
        super().__init__()
        self.hidden = nn.Conv2d(hf_dim, ch, 3, 1, 1)
        self.gamma = nn.Conv2d(ch, ch, 1)
        self.beta = nn.Conv2d(ch, ch, 1)
        for conv in (self.gamma, self.beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, hf_embed: torch.Tensor) -> torch.Tensor:
        g = F.gelu(self.hidden(hf_embed))
        return x * (1 + self.gamma(g)) + self.beta(g)


class Harmonic(nn.Module):
    """Adaptive harmonic activation ``w1 sin(x) + w2 cos(x)``, learnable ``w1, w2`` per channel."""

    def __init__(self, ch: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.ones(ch))
        self.w2 = nn.Parameter(torch.zeros(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1[:, None, None] * torch.sin(x) + self.w2[:, None, None] * torch.cos(x)


class HarmonicBlock(nn.Sequential):
    """Sub-pixel up-sampling conv, then the harmonic activation: ``[N, C_in, h, w] -> [N, C_out, sh, sw]``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__(UpConv(in_ch, out_ch, kernel, stride), Harmonic(out_ch))


def frequency_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dynamic weighted frequency loss ``mean(ln(1 + |dF|) |dF|)``, ``dF = FFT(pred) - FFT(target)``."""
    diff = (torch.fft.fft2(pred, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs()
    return (torch.log1p(diff.detach()) * diff).mean()


@register_model("test-hfe-hnerv", tiny={"hf_dim": 4})
@register_model("hfe-hnerv")
class HFEHNeRV(NeRVSkeleton):
    """HFE-HNeRV. ``encode``: frames -> ``{"embed": [N, 16, h, w], "hf_embed": [N, hf_dim, h, w]}``."""

    config_cls = HFEHNeRVConfig
    embed_names = ("embed", "hf_embed")
    budget_knobs = (base_width(), field_knob("hf_dim", 4, 16))

    def __init__(self, config: HFEHNeRVConfig):
        super().__init__(config)
        c = config
        self.stem = stem(c)
        self.hfm = HFM(c.hf_dim, c.widths[0])
        self.blocks = nn.Sequential(*[HarmonicBlock(*spec) for spec in c.stage_specs()])
        self.head = nn.Conv2d(c.widths[-1], 3, 3, 1, 1)

    def build_encoder(self, c: HFEHNeRVConfig) -> nn.Module:
        dims = [c.enc_dim] * (len(c.strides) - 1)
        return nn.ModuleDict({
            "content": ConvNeXtEncoder(c.strides, [*dims, c.embed_dim]),
            "wfd": WFD(),
            "high": ConvNeXtEncoder(without_one_factor_two(c.strides), [*dims, c.hf_dim]),
        })

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        enc = self.encoder
        return {"embed": enc["content"](frames), "hf_embed": enc["high"](enc["wfd"](frames))}

    def decode(self, embed: torch.Tensor, hf_embed: torch.Tensor) -> torch.Tensor:
        x = self.hfm(self.stem(embed), hf_embed)
        return out_image(self.head(self.blocks(x)))

    def loss(self, frames: torch.Tensor):
        """``alpha L1 + (1 - alpha)(1 - SSIM) + mu L_fre`` on the frames (module docstring); terms ``spatial``
        and ``frequency``."""
        recon = self(frames)
        c = self.config
        terms = {"spatial": l1_ssim_loss(recon, frames, c.alpha), "frequency": frequency_loss(recon, frames)}
        return terms["spatial"] + c.freq_weight * terms["frequency"], recon, terms
