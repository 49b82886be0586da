"""Entropy-coded symbol streams: Huffman or ANS, whichever is smaller, in one self-checking blob.

A stream holds ``n_symbols`` integer symbols (quantisation codes) cut into chunks of ``chunk_len``
symbols; every chunk decodes alone (one frame's embedding, or a block of weights). Blob layout,
little-endian::

    header  "<4sBBHQIIi": b"NVCS", coder (0 Huffman, 1 ANS), 0, 0, n_symbols, chunk_len,
            table_len, lo
    table   Huffman: uint8 code length per symbol lo..lo+table_len-1;
            ANS: uint16 frequency per symbol lo..lo+table_len-1
    offsets uint32 [n_chunks + 1]: chunk starts in bits (Huffman) or 32-bit words (ANS)
    payload the coded bits (Huffman, MSB-first) or words (ANS)

The table restricted to the used range ``[lo, hi]`` keeps an 8-bit tensor's model at most 256 bytes
(Huffman) or 512 bytes (ANS). Every field is validated against the blob length before allocation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

from . import ans, huffman
from .errors import PackageError

_HEAD = struct.Struct("<4sBBHQIIi")
_TAG = b"NVCS"
CODERS = ("huffman", "ans")
MAX_SYMBOLS = 1 << 31
"""Cap on symbols per stream (2 G): far above any NeRV model, far below what would exhaust memory."""
MAX_ALPHABET = 1 << 16
"""Quantisation codes are at most 16 bits."""


def _freq_table(counts: np.ndarray) -> np.ndarray:
    """Counts scaled into uint16 (nonzero stays nonzero): the ANS model as stored."""
    scale = min(1.0, 65535.0 / counts.max())
    freqs = np.round(counts * scale).astype(np.int64)
    freqs[(counts > 0) & (freqs == 0)] = 1
    return freqs.astype(np.uint16)


def encode_stream(symbols: np.ndarray, chunk_len: int, coders=CODERS) -> tuple[bytes, str]:
    """Code ``symbols`` (non-negative ints < 2^16) with each coder in ``coders``; keep the smallest blob.

    Returns ``(blob, coder_name)``.
    """
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    if len(symbols) == 0 or len(symbols) >= MAX_SYMBOLS:
        raise ValueError(f"a stream holds 1..{MAX_SYMBOLS - 1} symbols, got {len(symbols)}")
    if symbols.min() < 0 or symbols.max() >= MAX_ALPHABET:
        raise ValueError("symbols must be in [0, 65536)")
    lo = int(symbols.min())
    shifted = symbols - lo
    counts = np.bincount(shifted)
    best = None
    for name in coders:
        if name == "huffman":
            table = huffman.code_lengths(counts)
            payload, offsets = huffman.encode(shifted, table, chunk_len)
        else:
            table = _freq_table(counts)
            payload, offsets = ans.encode(shifted, table, chunk_len)
        if offsets[-1] >= 1 << 32:
            raise ValueError("stream too large for 32-bit chunk offsets")
        blob = b"".join([
            _HEAD.pack(_TAG, CODERS.index(name), 0, 0, len(symbols), chunk_len, len(table), lo),
            table.tobytes(), offsets.astype("<u4").tobytes(), payload])
        if best is None or len(blob) < len(best[0]):
            best = (blob, name)
    return best


class CodedStream:
    """A parsed stream header; decodes chunk ranges on demand, reading only their payload bytes.

    ``read(offset, length) -> bytes`` reads from the stream's blob (e.g. a section of a package file);
    ``length`` is the blob length.
    """

    def __init__(self, read: Callable[[int, int], bytes], length: int):
        if length < _HEAD.size:
            raise PackageError("coded stream is shorter than its header")
        tag, coder, _, _, n, chunk_len, table_len, lo = _HEAD.unpack(read(0, _HEAD.size))
        if tag != _TAG or coder >= len(CODERS):
            raise PackageError("coded stream has a bad tag or an unknown coder")
        if not (0 < n < MAX_SYMBOLS and chunk_len > 0 and 0 < table_len <= MAX_ALPHABET
                and lo >= 0 and lo + table_len <= MAX_ALPHABET):
            raise PackageError("coded stream header has out-of-range fields")
        self.coder = CODERS[coder]
        self.n_symbols, self.chunk_len, self.lo = n, chunk_len, lo
        self.n_chunks = math.ceil(n / chunk_len)
        width = 1 if self.coder == "huffman" else 2
        self._payload_start = _HEAD.size + width * table_len + 4 * (self.n_chunks + 1)
        if self._payload_start > length:
            raise PackageError("coded stream is shorter than its table and chunk index")
        raw = read(_HEAD.size, self._payload_start - _HEAD.size)
        self.table = np.frombuffer(raw, dtype="u1" if width == 1 else "<u2", count=table_len).astype(np.int64)
        self.offsets = np.frombuffer(raw, dtype="<u4", offset=width * table_len).astype(np.int64)
        payload_len = length - self._payload_start
        unit = 1 if self.coder == "huffman" else 32
        if (self.offsets[0] != 0 or (np.diff(self.offsets) < 0).any()
                or math.ceil(self.offsets[-1] * unit / 8) != payload_len):
            raise PackageError("coded stream chunk index is inconsistent with its payload")
        self._read = read

    def chunk_counts(self, first: int, stop: int) -> np.ndarray:
        """Symbols in chunks ``[first, stop)`` (all ``chunk_len`` but possibly the last)."""
        ends = np.minimum(np.arange(first + 1, stop + 1) * self.chunk_len, self.n_symbols)
        return ends - np.arange(first, stop) * self.chunk_len

    def decode(self, first: int = 0, stop: int | None = None) -> np.ndarray:
        """Symbols of chunks ``[first, stop)`` concatenated, int64."""
        stop = self.n_chunks if stop is None else stop
        if not 0 <= first < stop <= self.n_chunks:
            raise IndexError(f"chunks [{first}, {stop}) outside [0, {self.n_chunks})")
        counts = self.chunk_counts(first, stop)
        starts, ends = self.offsets[first:stop], self.offsets[first + 1:stop + 1]
        if self.coder == "huffman":
            base = int(starts[0]) // 8 * 8
            data = self._read(self._payload_start + base // 8, (int(ends[-1]) + 7) // 8 - base // 8)
            symbols = huffman.decode(data, starts - base, ends - base, counts, self.table)
        else:
            base = int(starts[0])
            data = self._read(self._payload_start + 4 * base, 4 * (int(ends[-1]) - base))
            symbols = ans.decode(data, starts - base, ends - base, counts, self.table)
        return symbols + self.lo
