"""TensorRT backend ``trt``: runs the engine ``nerv-export --trt`` built and cached for this package.

One engine per package and precision serves every batch from 1 to ``MAX_BATCH``: it is built with one
optimisation profile over that batch range (optimum ``OPT_BATCH``, nerv-play's default batch) and cached
by package hash, precision, batch range, GPU name and TensorRT version (an engine is valid only for the
GPU and TensorRT that built it); a batch is looked up by the range that holds it. Building needs the
export side (torch, the graph passes, the Haar plugins), so the runtime only loads. The Haar plugins are
AOT plugins: their PTX is inside the engine, so deserializing needs no plugin registration and no Python
plugin code. Device buffers, the stream and copies use pycuda, as the design card names. NVIDIA's
current Python binding is cuda-python (``cuda.bindings``); it is the maintained choice and should
replace pycuda when the extra is next revised (the calls used here, allocation, async copies and a
stream, map one-to-one).

tensorrt and pycuda are imported lazily; neither is needed to import the runtime.

Unverified here: TensorRT cannot be installed on our machines; written from NVIDIA's TensorRT 10 Python
API documentation (``Runtime``, ``ICudaEngine``, ``IExecutionContext.set_input_shape``,
``set_tensor_address``, ``execute_async_v3``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import UserError

EXTRA_HINT = "install the 'tensorrt' extra (pip install 'nervkit[tensorrt]') on a machine with an NVIDIA GPU"
CACHE_ENV = "NERVKIT_CACHE"
PRECISIONS = ("fp16", "fp32")
"""Precisions of the engines ``nerv-export --trt --precision`` builds, fastest first."""
MIN_BATCH, OPT_BATCH, MAX_BATCH = 1, 4, 32
"""The engine's batch profile: any batch in ``[MIN_BATCH, MAX_BATCH]``, tuned for ``OPT_BATCH``."""


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"{name.split('.')[0]} is not installed: {EXTRA_HINT}") from None


def import_tensorrt():
    return _import("tensorrt")


def import_pycuda():
    """``pycuda.driver`` with a context on device 0 (``pycuda.autoinit``)."""
    _import("pycuda.autoinit")
    return _import("pycuda.driver")


def cache_dir() -> Path:
    """``$NERVKIT_CACHE/trt`` or ``~/.cache/nervkit/trt``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nervkit") / "trt"


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def engine_key(package_sha256: str, precision: str, gpu_name: str, trt_version: str,
               batches: tuple[int, int] = (MIN_BATCH, MAX_BATCH)) -> str:
    """File-name-safe cache key over everything that makes an engine valid, its batch range included."""
    text = "|".join((package_sha256, precision, f"{batches[0]}-{batches[1]}", gpu_name, trt_version))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def unavailable(name: str) -> str | None:
    for module in ("tensorrt", "pycuda"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {EXTRA_HINT}"
    return None


def precisions(name: str) -> tuple[str, ...]:
    return PRECISIONS


def find_engine(package_path, batch: int, precision: str) -> Path | None:
    """The cached engine of this package in ``precision`` whose batch range holds ``batch``, or None."""
    if not MIN_BATCH <= batch <= MAX_BATCH:
        raise UserError(f"batch {batch}: TensorRT engines are built for batches {MIN_BATCH}..{MAX_BATCH}")
    trt, cuda = import_tensorrt(), import_pycuda()
    key = engine_key(file_sha256(package_path), precision, cuda.Device(0).name(), trt.__version__)
    path = cache_dir() / f"{key}.engine"
    return path if path.exists() else None


class TrtBackend:
    """Runs one serialized engine: ``run(feeds) -> frames`` on the host, the stream synchronised."""

    def __init__(self, engine_path: Path, name: str = "trt", precision: str = "fp32"):
        self.name, self.precision = name, precision
        trt, self._cuda = import_tensorrt(), import_pycuda()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self._logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise UserError(f"{engine_path}: TensorRT could not load this engine (other GPU or TensorRT?)")
        self.context = self.engine.create_execution_context()
        self.stream = self._cuda.Stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output = next(n for n in names if n not in self.inputs)
        self._buffers = {}

    def _device(self, name: str, nbytes: int):
        buf = self._buffers.get(name)
        if buf is None or buf[1] < nbytes:
            buf = self._buffers[name] = (self._cuda.mem_alloc(nbytes), nbytes)
        return buf[0]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        for name in self.inputs:
            host = np.ascontiguousarray(feeds[name], dtype=np.float32)
            self.context.set_input_shape(name, host.shape)
            dev = self._device(name, host.nbytes)
            self._cuda.memcpy_htod_async(dev, host, self.stream)
            self.context.set_tensor_address(name, int(dev))
        out = np.empty(tuple(self.context.get_tensor_shape(self.output)), np.float32)
        dev_out = self._device(self.output, out.nbytes)
        self.context.set_tensor_address(self.output, int(dev_out))
        self.context.execute_async_v3(self.stream.handle)
        self._cuda.memcpy_dtoh_async(out, dev_out, self.stream)
        self.stream.synchronize()
        return out

    def close(self) -> None:
        self._buffers.clear()
        self.context = self.engine = None


def create(package, batch: int, name: str, precision: str = "fp32") -> TrtBackend:
    path = find_engine(package.path, batch, precision)
    if path is None:
        raise UserError(f"no {precision} TensorRT engine cached for {package.path} on this GPU: build it with "
                        f"nerv-export MODEL -o {package.path} --trt --precision {precision}")
    return TrtBackend(path, name, precision)
