"""Compression of a loaded model: optional global pruning, then quantisation of decoder weights and
embeddings (NeRV's prune -> quantise pipeline; entropy coding happens in the package writer).

An official HNeRV checkpoint already carries integer codes; they are reused as they are (no second
rounding), so its package decodes to exactly the official dequantised weights, unless pruning or a
narrower bit width asks for new codes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime.quant import Quantized
from ..trainer.checkpoint import LoadedModel
from .prune import prune_global
from .quantize import quantize_tensor


@dataclass
class Compressed:
    """Quantised decoder weights and embeddings of one model."""

    weights: dict[str, Quantized]
    """Decoder parameters by state-dict name."""
    embeddings: dict[str, Quantized]
    """Per-frame decoder inputs by embed name, codes ``[num_frames, ...]``."""
    reused_codes: bool
    """True when an official checkpoint's own codes were kept."""


def decoder_state(model) -> dict[str, torch.Tensor]:
    """The parameters ``model.decode`` uses: every parameter outside ``model.encoder``."""
    return {k: v for k, v in model.named_parameters() if not k.startswith("encoder.")}


def _official(q: dict, bits: int) -> Quantized | None:
    """An official ``{"quant", "min", "scale"}`` record as ``Quantized``, if its codes fit ``bits``."""
    codes = q["quant"].numpy()
    if int(codes.max()) >= 1 << bits:
        return None
    ones = (1,) * codes.ndim
    # per-tensor min/scale are 0-d in the official file; keep the rank so the package can broadcast
    mins, scales = (q[k].numpy().reshape(ones) if q[k].dim() != codes.ndim else q[k].numpy()
                    for k in ("min", "scale"))
    return Quantized(codes, mins, scales, bits)


def compress(loaded: LoadedModel, quant_bits: int = 8, embed_bits: int = 6, prune: float = 0.0) -> Compressed:
    """Prune (fraction of decoder weights) and quantise ``loaded``; see the module docstring."""
    state = decoder_state(loaded.model)
    official = loaded.quantized
    if official is not None and prune == 0.0:
        weights = {k: _official(official["model"][k], quant_bits) for k in state}
        embeds = {"embed": _official(official["embed"], embed_bits)}
        if all(v is not None for v in [*weights.values(), *embeds.values()]):
            return Compressed(weights, embeds, True)
    state = prune_global(state, prune)
    weights = {k: quantize_tensor(v, quant_bits) for k, v in state.items()}
    embeds = {k: quantize_tensor(loaded.embeddings[k], embed_bits) for k in loaded.model.embed_names}
    return Compressed(weights, embeds, False)


def dequantized_model(loaded: LoadedModel, compressed: Compressed):
    """A copy of ``loaded.model`` whose decoder weights are the dequantised package weights."""
    model = copy.deepcopy(loaded.model).eval()
    with torch.no_grad():
        for k, p in decoder_state(model).items():
            p.copy_(_as_tensor(compressed.weights[k]))
    return model


def dequantized_embeddings(compressed: Compressed) -> dict[str, torch.Tensor]:
    """Dequantised embeddings as float32 tensors."""
    return {k: _as_tensor(q) for k, q in compressed.embeddings.items()}


def _as_tensor(q: Quantized) -> torch.Tensor:
    """The dequantised values as a float32 tensor; 0-d parameters (numpy scalars) included."""
    return torch.tensor(np.asarray(q.dequantize(), dtype=np.float32))
