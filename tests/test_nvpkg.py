"""The .nvpkg container: round trip through writer and reader, per-frame access, and every kind of
bad input the issue lists, each a PackageError (exit 2 from nerv-info) without writing anything."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zlib

import numpy as np
import pytest
from tiny import tiny_loaded

from nervkit.export.build import ExportOptions, build_package
from nervkit.export.quantize import quantize_tensor
from nervkit.runtime import PackageError, open_package
from nervkit.runtime.container import MAX_MANIFEST
from nervkit.runtime.info import main as info_main

HEADER = struct.Struct("<8sHHIQ32s")  # the documented layout (docs/nvpkg-format.md), restated here


def make_tiny(tmp_path, frames: int = 5, hw=(32, 64), name: str = "tiny.nvpkg", **opts):
    """A random-weight test-hnerv model, its LoadedModel, and its package path."""
    loaded = tiny_loaded(frames=frames, hw=hw)
    path = tmp_path / name
    report = build_package(loaded, path, ExportOptions(eval_frames=0, **opts))
    return loaded, path, report


def split(data: bytes):
    """(header fields, manifest dict, data area) of package bytes, parsed independently of the reader."""
    fields = HEADER.unpack(data[:HEADER.size])
    mlen = fields[4]
    return fields, json.loads(data[HEADER.size:HEADER.size + mlen]), data[HEADER.size + mlen:]


def join(fields, manifest: dict, area: bytes) -> bytes:
    """Re-sign a (modified) manifest: a structurally valid header with a correct checksum."""
    text = json.dumps(manifest).encode()
    return HEADER.pack(fields[0], fields[1], fields[2], fields[3], len(text),
                       hashlib.sha256(text).digest()) + text + area


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("pkg"))


def test_round_trip_metadata_and_embeddings(tiny):
    loaded, path, report = tiny
    with open_package(path) as pkg:
        assert (pkg.family, pkg.num_frames, pkg.height, pkg.width, pkg.fps) == ("test-hnerv", 5, 32, 64, 25.0)
        assert pkg.embed_names == ("embed",)
        assert pkg.file_size == path.stat().st_size == report["file_bytes"]
        # per-frame access equals the whole-range decode, and dequantised values are within half a step
        whole = pkg.embeddings(0, 5)["embed"]
        for i in range(5):
            np.testing.assert_array_equal(pkg.embeddings(i, i + 1)["embed"], whole[i:i + 1])
        # round trip: exactly the quantiser's codes, dequantised
        sent = quantize_tensor(loaded.embeddings["embed"], 6).dequantize()
        np.testing.assert_array_equal(whole, sent)
        # every decoder parameter, under its own name, with the quantiser's values
        params = {k: p for k, p in loaded.model.named_parameters() if not k.startswith("encoder.")}
        weights = pkg.weights()
        assert set(weights) == set(params)
        for k, p in params.items():
            np.testing.assert_array_equal(weights[k], quantize_tensor(p.detach(), 8).dequantize())
        assert pkg.config == json.loads(json.dumps(dataclasses.asdict(loaded.model.config)))


def test_frame_read_touches_only_that_frame(tiny, monkeypatch):
    _, path, _ = tiny
    with open_package(path) as pkg:
        reads = []
        source = pkg._container.source
        real = source.read
        monkeypatch.setattr(source, "read", lambda off, n: reads.append(n) or real(off, n))
        pkg.embeddings(3, 4)
        # one frame: 8x2x4 six-bit codes, at most ~64 bytes of payload plus nothing else
        assert reads and sum(reads) <= 64


def _check_bad(data: bytes, tmp_path, capsys, match: str):
    with pytest.raises(PackageError, match=match):
        open_package(data)
    bad = tmp_path / "bad.nvpkg"
    bad.write_bytes(data)
    assert info_main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nerv-info: error:") and "\n" not in err and "Traceback" not in err


def test_truncated_file(tiny, tmp_path, capsys):
    data = tiny[1].read_bytes()
    for cut in (0, 10, HEADER.size + 5, len(data) // 2, len(data) - 1):
        _check_bad(data[:cut], tmp_path, capsys, "too short|impossible|past the end|does not match")


def test_wrong_magic_and_major(tiny, tmp_path, capsys):
    data = tiny[1].read_bytes()
    _check_bad(b"PK\x03\x04" + data[4:], tmp_path, capsys, "bad magic")
    fields, manifest, area = split(data)
    newer = HEADER.pack(fields[0], 2, 0, *fields[3:]) + data[HEADER.size:]
    _check_bad(newer, tmp_path, capsys, "format 2.0 is not supported")


def test_flipped_bytes_fail_checksums(tiny, tmp_path, capsys):
    data = bytearray(tiny[1].read_bytes())
    mlen = split(bytes(data))[0][4]
    for pos in (HEADER.size + 3, HEADER.size + mlen + 7, len(data) - 3):
        mutated = bytearray(data)
        mutated[pos] ^= 0x40
        _check_bad(bytes(mutated), tmp_path, capsys, "checksum|UTF-8 JSON")


def test_manifest_claiming_huge_sizes(tiny, tmp_path, capsys):
    fields, manifest, area = split(tiny[1].read_bytes())
    cases = []
    m = json.loads(json.dumps(manifest))
    m["weights"]["tensors"][0]["shape"] = [1 << 20, 1 << 20]
    cases.append((m, "more than"))
    m = json.loads(json.dumps(manifest))
    m["video"]["num_frames"] = 10 ** 12
    cases.append((m, "outside"))
    m = json.loads(json.dumps(manifest))
    m["sections"]["weights"]["length"] = 1 << 40
    cases.append((m, "past the end"))
    for bad, match in cases:
        _check_bad(join(fields, bad, area), tmp_path, capsys, match)
    # a manifest length field beyond the cap is refused before anything is read or allocated
    huge = HEADER.pack(fields[0], fields[1], fields[2], fields[3], MAX_MANIFEST * 64, fields[5])
    _check_bad(huge + area, tmp_path, capsys, "impossible")


def test_compression_bomb(tiny, tmp_path, capsys):
    fields, manifest, area = split(tiny[1].read_bytes())
    bomb = zlib.compress(b"\0" * (50 << 20), 9)  # 50 MiB of zeros in ~50 kB
    graph = manifest["sections"]["graph"]
    area = area[:graph["offset"]] + bomb + area[graph["offset"] + graph["length"]:]
    delta = len(bomb) - graph["length"]
    for entry in manifest["sections"].values():
        if entry["offset"] > graph["offset"]:
            entry["offset"] += delta
    graph.update(length=len(bomb), sha256=hashlib.sha256(bomb).hexdigest())
    # a declared size beyond deflate's ratio or the cap is refused before inflating anything
    graph["raw_length"] = 2 << 30
    _check_bad(join(fields, manifest, area), tmp_path, capsys, "implausible size")
    # declared small, it inflates only up to the declared size, then is refused
    graph["raw_length"] = 1000
    _check_bad(join(fields, manifest, area), tmp_path, capsys, "not declared")


def test_nothing_written_for_bad_input(tmp_path):
    from nervkit.export.cli import main as export_main

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "out.nvpkg"
    assert export_main([str(bad), "-o", str(out)]) == 2
    assert list(tmp_path.iterdir()) == [bad]
