"""The binary container of ``.nvpkg``: header, JSON manifest, checksummed sections (see docs/nvpkg-format.md).

Layout, little-endian::

    0   8s   magic  b"\\x89NVPKG\\r\\n"  (high bit and CR/LF catch 7-bit and text-mode mangling)
    8   u16  major version (a reader refuses any major it does not know)
    10  u16  minor version (additions a reader may ignore)
    12  u32  flags, 0
    16  u64  manifest length in bytes
    24  32s  SHA-256 of the manifest
    56  manifest, UTF-8 JSON; ``manifest["sections"]`` indexes the sections
    ... the data area: the sections back to back, in table order, no padding

Every byte of the file is covered by a check: the header fields by their allowed values, the manifest
by its SHA-256 in the header, each section by the SHA-256 in the manifest, and the sections must tile
the data area exactly (no gaps, no trailing bytes).

Each section entry is ``{"offset", "length", "sha256", "compression": "none"|"zlib", "raw_length"}``
with ``offset`` relative to the data area. Nothing is allocated from a declared size before it is
checked against the file size and the caps below; zlib sections inflate with a hard output limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

from .atomic import AtomicOutput
from .errors import PackageError

MAGIC = b"\x89NVPKG\r\n"
MAJOR, MINOR = 1, 2
_HEADER = struct.Struct("<8sHHIQ32s")
MAX_MANIFEST = 16 << 20
"""Largest manifest accepted (16 MiB; a real one is a few kB)."""
MAX_RAW_SECTION = 1 << 30
"""Largest inflated section (1 GiB)."""
_CHUNK = 1 << 20


class Source:
    """Random access to a package's bytes: a file (read with ``os.pread``, never mapped) or a buffer."""

    def __init__(self, path_or_bytes: str | os.PathLike | bytes):
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            self.name, self._buf, self._fd = "<bytes>", bytes(path_or_bytes), None
            self.size = len(self._buf)
        else:
            self.name, self._buf = str(path_or_bytes), None
            if Path(path_or_bytes).is_dir():
                raise PackageError(f"{self.name}: is a folder, not a package")
            self._fd = os.open(path_or_bytes, os.O_RDONLY)
            self.size = os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise PackageError(f"{self.name}: read of {length} bytes at {offset} is past the end of the file")
        if self._buf is not None:
            return self._buf[offset:offset + length]
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise PackageError(f"{self.name}: file shrank while reading (truncated?)")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Container:
    """A validated container: the manifest and checked access to its sections."""

    def __init__(self, source: Source):
        self.source = source
        name = source.name
        if source.size < _HEADER.size:
            raise PackageError(f"{name}: too short to be a .nvpkg package ({source.size} bytes)")
        magic, major, minor, flags, mlen, digest = _HEADER.unpack(source.read(0, _HEADER.size))
        if magic != MAGIC:
            raise PackageError(f"{name}: not a .nvpkg package (bad magic)")
        if major != MAJOR:
            raise PackageError(f"{name}: package format {major}.{minor} is not supported "
                               f"(this runtime reads {MAJOR}.x)")
        if flags != 0:
            raise PackageError(f"{name}: header flags {flags:#x} are not defined in format {MAJOR}.x")
        self.version = (major, minor)
        if mlen > MAX_MANIFEST or _HEADER.size + mlen > source.size:
            raise PackageError(f"{name}: manifest length {mlen} is impossible (truncated file?)")
        raw = source.read(_HEADER.size, mlen)
        if hashlib.sha256(raw).digest() != digest:
            raise PackageError(f"{name}: manifest checksum mismatch (corrupted file)")
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise PackageError(f"{name}: manifest is not valid UTF-8 JSON") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sections"), dict):
            raise PackageError(f"{name}: manifest is not an object with a 'sections' table")
        self.manifest = manifest
        self.data_start = _HEADER.size + mlen
        self.sections = self._check_sections(manifest["sections"])

    def _check_sections(self, table: dict) -> dict[str, dict]:
        name, data_len = self.source.name, self.source.size - self.data_start
        spans, end = [], 0
        for key, entry in table.items():
            ok = (isinstance(entry, dict)
                  and all(isinstance(entry.get(f), int) and not isinstance(entry.get(f), bool)
                          and entry[f] >= 0 for f in ("offset", "length", "raw_length"))
                  and entry.get("compression") in ("none", "zlib")
                  and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64)
            if not ok:
                raise PackageError(f"{name}: section {key!r} has a malformed entry")
            if entry["offset"] + entry["length"] > data_len:
                raise PackageError(f"{name}: section {key!r} lies past the end of the file (truncated?)")
            raw = entry["raw_length"]
            if entry["compression"] == "none" and raw != entry["length"]:
                raise PackageError(f"{name}: section {key!r} declares a wrong raw length")
            bomb = entry["compression"] == "zlib" and raw > 1100 * entry["length"] + 64  # deflate max ~1032:1
            if raw > MAX_RAW_SECTION or bomb:
                raise PackageError(f"{name}: section {key!r} declares an implausible size ({raw} bytes)")
            spans.append((entry["offset"], entry["offset"] + entry["length"]))
            end = max(end, entry["offset"] + entry["length"])
        spans.sort()
        if any(a[1] != b[0] for a, b in zip(spans, spans[1:], strict=False)) or (spans and spans[0][0] != 0):
            raise PackageError(f"{name}: sections overlap or leave gaps")
        if end != data_len:
            raise PackageError(f"{name}: file size does not match its section table "
                               f"({data_len - end:+d} bytes; truncated or appended to?)")
        for key, entry in table.items():
            h = hashlib.sha256()
            for pos in range(entry["offset"], entry["offset"] + entry["length"], _CHUNK):
                stop = min(pos + _CHUNK, entry["offset"] + entry["length"])
                h.update(self.source.read(self.data_start + pos, stop - pos))
            if h.hexdigest() != entry["sha256"]:
                raise PackageError(f"{name}: section {key!r} checksum mismatch (corrupted file)")
        return table

    def _entry(self, key: str) -> dict:
        try:
            return self.sections[key]
        except KeyError:
            raise PackageError(f"{self.source.name}: manifest names a missing section {key!r}") from None

    def section(self, key: str) -> bytes:
        """The whole (inflated) section ``key``; its inflated size is enforced, not trusted."""
        entry = self._entry(key)
        data = self.source.read(self.data_start + entry["offset"], entry["length"])
        if entry["compression"] == "zlib":
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(data, entry["raw_length"] + 1)
            except zlib.error:
                raise PackageError(f"{self.source.name}: section {key!r} is not valid zlib data") from None
            if len(data) != entry["raw_length"] or not inflater.eof:
                raise PackageError(f"{self.source.name}: section {key!r} inflates to a size not declared")
        return data

    def reader(self, key: str):
        """``(read(offset, length), length)`` for lazy access to an uncompressed section."""
        entry = self._entry(key)
        if entry["compression"] != "none":
            raise PackageError(f"{self.source.name}: section {key!r} must not be compressed")
        start, length = self.data_start + entry["offset"], entry["length"]

        def read(offset: int, n: int) -> bytes:
            if offset < 0 or n < 0 or offset + n > length:
                raise PackageError(f"{self.source.name}: read past the end of section {key!r}")
            return self.source.read(start + offset, n)

        return read, length


