"""The playback window (pygame / SDL2): frames at the video's rate, an overlay, and keys.

Keys: space pause; left/right step one frame when paused, seek one second when playing; home/end
first/last frame; ``f`` full screen; ``o`` overlay on/off; ``q``/Esc quit. The frame is scaled to fit
the window (resizable) with its aspect ratio kept.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from nervkit.runtime.errors import UserError

from .prefetch import Prefetcher

NO_DISPLAY = ("no display to open a window on ({}); write frames with --output FILE "
              "(e.g. --output clip.mp4, or --output - | ffplay -) or use --no-window")


def _import_pygame():
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # its banner would go to stdout
    try:
        import pygame
    except ImportError:
        raise UserError("the window needs pygame: pip install 'nervkit[window]' "
                        "(or write frames with --output FILE)") from None
    return pygame


class Window:
    """One SDL window showing uint8 RGB frames ``[H, W, 3]`` with an optional text overlay."""

    def __init__(self, title: str, width: int, height: int):
        env = os.environ
        if sys.platform.startswith("linux") and not any(
                k in env for k in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")):
            raise UserError(NO_DISPLAY.format("DISPLAY is not set"))
        pg = self.pg = _import_pygame()
        try:
            pg.display.init()
            driver = pg.display.get_driver()
            # Without a display SDL falls back to its invisible drivers; only take one when asked to
            # (SDL_VIDEODRIVER=dummy is how tests run the window path).
            if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER") != driver:
                raise pg.error("DISPLAY is not set" if "DISPLAY" not in os.environ else f"SDL chose {driver}")
            pg.font.init()
            self.screen = pg.display.set_mode((width, height), pg.RESIZABLE)
        except pg.error as err:
            pg.quit()
            raise UserError(NO_DISPLAY.format(err)) from None
        pg.display.set_caption(title)
        self.size = (width, height)
        self.fullscreen = False
        self.font = pg.font.Font(None, max(16, height // 30))

    def toggle_fullscreen(self) -> None:
        pg = self.pg
        self.fullscreen = not self.fullscreen
        if self.fullscreen:
            self.screen = pg.display.set_mode((0, 0), pg.FULLSCREEN)
        else:
            self.screen = pg.display.set_mode(self.size, pg.RESIZABLE)

    def show(self, frame: np.ndarray, overlay: str | None) -> None:
        pg = self.pg
        h, w = frame.shape[:2]
        image = pg.image.frombuffer(np.ascontiguousarray(frame), (w, h), "RGB")
        sw, sh = self.screen.get_size()
        scale = min(sw / w, sh / h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size != (w, h):
            image = pg.transform.smoothscale(image, size)
        self.screen.fill((0, 0, 0))
        self.screen.blit(image, ((sw - size[0]) // 2, (sh - size[1]) // 2))
        if overlay:
            text = self.font.render(overlay, True, (255, 255, 255))
            pad = 4
            box = pg.Surface((text.get_width() + 2 * pad, text.get_height() + 2 * pad), pg.SRCALPHA)
            box.fill((0, 0, 0, 160))
            box.blit(text, (pad, pad))
            self.screen.blit(box, (8, 8))
        pg.display.flip()

    def actions(self) -> list[str]:
        """Pending user actions: quit, pause, left, right, home, end, fullscreen, overlay."""
        pg = self.pg
        names = {pg.K_SPACE: "pause", pg.K_LEFT: "left", pg.K_RIGHT: "right", pg.K_HOME: "home",
                 pg.K_END: "end", pg.K_f: "fullscreen", pg.K_o: "overlay", pg.K_q: "quit",
                 pg.K_ESCAPE: "quit"}
        actions = []
        for event in pg.event.get():
            if event.type == pg.QUIT:
                actions.append("quit")
            elif event.type == pg.KEYDOWN and event.key in names:
                actions.append(names[event.key])
        return actions

    def close(self) -> None:
        self.pg.quit()


def play_window(prefetcher: Prefetcher, window: Window, fps: float, backend: str) -> int:
    """Show frames from ``prefetcher`` at ``fps`` until the end (or forever with loop) or quit.

    Returns the number of frames shown. Playback runs on a deadline clock: a late frame is shown at
    once and the clock restarts from it, rather than rushing to catch up.
    """
    frames = prefetcher.frames
    period = 1.0 / fps
    shown = 0
    paused, overlay = False, True
    current: tuple[int, np.ndarray] | None = None
    deadline = time.perf_counter()

    def take():
        nonlocal current, shown
        item = prefetcher.get()
        if item is not None:
            current = item
            shown += 1
        return item

    def seek(index: int):
        prefetcher.seek(index)
        return take()

    if take() is None:
        return shown
    while True:
        dirty = False
        for action in window.actions():
            index = current[0]
            if action == "quit":
                return shown
            if action == "pause":
                paused = not paused
                deadline = time.perf_counter()
            elif action in ("left", "right"):
                step = (1 if paused else round(fps)) * (1 if action == "right" else -1)
                if action == "right" and paused:
                    if index + 1 < frames.stop or prefetcher.loop:
                        take()  # the next frame is already decoded and queued
                else:
                    seek(index + step)
            elif action == "home":
                seek(frames.start)
            elif action == "end":
                seek(frames.stop - 1)
                paused = True
            elif action == "fullscreen":
                window.toggle_fullscreen()
            elif action == "overlay":
                overlay = not overlay
            dirty = True
        index, frame = current
        if not paused or dirty:
            rate = prefetcher.decoded / prefetcher.decode_seconds if prefetcher.decode_seconds else 0.0
            text = (f"frame {index}/{frames.stop - 1}   decode {rate:.1f} fps   {backend}"
                    + ("   paused" if paused else "")) if overlay else None
            window.show(frame, text)
        if paused:
            time.sleep(1 / 60)
            continue
        deadline += period
        delay = deadline - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            deadline = time.perf_counter()
        if take() is None:
            return shown
