"""The built-in clip, generated in code (no download): a camera panning across a landscape.

It is made to have the statistics of real video rather than of noise: large smooth regions (a sky
gradient, soft clouds, hills), sharp but anti-aliased edges (mountain ridges, houses, windows, a road
with lane marks), saturated colour, depth (far layers pan slower than near ones: parallax), and objects
that move on their own (a car driving along the road faster than the camera, a ball bouncing, a bird).
Everything is an analytic function of scene coordinates, so the camera moves by sub-pixel amounts and
any frame size renders the same scene; 2x2 supersampling gives the soft edges of a real lens.
"""

from __future__ import annotations

import numpy as np

_SS = 2
"""Supersampling factor per axis."""


def _smooth(t: np.ndarray) -> np.ndarray:
    """Clamped smoothstep: 0 below -1, 1 above 1 (a soft edge whose width is set by the caller)."""
    t = np.clip((t + 1) / 2, 0, 1)
    return t * t * (3 - 2 * t)


def _paint(img: np.ndarray, mask: np.ndarray, colour) -> None:
    """Blend ``colour`` (an RGB triple, or ``[..., 3]`` per point) over ``img`` with opacity ``mask``."""
    colour = np.stack(np.broadcast_arrays(*colour), -1) if any(np.ndim(c) for c in colour) else np.asarray(colour)
    where = np.nonzero(mask > 1e-4)  # most shapes cover a small part of the frame
    if colour.ndim > 1:
        colour = colour[where]
    img[where] += mask[where][:, None] * (colour - img[where])


def _box(x, y, x0, x1, y0, y1):
    return ((x >= x0) & (x < x1) & (y >= y0) & (y < y1)).astype(np.float64)


def _frame(x: np.ndarray, y: np.ndarray, t: float, rng_params: dict) -> np.ndarray:
    """RGB in [0, 1] at scene points ``(x, y)`` (y down, frame height = 1) at time ``t`` in [0, 1]."""
    p = rng_params
    cam = 0.9 * t  # the camera pans 0.9 frame heights over the clip
    img = np.empty(x.shape + (3,))
    # Sky: vertical gradient, a sun with a glow, soft clouds drifting with the far layer.
    img[:] = (np.array([0.25, 0.45, 0.85]) * (1 - y[..., None]) + np.array([0.85, 0.9, 1.0]) * y[..., None])
    xs = x + 0.15 * cam
    sun = np.hypot(xs - p["sun_x"], y - 0.2)
    _paint(img, np.exp(-(sun / 0.12) ** 2) * 0.5, (1.0, 0.95, 0.7))
    _paint(img, _smooth((0.07 - sun) / 0.006), (1.0, 0.92, 0.45))
    xc = x + 0.3 * cam
    lo, hi = x.min(), x.max()  # the scene's visible span: objects outside it are skipped
    for cx, cy, r in (c for c in p["clouds"] if lo - 7 * c[2] < c[0] - 0.3 * cam < hi + 7 * c[2]):
        _paint(img, 0.85 * np.exp(-(((xc - cx) / (2.2 * r)) ** 2 + ((y - cy) / r) ** 2)), (0.97, 0.97, 1.0))
    # Far mountains (parallax: half the camera's speed), bluish, with a lighter haze towards the ridge.
    xm = x + 0.5 * cam
    ridge = 0.5 - 0.09 * np.sin(3.1 * xm + 1.0) - 0.05 * np.sin(7.3 * xm + 0.4) - 0.02 * np.sin(17 * xm)
    _paint(img, _smooth((y - ridge) / 0.004), (0.42, 0.48, 0.62))
    _paint(img, _smooth((y - ridge) / 0.004) * np.exp(-((y - ridge) / 0.08) ** 2) * 0.4, (0.75, 0.78, 0.85))
    # Near hills at the camera's speed: green with broad light and shade.
    xh = x + cam
    hill = 0.68 - 0.05 * np.sin(4.3 * xh + 2.0) - 0.025 * np.sin(11 * xh + 0.3)
    shade = 0.5 + 0.5 * np.sin(6 * xh + 9 * y)
    _paint(img, _smooth((y - hill) / 0.004), (0.22 + 0.1 * shade, 0.55 + 0.12 * shade, 0.2))
    # Houses (walls, roofs, windows) and trees on the hills.
    for hx, colour, roof in (h for h in p["houses"] if lo - 0.2 < h[0] - cam < hi):
        base = 0.68 - 0.05 * np.sin(4.3 * hx + 2.0) - 0.025 * np.sin(11 * hx + 0.3) + 0.03
        _paint(img, _box(xh, y, hx, hx + 0.16, base - 0.13, base), colour)
        _paint(img, ((y < base - 0.13) & (y > base - 0.21 + np.abs(xh - hx - 0.08))).astype(float), roof)
        for wx in (0.03, 0.1):
            _paint(img, _box(xh, y, hx + wx, hx + wx + 0.035, base - 0.1, base - 0.06), (0.95, 0.9, 0.55))
    for tx, r in (tr for tr in p["trees"] if lo - 0.1 < tr[0] - cam < hi + 0.1):
        base = 0.68 - 0.05 * np.sin(4.3 * tx + 2.0) - 0.025 * np.sin(11 * tx + 0.3) + 0.02
        _paint(img, _box(xh, y, tx - 0.012, tx + 0.012, base - r, base), (0.4, 0.26, 0.12))
        crown = np.hypot(xh - tx, (y - base + 1.6 * r) * 0.8)
        _paint(img, _smooth((r - crown) / 0.005), (0.1, 0.38, 0.15))
    # Road with dashed lane marks.
    _paint(img, _smooth((y - 0.82) / 0.003), (0.33, 0.33, 0.35))
    _paint(img, _box(np.mod(xh, 0.3), y, 0.0, 0.15, 0.885, 0.9), (0.95, 0.95, 0.9))
    # A red car driving right (faster than the camera): body, cabin, windows, wheels.
    car = p["car_x"] + 1.6 * t
    _paint(img, _box(xh, y, car, car + 0.3, 0.88, 0.95), (0.85, 0.1, 0.1))
    _paint(img, _box(xh, y, car + 0.07, car + 0.22, 0.83, 0.88), (0.8, 0.08, 0.08))
    _paint(img, _box(xh, y, car + 0.09, car + 0.2, 0.845, 0.875), (0.6, 0.8, 0.95))
    for wx in (0.06, 0.24):
        _paint(img, _smooth((0.028 - np.hypot(xh - car - wx, y - 0.955)) / 0.004), (0.08, 0.08, 0.08))
    # A ball bouncing across the sky and a bird gliding: independent motion.
    bx, by = 0.35 + 0.5 * t, 0.62 - 0.4 * np.abs(np.sin(3 * np.pi * t))
    _paint(img, _smooth((0.05 - np.hypot(x - bx, y - by)) / 0.004), (1.0, 0.8, 0.1))
    wx, wy = 1.3 - 0.8 * t, 0.16 + 0.03 * np.sin(9 * t)
    wing = np.abs(y - wy + 0.025 * np.abs(np.sin(40 * (x - wx)))) < 0.006
    _paint(img, (wing & (np.abs(x - wx) < 0.05)).astype(float), (0.1, 0.1, 0.12))
    return img


