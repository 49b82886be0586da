"""Fuzz the package reader: mutated packages must give PackageError (or decode), never any other
exception, crash or hang. Two kinds of mutation: raw byte edits (caught by the checksums), and manifest
edits re-signed with a valid checksum (reaching the schema, stream and graph checks behind them)."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_nvpkg import make_tiny

from nervkit.runtime import Decoder, PackageError, open_package

HEADER = struct.Struct("<8sHHIQ32s")
# bounded: 150 examples per test, each under 2 s (a hang fails the deadline)
SETTINGS = settings(max_examples=150, deadline=2000, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("fuzz"), frames=3)[1].read_bytes()


def _read_all(data: bytes) -> None:
    """What a player does: open, build a decoder, decode every frame."""
    try:
        with open_package(data) as pkg, Decoder(pkg, backend="ort-cpu", batch=2) as dec:
            for frames in dec.decode_frames():
                assert frames.shape[1:] == (pkg.height, pkg.width, 3)
    except PackageError as err:
        assert "\n" not in str(err).strip()


@SETTINGS
@given(data=st.data())
def test_fuzz_raw_bytes(original, data):
    buf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del buf[pos:pos + data.draw(st.integers(1, 16))]
    _read_all(bytes(buf))


_VALUES = st.one_of(st.integers(-2, 3), st.integers(-(2 ** 63), 2 ** 64), st.just(None), st.text(max_size=5),
                    st.floats(allow_nan=True), st.lists(st.integers(-1, 1 << 40), max_size=4), st.just({}))


def _paths(obj, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@SETTINGS
@given(data=st.data())
def test_fuzz_resigned_manifest(original, data):
    fields = HEADER.unpack(original[:HEADER.size])
    mlen = fields[4]
    manifest = json.loads(original[HEADER.size:HEADER.size + mlen])
    area = original[HEADER.size + mlen:]
    paths = [p for p, _ in _paths(manifest) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = manifest
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()):
                parent[path[-1]] = data.draw(_VALUES)
            elif isinstance(parent, dict):
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    text = json.dumps(manifest).encode()
    head = HEADER.pack(fields[0], fields[1], fields[2], fields[3], len(text), hashlib.sha256(text).digest())
    _read_all(head + text + area)
