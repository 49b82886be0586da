"""A built-in test clip generated in code: moving textures with fine detail, no download needed."""

from __future__ import annotations

import numpy as np


def synthetic_clip(num_frames: int = 24, height: int = 64, width: int = 128, seed: int = 0) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` frames: a drifting colour grating, a fine checkerboard band scrolling
    sideways, a fixed random texture panning diagonally and a bright disc moving on a circle.

    Every element moves by a sub-pixel amount per frame, so consecutive frames differ, and the texture
    and checkerboard carry detail at the highest frequencies a frame can hold.
    """
    rng = np.random.default_rng(seed)
    # Random texture at half resolution, pixel-doubled: detail at 2-pixel scale a small model can learn.
    texture = np.kron(rng.random((height, width, 3)), np.ones((2, 2, 1)))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = np.empty((num_frames, height, width, 3), np.float64)
    for t in range(num_frames):
        phase = 2 * np.pi * t / max(num_frames, 1)
        grating = 0.5 + 0.5 * np.sin(2 * np.pi * (xx / 23.0 + yy / 37.0) + phase)
        img = np.stack([grating, 0.5 + 0.5 * np.sin(phase + xx / 11.0), 1.0 - grating], -1) * 0.6
        dy, dx = int(t * 1.5) % height, int(t * 2.5) % width
        img += 0.4 * texture[dy:dy + height, dx:dx + width]
        band = (yy > height * 0.6) & (yy < height * 0.8)
        checker = ((np.floor((xx + 1.7 * t) / 2) + np.floor(yy / 2)) % 2)[band]
        img[band] = 0.3 * img[band] + 0.7 * checker[:, None]
        cy = height / 2 + height / 4 * np.sin(phase)
        cx = width / 2 + width / 4 * np.cos(phase)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (min(height, width) / 8) ** 2
        img[disc] = [1.0, 0.9, 0.2]
        frames[t] = img
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def write_frames_png(frames: np.ndarray, folder) -> None:
    """Write uint8 ``[N, H, W, 3]`` frames as ``0001.png ...`` into ``folder`` (a frame folder input)."""
    from pathlib import Path

    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i + 1:04d}.png")