def write_container(path: str | os.PathLike, manifest: dict, sections: dict[str, bytes],
                    compress: frozenset[str] = frozenset(), check=None) -> int:
    """Write a package atomically (:mod:`.atomic`); returns its size in bytes.

    ``manifest`` must not contain ``"sections"``; the table is filled in here. Sections named in
    ``compress`` are stored zlib-compressed (level 9) when that makes them smaller. ``check(path)`` runs on
    the complete temporary file before it replaces ``path``; an exception there leaves nothing.
    """
    table, blobs, offset = {}, [], 0
    for key, raw in sections.items():
        stored, how = raw, "none"
        if key in compress:
            packed = zlib.compress(raw, 9)
            if len(packed) < len(raw):
                stored, how = packed, "zlib"
        table[key] = {"offset": offset, "length": len(stored), "sha256": hashlib.sha256(stored).hexdigest(),
                      "compression": how, "raw_length": len(raw)}
        blobs.append(stored)
        offset += len(stored)
    text = json.dumps({**manifest, "sections": table}, indent=1, sort_keys=False).encode("utf-8")
    header = _HEADER.pack(MAGIC, MAJOR, MINOR, 0, len(text), hashlib.sha256(text).digest())
    head = header + text
    with AtomicOutput(path) as out, os.fdopen(os.dup(out.fd), "wb") as f:
        f.write(head)
        for blob in blobs:
            f.write(blob)
        f.flush()
        if check is not None:
            check(out.path)  # e.g. open_package: a file the reader would refuse is never committed
    return len(head) + offset
