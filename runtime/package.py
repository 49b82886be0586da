"""``open_package``: a validated ``.nvpkg`` with its video metadata, decode plan, weights and per-frame
embeddings.

Everything is checked when the package is opened (container checksums, manifest schema and caps,
stream headers against the tensor shapes they must fill), so later reads fail only if the file is
changed underneath. Embeddings are decoded on demand, one chunk (= one frame) at a time: decoding
frame i reads that frame's coded bytes and nothing else.
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np

from .container import Container, Source
from .entropy import CodedStream
from .errors import PackageError, UserError
from .graph_rules import GraphFacts, check_graph
from .plan import parse_plan
from .quant import dequantize

MAX_FRAMES = 1 << 20
MAX_SIDE = 1 << 14
"""Largest frame height or width (16384 pixels)."""
MAX_WEIGHTS = 1 << 26
"""Largest decoder (64 M parameters; 256 MiB in float32): bounds memory for a hostile manifest."""
MAX_FRAME_ELEMENTS = 1 << 22
"""Largest per-frame decoder input (4 M values per frame and input)."""
_PARAM_DTYPES = {"float16": np.dtype("<f2"), "float32": np.dtype("<f4")}


def _bad(msg: str) -> PackageError:
    return PackageError(f"invalid manifest: {msg}")


def _get(d, key: str, kind, where: str):
    if not isinstance(d, dict) or key not in d:
        raise _bad(f"{where} lacks {key!r}")
    value = d[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(f"{where}.{key} must be an integer")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise _bad(f"{where}.{key} must be a number")
    if kind not in (int, float) and not isinstance(value, kind):
        raise _bad(f"{where}.{key} has the wrong type")
    return value


def _int(d, key: str, lo: int, hi: int, where: str) -> int:
    value = _get(d, key, int, where)
    if not lo <= value <= hi:
        raise _bad(f"{where}.{key} = {value} is outside [{lo}, {hi}]")
    return value


def _shape(value, where: str, max_elements: int) -> tuple[int, ...]:
    if (not isinstance(value, list) or not 0 < len(value) <= 8
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
        raise _bad(f"{where} must be a list of 1..8 positive integers")
    if math.prod(value) > max_elements:
        raise _bad(f"{where} {value} has more than {max_elements} elements")
    return tuple(value)


class QuantTensor:
    """Manifest record of one quantised tensor: shape, bits, and where its min/scale live.

    ``min``/``scale`` have ``param_shape``, broadcastable to ``shape``; they are stored raw (float16 or
    float32, little-endian) at byte offsets of the ``params`` section.
    """

    def __init__(self, rec: dict, where: str, max_elements: int, params: bytes):
        self.name = _get(rec, "name", str, where)
        self.shape = _shape(_get(rec, "shape", list, where), f"{where}.shape", max_elements)
        self.bits = _int(rec, "bits", 1, 16, where)
        pshape = _shape(_get(rec, "param_shape", list, where), f"{where}.param_shape", max_elements)
        pairs = zip(pshape, self.shape, strict=False)
        if len(pshape) != len(self.shape) or any(p not in (1, s) for p, s in pairs):
            raise _bad(f"{where}.param_shape {list(pshape)} does not broadcast to {list(self.shape)}")
        dtype = _PARAM_DTYPES.get(_get(rec, "param_dtype", str, where))
        if dtype is None:
            raise _bad(f"{where}.param_dtype must be one of {sorted(_PARAM_DTYPES)}")
        nbytes = math.prod(pshape) * dtype.itemsize
        arrays = []
        for key in ("min_offset", "scale_offset"):
            off = _int(rec, key, 0, len(params), where)
            if off + nbytes > len(params):
                raise _bad(f"{where}.{key} points past the end of the params section")
            flat = np.frombuffer(params, dtype=dtype, count=math.prod(pshape), offset=off)
            arrays.append(flat.reshape(pshape))
        self.mins, self.scales = arrays
        if not (np.isfinite(self.mins).all() and np.isfinite(self.scales).all()):
            raise _bad(f"{where} has non-finite min/scale values")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def check_codes(self, codes: np.ndarray) -> None:
        if codes.size and int(codes.max()) >= 1 << self.bits:
            raise PackageError(f"{self.name}: decoded code exceeds {self.bits} bits")


def _read_weights(container: Container) -> tuple[list[QuantTensor], CodedStream]:
    """The quantised tensors and the coded weight stream that ``container``'s manifest describes."""
    m = container.manifest
    params = container.section(_get(m, "params_section", str, "manifest"))
    weights = _get(m, "weights", dict, "manifest")
    recs = _get(weights, "tensors", list, "weights")
    if not recs:
        raise _bad("weights.tensors is empty")
    tensors = [QuantTensor(r, f"weights.tensors[{i}]", MAX_WEIGHTS, params) for i, r in enumerate(recs)]
    if sum(t.size for t in tensors) > MAX_WEIGHTS:
        raise _bad(f"the decoder has more than {MAX_WEIGHTS} weights")
    if len({t.name for t in tensors}) != len(tensors):
        raise _bad("weights.tensors has duplicate names")
    stream = CodedStream(*container.reader(_get(weights, "stream", str, "weights")))
    if stream.n_symbols != sum(t.size for t in tensors):
        raise _bad("the weight stream's symbol count does not match the tensor shapes")
    return tensors, stream


