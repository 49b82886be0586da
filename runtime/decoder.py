"""``Decoder``: frames of a package, decoded by a backend in batches, as float or uint8 RGB."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import backends
from .errors import UserError
from .package import Package


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """float ``[n, 3, H, W]`` in [0, 1] -> uint8 RGB ``[n, H, W, 3]`` (round to nearest, clipped)."""
    return np.rint(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1).copy()


class Decoder:
    """Decode frames of ``package`` with ``backend`` (``auto`` = fastest available), ``batch`` at a time.

    ``backend`` after construction is the resolved name (``ort-cpu`` ...).
    """

    def __init__(self, package: Package, backend: str = "auto", batch: int = 1):
        if batch < 1:
            raise UserError(f"batch must be at least 1, got {batch}")
        self.package, self.batch = package, batch
        self.backend = backends.resolve(backend)
        self._impl = backends.create(self.backend, package, batch)

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        n = self.package.num_frames
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise UserError(f"frames {start}:{stop} are outside the package's 0:{n}")
        return start, stop

    def decode_batches(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """float32 ``[n, 3, H, W]`` in [0, 1] per batch (``n <= batch``) for frames ``[start, stop)``."""
        start, stop = self._range(start, stop)
        for a in range(start, stop, self.batch):
            b = min(a + self.batch, stop)
            yield self._impl.run(self.package.embeddings(a, b))

    def decode_float(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """All frames ``[start, stop)`` as one float32 array ``[n, 3, H, W]`` in [0, 1]."""
        return np.concatenate(list(self.decode_batches(start, stop)))

    def decode_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """uint8 RGB ``[n, H, W, 3]`` per batch for frames ``[start, stop)``."""
        for frames in self.decode_batches(start, stop):
            yield to_uint8(frames)

    def decode_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as uint8 RGB ``[H, W, 3]``."""
        return next(self.decode_frames(index, index + 1))[0]

    def close(self) -> None:
        self._impl.close()

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
