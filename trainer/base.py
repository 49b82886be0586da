"""The one public contract every model family implements (CompressAI-style).

Export, runtime and bench only ever talk to this interface, so they never special-case a family:

- ``encode(frames)``: frames ``[N, 3, H, W]`` float in [0, 1] -> ``dict`` of per-frame decoder inputs,
  keyed by ``embed_names`` (HNeRV: one ``embed`` tensor ``[N, C, h, w]``; a family that needs per-frame
  side information adds entries).
- ``decode(*embeds)``: the decoder inputs in ``embed_names`` order -> frames ``[N, 3, H, W]`` in [0, 1].
  This is the graph that is exported; it must not depend on anything but its inputs and parameters.
- ``loss(frames)``: ``(loss, reconstruction)`` with the family's default training loss.
- ``set_exportable(True)``: swap training-only ops (pytorch_wavelets' autograd Functions) for modules
  that export as single custom-domain ONNX nodes. A switch, not a fork: the same modules and weights.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


class NeRVModel(nn.Module):
    """Base class of every family. Subclasses set ``config_cls`` and implement encode/decode."""

    config_cls: ClassVar[type]
    embed_names: ClassVar[tuple[str, ...]] = ("embed",)

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.name = ""  # the registered name; set by the registry when the model is built

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def decode(self, *embeds: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Auto-encode: frames ``[N, 3, H, W]`` in [0, 1] -> reconstruction of the same shape."""
        embeds = self.encode(frames)
        return self.decode(*(embeds[n] for n in self.embed_names))

    def loss(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Default loss: mean squared error on [0, 1] pixels (HNeRV's ``L2``)."""
        recon = self(frames)
        return F.mse_loss(recon, frames), recon

    def set_exportable(self, exportable: bool = True) -> NeRVModel:
        """Flip every sub-module that has an ``exportable`` switch (wavelet ops)."""
        for module in self.modules():
            if hasattr(module, "exportable") and module is not self:
                module.exportable = exportable
        return self

    def decoder_parameters(self) -> int:
        """Number of parameters the decoder uses (everything but ``self.encoder``)."""
        encoder = getattr(self, "encoder", None)
        skip = {id(p) for p in encoder.parameters()} if encoder is not None else set()
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)


class DecoderGraph(nn.Module):
    """``model.decode`` as a module of its own: what ``torch.onnx.export`` and benchmarks run."""

    def __init__(self, model: NeRVModel):
        super().__init__()
        self.model = model

    def forward(self, *embeds: torch.Tensor) -> torch.Tensor:
        return self.model.decode(*embeds)
