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


def _same(frames: np.ndarray) -> np.ndarray:
    return frames


class Decoder:
    """Decode frames of ``package`` with ``backend`` in ``precision``, ``batch`` frames per call.

    ``backend="auto"`` picks the fastest available backend; ``precision="auto"`` its fastest precision
    that the package's quality guard trusts (``nervkit.runtime.precision``). After construction
    ``backend`` and ``precision`` are the resolved names (``openvino``, ``bf16`` ...). The graph is checked
    at ``batch`` and the memory estimate refused above ``max_memory`` bytes before any session exists.
    The package's decode plan (``nervkit.runtime.plan``) says which graph runs make which frame; with
    a per-frame plan, the next batch's embeddings are entropy-decoded in a second thread while a batch
    runs. ``auto`` picks among the backends the plan's graph runs on.
    """

    def __init__(self, package: Package, backend: str = "auto", batch: int = 1, precision: str = "auto",
                 max_memory: int = DEFAULT_MAX_MEMORY):
        if batch < 1:
            raise UserError(f"batch must be at least 1, got {batch}")
        self.package, self.batch, self.plan = package, batch, package.plan
        if backend == "auto" and self.plan.backends is not None:
            backend = next((b for b in backends.available_backends() if b in self.plan.backends),
                           self.plan.backends[-1])
        self.backend, self.precision = backends.resolve(backend, precision, package)
        if self.plan.backends is not None and self.backend not in self.plan.backends:
            raise UserError(f"backend {self.backend!r} cannot run this package's {self.plan.kind} plan; "
                            f"use {' or '.join(self.plan.backends)}")
        self._impl = backends.create(self.backend, package, batch, self.precision, max_memory)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="nerv-entropy")
        self._made: dict[int, np.ndarray] = {}
        """Frames a plan made by graph runs that a later call may reference again (a ``gop`` plan's
        enhanced frames of the groups last decoded), so consecutive calls never redo a run."""

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        n = self.package.num_frames
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise UserError(f"frames {start}:{stop} are outside the package's 0:{n}")
        return start, stop

    def _batches(self, run_final, finish, start: int, stop: int | None) -> Iterator[np.ndarray]:
        start, stop = self._range(start, stop)
        yield from self.plan.batches(self.package, self._impl.run, run_final, finish, start, stop, self.batch,
                                     self._reader, self._made)

    def decode_batches(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """float32 ``[n, 3, H, W]`` in [0, 1] per batch (``n <= batch``) for frames ``[start, stop)``."""
        yield from self._batches(self._impl.run, _same, start, stop)

    def decode_float(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """All frames ``[start, stop)`` as one float32 array ``[n, 3, H, W]`` in [0, 1]."""
        return np.concatenate(list(self.decode_batches(start, stop)))

    def decode_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """uint8 RGB ``[n, H, W, 3]`` per batch for frames ``[start, stop)`` (``to_uint8`` of the float
        frames, done inside the backend where it can)."""
        run_uint8 = getattr(self._impl, "run_uint8", None) or (lambda feeds: to_uint8(self._impl.run(feeds)))
        yield from self._batches(run_uint8, to_uint8, start, stop)

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
