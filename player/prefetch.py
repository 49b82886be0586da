"""Decode-ahead: a background thread decodes frames in order into a bounded queue.

Display (or a writer) takes frames from the queue while the next batch decodes, so it never waits
on a decode that could have been done earlier. The queue holds at most ``depth`` frames, so memory
stays bounded however long playback loops. A seek bumps a generation number: frames of the old
generation are dropped, and the thread restarts at the sought frame, decoding that one frame first,
then full batches.
ONNX Runtime releases the GIL while it runs, so decoding really overlaps display.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

DecodeFn = Callable[[int, int], Iterable[np.ndarray]]
"""``decode(start, stop)`` -> batches of uint8 RGB frames ``[n, H, W, 3]`` (``Decoder.decode_frames``)."""

_END = -1


class Prefetcher:
    """Frames of ``frames`` (a ``range`` with step 1), decoded ``batch`` at a time by ``decode``.

    ``get()`` returns ``(index, frame [H, W, 3] uint8)``, or ``None`` after the last frame (never,
    with ``loop=True``: it starts over). ``seek(i)`` makes the next ``get()`` return frame ``i``.
    ``decoded`` and ``decode_seconds`` count every frame the thread decoded and the time spent in
    ``decode`` (so ``decoded / decode_seconds`` is the decode FPS, display waits excluded).
    """

    def __init__(self, decode: DecodeFn, frames: range, *, batch: int = 1, depth: int = 8,
                 loop: bool = False):
        self.frames = frames
        self.batch = batch
        self.loop = loop
        self.decoded = 0
        self.decode_seconds = 0.0
        self._decode = decode
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, batch))
        self._lock = threading.Condition()
        self._gen = 0
        self._pos: int | None = frames.start
        self._after_seek = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="nerv-decode-ahead", daemon=True)
        self._thread.start()

    def _put(self, gen: int, item) -> bool:
        """Blocking put that gives up when a seek or close made ``gen`` stale."""
        while True:
            if self._closed or gen != self._gen:
                return False
            try:
                self._queue.put((gen, *item), timeout=0.05)
                return True
            except queue.Full:
                continue

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pos is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                gen, pos = self._gen, self._pos
                # Right after a seek only the sought frame is decoded, so it shows at once.
                size, self._after_seek = (1 if self._after_seek else self.batch), False
            stop = min(pos + size, self.frames.stop)
            try:
                t0 = time.perf_counter()
                chunks = list(self._decode(pos, stop))
                self.decode_seconds += time.perf_counter() - t0
            except BaseException as err:  # handed to the consumer, which re-raises it
                self._put(gen, (None, err))
                with self._lock:
                    if gen == self._gen:
                        self._pos = None
                continue
            index = pos
            for chunk in chunks:
                self.decoded += len(chunk)
                for frame in chunk:
                    if not self._put(gen, (index, frame)):
                        break
                    index += 1
            with self._lock:
                if gen != self._gen:
                    continue
                if stop < self.frames.stop:
                    self._pos = stop
                elif self.loop:
                    self._pos = self.frames.start
                else:
                    self._pos = None
            if self._pos is None:
                self._put(gen, (_END, None))

    def get(self, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        """Next frame in order; raises ``queue.Empty`` after ``timeout`` seconds, or the decode error."""
        while True:
            gen, index, payload = self._queue.get(timeout=timeout)
            if gen != self._gen:
                continue
            if index is None:
                raise payload
            return None if index == _END else (index, payload)

    def seek(self, index: int) -> None:
        """Restart decoding at frame ``index`` (clamped into ``frames``); queued frames are dropped."""
        index = min(max(index, self.frames.start), self.frames.stop - 1)
        with self._lock:
            self._gen += 1
            self._pos = index
            self._after_seek = True
            self._lock.notify_all()
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._drain()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