def synthetic_clip(num_frames: int = 24, height: int = 64, width: int = 128, seed: int = 0) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` frames of the panning landscape (see the module docstring).

    ``seed`` places the sun, clouds, houses, trees and the car, so different seeds give different scenes.
    """
    rng = np.random.default_rng(seed)
    houses = [(0.25 + 0.9 * i + 0.3 * rng.random(), tuple(0.55 + 0.4 * rng.random(3)),
               tuple([0.55, 0.15, 0.1] if i % 2 else [0.3, 0.25, 0.35])) for i in range(4)]
    params = {"sun_x": 0.3 + 0.8 * rng.random(), "car_x": -0.2 * rng.random(),
              "clouds": [(0.4 * i + 0.3 * rng.random(), 0.1 + 0.15 * rng.random(), 0.03 + 0.03 * rng.random())
                         for i in range(8)],
              "houses": houses,
              "trees": [(0.1 + 0.45 * i + 0.2 * rng.random(), 0.035 + 0.02 * rng.random()) for i in range(9)]}
    # Pixel centres of a supersampled grid, in scene units (frame height = 1).
    yy, xx = np.mgrid[0:height * _SS, 0:width * _SS].astype(np.float64)
    x, y = (xx + 0.5) / (height * _SS), (yy + 0.5) / (height * _SS)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        img = _frame(x, y, i / max(num_frames - 1, 1), params)
        img = img.reshape(height, _SS, width, _SS, 3).mean(axis=(1, 3))
        frames[i] = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return frames


def write_frames_png(frames: np.ndarray, folder) -> None:
    """Write uint8 ``[N, H, W, 3]`` frames as ``0001.png ...`` into ``folder`` (a frame folder input)."""
    from pathlib import Path

    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i + 1:04d}.png")
