"""``write_package``: the one writer of ``.nvpkg`` files, and ``write_enhancer`` of the shared enhancer
files packages name by hash (export calls them; see docs/nvpkg-format.md)."""

from __future__ import annotations

import math
import os

import numpy as np

from .container import write_container
from .entropy import encode_stream
from .package import open_enhancer, open_package
from .quant import Quantized

WEIGHT_CHUNK = 4096
"""Weight symbols per chunk: chunks decode in parallel (Huffman) for 4 bytes of index each."""
DEFAULT_COLOUR = {"space": "rgb", "primaries": "bt709", "transfer": "srgb", "range": "full"}
"""What frames decode to: full-range 8-bit RGB, as the models are trained on."""


def _record(name: str, q: Quantized, params: bytearray) -> dict:
    dtype = np.dtype(q.mins.dtype).newbyteorder("<")
    if dtype.name not in ("float16", "float32"):
        raise ValueError(f"{name}: min/scale must be float16 or float32, got {dtype.name}")
    rec = {"name": name, "shape": list(q.codes.shape), "bits": int(q.bits), "param_shape": list(q.mins.shape),
           "param_dtype": dtype.name}
    for key, arr in (("min_offset", q.mins), ("scale_offset", q.scales)):
        rec[key] = len(params)
        params += np.ascontiguousarray(arr, dtype=dtype).tobytes()
    return rec


def _code_weights(weights: dict[str, Quantized], params: bytearray) -> tuple[dict, bytes]:
    """The manifest's ``weights`` entry and the coded weight stream (min/scale appended to ``params``)."""
    tensors = [_record(name, q, params) for name, q in weights.items()]
    blob, coder = encode_stream(np.concatenate([q.codes.ravel() for q in weights.values()]), WEIGHT_CHUNK)
    return {"stream": "weights", "coder": coder, "tensors": tensors}, blob


def write_enhancer(path: str | os.PathLike, *, config: dict, weights: dict[str, Quantized],
                   extra: dict | None = None) -> int:
    """Write a shared enhancer file (``.nvenh``): a container whose manifest (``format`` ``nvenh``, the
    enhancer ``config``, ``extra``) describes only entropy-coded weights, as a package's; packages name it
    by SHA-256 and size (``write_package(..., enhancer=path)``). Returns its size in bytes."""
    params = bytearray()
    entry, blob = _code_weights(weights, params)
    manifest = {"format": "nvenh", "config": config, "params_section": "params", "weights": entry, **(extra or {})}
    return write_container(path, manifest, {"weights": blob, "params": bytes(params)},
                           check=lambda tmp: open_enhancer(tmp).source.close())


def write_package(path: str | os.PathLike, *, family: str, config: dict, video: dict, graph: bytes,
                  weights: dict[str, Quantized], embeddings: dict[str, Quantized], extra: dict | None = None,
                  plan: dict | None = None, inputs: dict[str, list[int]] | None = None,
                  streams: dict[str, bytes] | None = None, enhancer: str | os.PathLike | None = None) -> int:
    """Entropy-code ``weights`` and ``embeddings`` and write one package; returns its size in bytes.

    ``family``, ``config``: the registered model name and its config as plain JSON (what the trainer
    rebuilds the model from; the runtime never reads it).
    ``video``: ``num_frames``, ``height``, ``width``, ``fps`` (+ optional ``colour``, ``source``).
    ``graph``: ONNX bytes whose initializers named in ``weights`` are external.
    ``embeddings``: per graph input, codes ``[num_frames, ...]``; each frame becomes one chunk.
    ``extra``: more manifest entries (compression settings, quality statistics).
    ``plan``: the decode plan (:mod:`.plan`; default ``{"kind": "per-frame"}``), ``inputs``: the graph's
    inputs with their per-frame shapes when the plan, not the embeddings, defines them, ``streams``:
    sections stored as they are (a ``gop`` plan's base-codec bitstreams), named by the plan.
    ``enhancer``: the shared enhancer file (:func:`write_enhancer`) that a ``gop`` plan names by hash
    (``plan["enhancer"]``) and that holds the graph's weights; ``weights`` is then empty.
    """
    params = bytearray()
    sections = {"graph": graph}
    weight_entry = {}
    if weights:
        weight_entry["weights"], sections["weights"] = _code_weights(weights, params)
    embeds = {}
    for name, q in embeddings.items():
        blob, coder = encode_stream(q.codes, math.prod(q.codes.shape[1:]))
        sections[f"embed.{name}"] = blob
        embeds[name] = {**_record(name, q, params), "stream": f"embed.{name}", "coder": coder}
    sections.update(streams or {})
    sections["params"] = bytes(params)
    manifest = {
        "format": "nvpkg",
        "family": family,
        "config": config,
        "video": {"colour": DEFAULT_COLOUR, "source": "", **video},
        "graph": {"section": "graph", "output": "frames",
                  "inputs": inputs or {k: list(q.codes.shape[1:]) for k, q in embeddings.items()}},
        "plan": plan or {"kind": "per-frame"},
        "params_section": "params",
        **weight_entry,
        "embeddings": embeds,
        **(extra or {}),
    }
    return write_container(path, manifest, sections, compress=frozenset({"graph"}),
                           check=lambda tmp: open_package(tmp, enhancer).close())
