"""``Decoder``: frames of a package, decoded by a backend in batches, as float or uint8 RGB."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import backends
from .errors import UserError
from .memory import DEFAULT_MAX_MEMORY
from .package import Package


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """float ``[n, 3, H, W]`` in [0, 1] -> uint8 RGB ``[n, H, W, 3]`` (round half to even, clipped).

    One float32 pass (scale, clip, round in place on a scratch copy) and one strided cast into the
    NHWC result: no float64, no intermediate transposed copy.
    """
    x = np.multiply(frames, np.float32(255.0), dtype=np.float32)
    np.clip(x, 0.0, 255.0, out=x)
    np.rint(x, out=x)
    out = np.empty((x.shape[0], x.shape[2], x.shape[3], x.shape[1]), np.uint8)
    np.copyto(out, x.transpose(0, 2, 3, 1), casting="unsafe")
    return out


class Decoder:
    """Decode frames of ``package`` with ``backend`` in ``precision``, ``batch`` frames per call.

    ``backend="auto"`` picks the fastest available backend; ``precision="auto"`` its fastest precision
    that the package's quality guard trusts (``nervkit.runtime.precision``). After construction
    ``backend`` and ``precision`` are the resolved names (``openvino``, ``bf16`` ...). The graph is checked
    at ``batch`` and the memory estimate refused above ``max_memory`` bytes before any session exists.
    While a batch runs, the next batch's embeddings are entropy-decoded in a second thread.
    """

    def __init__(self, package: Package, backend: str = "auto", batch: int = 1, precision: str = "auto",
                 max_memory: int = DEFAULT_MAX_MEMORY):
        if batch < 1:
            raise UserError(f"batch must be at least 1, got {batch}")
        self.package, self.batch = package, batch
        self.backend, self.precision = backends.resolve(backend, precision, package)
        self._impl = backends.create(self.backend, package, batch, self.precision, max_memory)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="nerv-entropy")

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        n = self.package.num_frames
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise UserError(f"frames {start}:{stop} are outside the package's 0:{n}")
        return start, stop

    def _feeds(self, start: int, stop: int | None) -> Iterator[dict[str, np.ndarray]]:
        """Each batch's embeddings, the next one decoding while the caller runs the network."""
        start, stop = self._range(start, stop)
        bounds = [(a, min(a + self.batch, stop)) for a in range(start, stop, self.batch)]
        pending = self._reader.submit(self.package.embeddings, *bounds[0])
        for k in range(len(bounds)):
            feeds = pending.result()
            if k + 1 < len(bounds):
                pending = self._reader.submit(self.package.embeddings, *bounds[k + 1])
            yield feeds

    def decode_batches(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """float32 ``[n, 3, H, W]`` in [0, 1] per batch (``n <= batch``) for frames ``[start, stop)``."""
        for feeds in self._feeds(start, stop):
            yield self._impl.run(feeds)

    def decode_float(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """All frames ``[start, stop)`` as one float32 array ``[n, 3, H, W]`` in [0, 1]."""
        return np.concatenate(list(self.decode_batches(start, stop)))

    def decode_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """uint8 RGB ``[n, H, W, 3]`` per batch for frames ``[start, stop)`` (``to_uint8`` of the float
        frames, done inside the backend where it can)."""
        run_uint8 = getattr(self._impl, "run_uint8", None)
        for feeds in self._feeds(start, stop):
            yield run_uint8(feeds) if run_uint8 else to_uint8(self._impl.run(feeds))

    def decode_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as uint8 RGB ``[H, W, 3]``."""
        return next(self.decode_frames(index, index + 1))[0]

    def close(self) -> None:
        self._reader.shutdown(wait=True)
        self._impl.close()

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
