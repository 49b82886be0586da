"""Replace the decoder graph inside a package and re-sign it: how the crafted-graph tests build attacks."""

from __future__ import annotations

import hashlib
import zlib

import onnx
from test_nvpkg import join, split


def package_graph(data: bytes) -> onnx.ModelProto:
    """The decoder graph stored in package bytes ``data``, parsed independently of the reader."""
    _, manifest, area = split(data)
    entry = manifest["sections"]["graph"]
    raw = area[entry["offset"]:entry["offset"] + entry["length"]]
    return onnx.ModelProto.FromString(zlib.decompress(raw) if entry["compression"] == "zlib" else raw)


def with_graph(data: bytes, graph: bytes) -> bytes:
    """``data`` with its graph section replaced by ``graph`` (stored raw), checksums and offsets redone."""
    fields, manifest, area = split(data)
    entry = manifest["sections"]["graph"]
    start, end = entry["offset"], entry["offset"] + entry["length"]
    area = area[:start] + graph + area[end:]
    for other in manifest["sections"].values():
        if other["offset"] > start:
            other["offset"] += len(graph) - entry["length"]
    entry.update(length=len(graph), raw_length=len(graph), compression="none",
                 sha256=hashlib.sha256(graph).hexdigest())
    return join(fields, manifest, area)
