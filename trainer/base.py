"""The one public contract every model family implements (CompressAI-style).

Export, runtime and bench only ever talk to this interface, so they never special-case a family:

- ``encode(frames)``: frames ``[N, 3, H, W]`` float in [0, 1] -> ``dict`` of per-frame decoder inputs,
  keyed by ``embed_names`` (HNeRV: one ``embed`` tensor ``[N, C, h, w]``; a family that needs per-frame
  side information adds entries). A family that looks at ``context = k`` neighbouring frames on each side
  (SNeRV-T: 1) takes windows ``[N, 2k + 1, 3, H, W]`` instead, the target frame in the middle; callers
  build either with :meth:`NeRVModel.input_index` (mirrored at the ends of the video).
- ``decode(*embeds)``: the decoder inputs in ``embed_names`` order -> frames ``[N, 3, H, W]`` in [0, 1].
  This is the graph that is exported; it must not depend on anything but its inputs and parameters.
- ``loss(frames)``: ``(loss, reconstruction, terms)`` with the family's default training loss and its named
  terms (``{"l1_ssim": ..., "freq": ...}``, unweighted as the paper writes them) for logging; ``frames`` as
  for ``encode``, the reconstruction is of the target frames ``[N, 3, H, W]``.
- ``recipe``: how the family's paper or official code trains it (batch size, gradient clipping, warm-up);
  ``nerv-train`` uses it unless a flag says otherwise.
- ``set_exportable(True)``: swap training-only ops (pytorch_wavelets' autograd Functions) for modules
  that export as single custom-domain ONNX nodes. A switch, not a fork: the same modules and weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Recipe:
    """A family's training recipe (each field is a ``nerv-train`` flag of the same name)."""

    batch_size: int = 2
    """Frames per optimiser step (HNeRV's bunny runs: 2; SNeRV: 1)."""
    grad_clip: float | None = None
    """Gradient-norm clipping (SNeRV's official code: 1.0); ``None``: none."""
    warmup: float = 0.1
    """Fraction of training spent in the linear warm-up of the cosine schedule (``cosine_0.1_1_0.1``)."""


class NeRVModel(nn.Module):
    """Base class of every family. Subclasses set ``config_cls`` and implement encode/decode."""

    config_cls: ClassVar[type]
    embed_names: ClassVar[tuple[str, ...]] = ("embed",)
    context: ClassVar[int] = 0
    """Neighbouring frames on each side that ``encode`` and ``loss`` look at."""
    recipe: ClassVar[Recipe] = Recipe()

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.name = ""  # the registered name; set by the registry when the model is built

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def decode(self, *embeds: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Auto-encode: frames (or windows) as ``encode`` takes them -> target frames ``[N, 3, H, W]``."""
        embeds = self.encode(frames)
        return self.decode(*(embeds[n] for n in self.embed_names))

    def input_index(self, num_frames: int, idx: torch.Tensor) -> torch.Tensor:
        """Indices of the frames ``encode`` needs for target frames ``idx [B]`` of a ``num_frames`` video:
        ``idx`` itself, or windows ``[B, 2k + 1]`` for ``context = k``, mirrored at the ends (frame -1 is
        frame 1, frame N is frame N - 2, as SNeRV-T's official loader does). ``frames[index]`` is the input."""
        k = self.context
        if not k:
            return idx
        j = idx[:, None] + torch.arange(-k, k + 1, device=idx.device)
        last = num_frames - 1
        j = torch.where(j < 0, -j, j)
        return torch.where(j > last, 2 * last - j, j).clamp(0, last)

    def clip_input(self, frames: torch.Tensor) -> torch.Tensor:
        """The input of ``encode`` for every frame of a clip ``frames [N, ...]`` (the frames, or their windows)."""
        return frames[self.input_index(len(frames), torch.arange(len(frames), device=frames.device))]

    def target(self, frames: torch.Tensor) -> torch.Tensor:
        """The target frames ``[N, 3, H, W]`` of an input built with :meth:`input_index`."""
        return frames[:, self.context] if self.context else frames

    def loss(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Default loss: mean squared error on [0, 1] pixels (HNeRV's ``L2``)."""
        recon = self(frames)
        mse = F.mse_loss(recon, self.target(frames))
        return mse, recon, {"mse": mse}

    def set_exportable(self, exportable: bool = True) -> NeRVModel:
        """Flip every sub-module that has an ``exportable`` switch (wavelet ops)."""
        for module in self.modules():
            if hasattr(module, "exportable") and module is not self:
                module.exportable = exportable
        return self

    def decoder_state(self) -> dict[str, nn.Parameter]:
        """The parameters ``decode`` uses, by state-dict name: everything outside ``self.encoder``.

        These are what a package stores (ONNX initializers of the same names) and what
        :meth:`load_decoder_state` sets.
        """
        return {k: p for k, p in self.named_parameters() if not k.startswith("encoder.")}

    def load_decoder_state(self, values: dict) -> NeRVModel:
        """Set every decoder parameter from ``values`` (name -> array or tensor of the parameter's shape).

        ``values`` must name exactly the parameters of :meth:`decoder_state`; a missing, extra or
        mis-shaped entry raises ``ValueError`` (a package or checkpoint that does not fit this model).
        """
        params = self.decoder_state()
        if set(values) != set(params):
            diff = sorted(set(params) ^ set(values))
            raise ValueError(f"decoder weights do not fit the {self.name or type(self).__name__} model: "
                             f"{len(diff)} names differ ({', '.join(diff[:3])})")
        with torch.no_grad():
            for k, p in params.items():
                value = torch.as_tensor(values[k], dtype=p.dtype)  # 0-d numpy scalars included
                if value.shape != p.shape:
                    raise ValueError(f"decoder weight {k} has shape {tuple(value.shape)}, the model "
                                     f"wants {tuple(p.shape)}")
                p.copy_(value)
        return self

    def decoder_parameters(self) -> int:
        """Number of parameters the decoder uses (everything but ``self.encoder``)."""
        return sum(p.numel() for p in self.decoder_state().values())


class DecoderGraph(nn.Module):
    """``model.decode`` as a module of its own: what ``torch.onnx.export`` and benchmarks run."""

    def __init__(self, model: NeRVModel):
        super().__init__()
        self.model = model

    def forward(self, *embeds: torch.Tensor) -> torch.Tensor:
        return self.model.decode(*embeds)
