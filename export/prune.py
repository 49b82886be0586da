"""Global magnitude pruning (NeRV's model compression step 1).

The ``fraction`` of decoder weights with the smallest magnitude, ranked over all weight tensors together
(not per layer), is set to zero. Only tensors with two or more dims (conv kernels) are pruned; biases
stay, as in NeRV. The zeros all quantise to one code, so the entropy coder makes them nearly free.
"""

from __future__ import annotations

import torch


def prune_global(tensors: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Copy of ``tensors`` with the smallest-magnitude ``fraction`` of the >=2-D ones set to zero."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune fraction must be in [0, 1), got {fraction}")
    out = {k: v.detach().clone() for k, v in tensors.items()}
    prunable = [k for k, v in out.items() if v.dim() >= 2]
    count = int(fraction * sum(out[k].numel() for k in prunable))
    if count == 0:
        return out
    magnitudes = torch.cat([out[k].abs().flatten() for k in prunable])
    threshold = torch.kthvalue(magnitudes, count).values
    for k in prunable:
        out[k][out[k].abs() <= threshold] = 0.0
    return out
