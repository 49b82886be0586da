"""Compression of a loaded model: optional global pruning, then quantisation of decoder weights and
embeddings (NeRV's prune -> quantise pipeline; entropy coding happens in the package writer).

An official HNeRV checkpoint already carries integer codes; they are reused as they are (no second
rounding), so its package decodes to exactly the official dequantised weights, unless pruning or a
narrower bit width asks for new codes.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    state = {k: p.detach() for k, p in loaded.model.decoder_state().items()}
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