def file_sha256(source: Source) -> str:
    """SHA-256 (hex) of all of ``source``'s bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    for offset in range(0, source.size, 1 << 20):
        h.update(source.read(offset, min(1 << 20, source.size - offset)))
    return h.hexdigest()


def open_enhancer(path: str | os.PathLike | None, ref: dict | None = None, named_by: str = "") -> Container:
    """Open and validate a shared enhancer file (``.nvenh``: the container of a package holding only an
    enhancer's coded weights, manifest ``format`` ``nvenh``). With ``ref`` (``{"sha256", "bytes"}``, what a
    package ``named_by`` names) the file must be exactly that one: a missing file or another one is a
    one-line ``UserError`` before anything else is read."""
    if ref is not None and path is None:
        raise UserError(f"{named_by}: its enhancer is a shared file ({ref['bytes']:,} bytes, SHA-256 "
                        f"{ref['sha256'][:16]}...) that the package names but does not hold: pass it with "
                        "--enhancer FILE")
    source = Source(path)
    try:
        if ref is not None and (source.size != ref["bytes"] or file_sha256(source) != ref["sha256"]):
            raise PackageError(f"--enhancer {path}: not the enhancer {named_by} names ({ref['bytes']:,} bytes, "
                               f"SHA-256 {ref['sha256'][:16]}...)")
        container = Container(source)
        if container.manifest.get("format") != "nvenh":
            raise PackageError(f"{path}: not a shared enhancer file (.nvenh)")
        _read_weights(container)
        return container
    except BaseException:
        source.close()
        raise


def add_enhancer_argument(parser) -> None:
    """``--enhancer FILE``, the same in every tool that opens packages."""
    parser.add_argument("--enhancer", metavar="FILE", help="the shared enhancer file (.nvenh) that a temporal "
                        "down-sampling package names by SHA-256 instead of holding it")


class Package:
    """An opened, validated package. Use ``open_package``; close it (or use ``with``) when done.

    ``enhancer``: the shared enhancer file a ``gop`` plan names by hash (``None`` for every other package).
    """

    def __init__(self, source: Source, enhancer: str | os.PathLike | None = None):
        self._container = Container(source)
        self.path = source.name
        self.file_size = source.size
        self.version = self._container.version
        m = self.manifest = self._container.manifest
        if m.get("format") != "nvpkg":
            raise _bad("format is not 'nvpkg'")
        self.family = _get(m, "family", str, "manifest")
        # the family's config, plain JSON; None in packages written before nerv-export stored it
        self.config = _get(m, "config", dict, "manifest") if "config" in m else None
        video = _get(m, "video", dict, "manifest")
        self.num_frames = _int(video, "num_frames", 1, MAX_FRAMES, "video")
        self.height = _int(video, "height", 1, MAX_SIDE, "video")
        self.width = _int(video, "width", 1, MAX_SIDE, "video")
        self.fps = float(_get(video, "fps", float, "video"))
        if not 0 < self.fps <= 1000:
            raise _bad(f"video.fps = {self.fps} is outside (0, 1000]")
        graph = _get(m, "graph", dict, "manifest")
        self._graph = self._container.section(_get(graph, "section", str, "graph"))
        inputs = _get(graph, "inputs", dict, "graph")
        if not inputs:
            raise _bad("graph.inputs is empty")
        self.embed_names = tuple(inputs)
        """The graph's inputs in order (the per-frame embeddings, for a per-frame plan)."""
        self.embed_shapes = {k: _shape(v, f"graph.inputs.{k}", MAX_FRAME_ELEMENTS) for k, v in inputs.items()}
        self.plan = parse_plan(m, self.num_frames, self._container.sections)
        dictated = self.plan.graph_inputs(self.height, self.width)
        if dictated is not None and self.embed_shapes != dictated:
            raise _bad(f"graph.inputs must be {dictated} for a {self.plan.kind} plan")
        if _get(graph, "output", str, "graph") != "frames":
            raise _bad("graph.output must be 'frames'")
        params = self._container.section(_get(m, "params_section", str, "manifest"))
        self._shared = None
        if self.plan.enhancer_ref is None:
            if enhancer is not None:
                raise UserError(f"--enhancer {enhancer}: {self.path} holds its own decoder weights; it names no "
                                "shared enhancer")
            self.weight_tensors, self._weight_stream = _read_weights(self._container)
        else:
            self._shared = open_enhancer(enhancer, self.plan.enhancer_ref, self.path)
            self.weight_tensors, self._weight_stream = _read_weights(self._shared)

        embeds = _get(m, "embeddings", dict, "manifest")
        embedded = self.embed_names if self.plan.embedded else ()
        if set(embeds) != set(embedded):
            raise _bad(f"embeddings must name {list(embedded)} for a {self.plan.kind} plan")
        self._embeds = {}
        for name in embedded:
            rec = _get(embeds, name, dict, "embeddings")
            q = QuantTensor(rec, f"embeddings.{name}", MAX_FRAMES * MAX_FRAME_ELEMENTS, params)
            if q.shape != (self.num_frames, *self.embed_shapes[name]):
                raise _bad(f"embeddings.{name} shape {list(q.shape)} is not [frames, *graph input shape]")
            stream = self._stream(_get(rec, "stream", str, f"embeddings.{name}"))
            if stream.chunk_len != q.size // self.num_frames or stream.n_symbols != q.size:
                raise _bad(f"embeddings.{name}: its stream is not one chunk per frame")
            self._embeds[name] = (q, stream)
        self.graph_facts = self.check_graph(1)

    def check_graph(self, batch: int) -> GraphFacts:
        """Apply the graph rules (:mod:`.graph_rules`) to the decoder graph run at ``batch``."""
        return check_graph(self._graph, inputs=self.embed_shapes, outputs={"frames": (3, self.height, self.width)},
                           weights={t.name: t.shape for t in self.weight_tensors}, batch=batch,
                           flavour=self.plan.graph_flavour)

    def memory_estimate(self, facts: GraphFacts) -> int:
        """Bytes a decoder of this package needs at ``facts.batch``: the float32 weights twice (ours and the
        backend's packed copy), the inline constants twice, the graph's working set, and per frame its
        inputs plus the float and uint8 output, and what the decode plan holds (a ``gop`` plan's decoded
        base frames)."""
        frame = 3 * self.height * self.width
        per_frame = 4 * sum(math.prod(s) for s in self.embed_shapes.values()) + 5 * frame
        return (8 * self.num_weights + 2 * facts.constant_bytes + facts.working_set + facts.batch * per_frame
                + self.plan.resident_bytes(self.height, self.width))

    def _stream(self, section: str) -> CodedStream:
        return CodedStream(*self._container.reader(section))

    @property
    def num_weights(self) -> int:
        return sum(t.size for t in self.weight_tensors)

    def graph_bytes(self) -> bytes:
        """The decoder graph: ONNX bytes whose weight initializers are external (see ``weights()``)."""
        return self._graph

    def section(self, key: str) -> bytes:
        """The whole (checked) section ``key``, e.g. a base-codec bitstream of a ``gop`` plan."""
        return self._container.section(key)

    def weights(self) -> dict[str, np.ndarray]:
        """Dequantised decoder weights, float32, keyed by ONNX initializer name."""
        codes = self._weight_stream.decode()
        out, pos = {}, 0
        for t in self.weight_tensors:
            c = codes[pos:pos + t.size].reshape(t.shape)
            t.check_codes(c)
            out[t.name] = np.ascontiguousarray(dequantize(c, t.mins, t.scales))
            pos += t.size
        return out

    def embeddings(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Dequantised decoder inputs of frames ``[start, stop)``: ``{name: float32 [n, *shape]}``.

        Reads and entropy-decodes only those frames' chunks.
        """
        if not 0 <= start < stop <= self.num_frames:
            raise IndexError(f"frames [{start}, {stop}) outside [0, {self.num_frames})")
        out = {}
        for name, (q, stream) in self._embeds.items():
            codes = stream.decode(start, stop).reshape((stop - start, *q.shape[1:]))
            q.check_codes(codes)
            pick = slice(None) if q.mins.shape[0] == 1 else slice(start, stop)
            out[name] = np.ascontiguousarray(dequantize(codes, q.mins[pick], q.scales[pick]))
        return out

    def coders(self) -> dict[str, str]:
        """Which entropy coder each stream uses (``huffman`` or ``ans``)."""
        out = {"weights": self._weight_stream.coder}
        out.update({f"embeddings.{k}": s.coder for k, (_, s) in self._embeds.items()})
        return out

    def close(self) -> None:
        self._container.source.close()
        if self._shared is not None:
            self._shared.source.close()

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_package(path: str | os.PathLike | bytes, enhancer: str | os.PathLike | None = None) -> Package:
    """Open and validate a ``.nvpkg`` file (or its bytes). Raises ``PackageError`` on any defect.

    ``enhancer``: the shared enhancer file (``.nvenh``) the package names by SHA-256, when it names one."""
    source = Source(path)
    try:
        return Package(source, enhancer)
    except BaseException:
        source.close()
        raise
