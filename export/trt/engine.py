"""Build a TensorRT engine from the TensorRT-flavoured decoder ONNX, with timing and engine caches.

The graph is the TensorRT flavour (``optimize_for(graph, "trt", precision)``) of the one exported graph
(:func:`nervkit.export.build.export_decoder`), so the engine computes what the package decodes.

Written from NVIDIA's TensorRT 10 Python API documentation (``Builder``, ``OnnxParser``,
``IBuilderConfig``, ``IOptimizationProfile``, ``ITimingCache``); TensorRT cannot be installed on our own
machines, so this path is exercised only where TensorRT and a GPU exist (tests skip elsewhere).

- The network is strongly typed (TensorRT 11 builds nothing else): the precision comes from the ONNX
  (``optimize_for(..., precision="fp16")``), not from builder flags.
- One optimisation profile per input over the runtime's batch range (``MIN_BATCH`` .. ``MAX_BATCH``,
  optimum ``OPT_BATCH``); other dims static. One engine serves every batch the player or bench asks for.
- The timing cache is loaded from and saved to the cache directory, so rebuilding for another package on
  the same GPU reuses kernel timings.
- Engines are cached under a key of package hash, precision, batch range, GPU name and TensorRT version: an
  engine is only valid for the GPU and TensorRT version that built it.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ...runtime.atomic import write_atomic
from ...runtime.backends.trt import (
    MAX_BATCH,
    MIN_BATCH,
    OPT_BATCH,
    cache_dir,
    engine_key,
    file_sha256,
    import_pycuda,
    import_tensorrt,
)
from ...runtime.errors import UserError


def build_engine(graph: onnx.ModelProto, batches: tuple[int, int, int] = (MIN_BATCH, OPT_BATCH, MAX_BATCH),
                 timing_cache: Path | None = None) -> bytes:
    """Serialized engine for ``graph`` (TensorRT-flavoured ONNX, Haar plugins registered beforehand) with
    one optimisation profile over ``batches`` = (min, opt, max) (``IOptimizationProfile.set_shape``)."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(graph.SerializeToString()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"TensorRT could not parse the decoder graph: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        rest = tuple(tensor.shape)[1:]
        profile.set_shape(tensor.name, *((b, *rest) for b in batches))
    config.add_optimization_profile(profile)
    blob = timing_cache.read_bytes() if timing_cache is not None and timing_cache.exists() else b""
    cache = config.create_timing_cache(blob)
    config.set_timing_cache(cache, ignore_mismatch=False)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise UserError("TensorRT failed to build an engine for the decoder graph (see its log above)")
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(memoryview(config.get_timing_cache().serialize()))
    return bytes(engine)


def cached_engine(package_path: str | os.PathLike, graph: onnx.ModelProto, precision: str) -> Path:
    """Path of the engine for this package, building it (and registering the plugins) on a cache miss."""
    from .plugins import register_plugins

    trt = import_tensorrt()
    gpu = import_pycuda().Device(0).name()
    key = engine_key(file_sha256(package_path), precision, gpu, trt.__version__)
    path = cache_dir() / f"{key}.engine"
    if not path.exists():
        register_plugins()
        engine = build_engine(graph, timing_cache=cache_dir() / f"timing-{trt.__version__}.cache")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, engine)
    return path
