"""The resize HNeRV trains on: PyTorch's own bicubic ``F.interpolate``, so frames are bit-identical to the
official code's. The tools read the training video with the runtime's reader and this resize
(``nervkit.export.files.load_video``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_bicubic(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint8 ``[H, W, 3]`` frame to ``hw`` = (H, W) as HNeRV does it: on [0, 1] floats
    (``F.interpolate``, ``align_corners=False``), then rounded back to uint8."""
    x = torch.tensor(frame).permute(2, 0, 1)[None].float() / 255.0
    y = F.interpolate(x, size=hw, mode="bicubic", align_corners=False)
    return (y[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
