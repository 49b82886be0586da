"""Canonical Huffman coding in numpy, the coder the NeRV/HNeRV papers use on quantized weights.

A stream is cut into chunks (a frame's embedding, or a fixed number of weight symbols); each chunk
starts at a recorded bit offset, so chunks decode independently and, in numpy, in parallel: one
vectorised table look-up per symbol position advances every chunk at once. Code lengths are capped at
``MAX_LEN`` = 16 bits so a 16-bit window indexes the decoding table (2^16 entries).
"""

from __future__ import annotations

import heapq

import numpy as np

from .errors import PackageError

MAX_LEN = 16


def code_lengths(counts: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Huffman code length (bits) per symbol from symbol counts; 0 for unused symbols.

    Lengths above ``max_len`` are avoided by halving the counts (keeping them nonzero) and rebuilding,
    the usual length-limiting heuristic; it costs a fraction of a percent on real histograms.
    """
    counts = np.asarray(counts, dtype=np.int64).copy()
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), dtype=np.uint8)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    while True:
        heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(used)]
        heapq.heapify(heap)
        depth = np.zeros(len(counts), dtype=np.int64)
        tie = len(heap)
        while len(heap) > 1:
            c1, _, s1 = heapq.heappop(heap)
            c2, _, s2 = heapq.heappop(heap)
            depth[s1 + s2] += 1
            heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
            tie += 1
        if depth.max() <= max_len:
            lengths[:] = depth
            return lengths
        counts[used] = np.maximum(counts[used] >> 1, 1)


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code words (uint32, right-aligned) for code lengths; validates the Kraft inequality."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.max(initial=0) > MAX_LEN or lengths.min(initial=0) < 0:
        raise PackageError(f"Huffman code lengths must be 0..{MAX_LEN}")
    used = lengths > 0
    if not used.any() or np.sum(2.0 ** -lengths[used]) > 1.0:
        raise PackageError("Huffman code lengths violate the Kraft inequality")
    order = np.lexsort((np.arange(len(lengths)), lengths))
    order = order[used[order]]
    codes = np.zeros(len(lengths), dtype=np.uint32)
    code, prev = 0, int(lengths[order[0]])
    for s in order:
        code <<= int(lengths[s]) - prev
        prev = int(lengths[s])
        codes[s] = code
        code += 1
    return codes


def encode(symbols: np.ndarray, lengths: np.ndarray, chunk_len: int) -> tuple[bytes, np.ndarray]:
    """Symbols (ints indexing ``lengths``) -> (bit-packed payload, bit offset of each chunk + end).

    The payload is MSB-first; chunk ``k`` holds symbols ``[k*chunk_len, (k+1)*chunk_len)``.
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    codes = canonical_codes(lengths)
    lens = lengths.astype(np.int64)[symbols]
    if (lens == 0).any():
        raise ValueError("a symbol has no Huffman code")
    starts = np.concatenate([[0], np.cumsum(lens)])
    bits = np.zeros(int(starts[-1]), dtype=np.uint8)
    words = codes[symbols].astype(np.int64)
    for j in range(int(lens.max(initial=0))):
        m = lens > j
        bits[starts[:-1][m] + j] = (words[m] >> (lens[m] - 1 - j)) & 1
    offsets = starts[::chunk_len].copy()
    if len(symbols) % chunk_len:
        offsets = np.append(offsets, starts[-1])
    return np.packbits(bits).tobytes(), offsets.astype(np.uint64)


def decode(payload: bytes, bit_starts: np.ndarray, bit_ends: np.ndarray, counts: np.ndarray,
           lengths: np.ndarray) -> np.ndarray:
    """Decode chunks that start at ``bit_starts`` (relative to ``payload``), ``counts[k]`` symbols each.

    Returns the symbols of all chunks concatenated (int64). Raises ``PackageError`` when the bits do
    not form valid code words or a chunk does not end exactly at ``bit_ends[k]``.
    """
    codes = canonical_codes(lengths)
    table_sym = np.zeros(1 << MAX_LEN, dtype=np.int64)
    table_len = np.zeros(1 << MAX_LEN, dtype=np.int64)  # 0 marks a window that starts no code word
    for s in np.flatnonzero(lengths):
        n = int(lengths[s])
        lo = int(codes[s]) << (MAX_LEN - n)
        table_sym[lo:lo + (1 << (MAX_LEN - n))] = s
        table_len[lo:lo + (1 << (MAX_LEN - n))] = n
    data = np.frombuffer(bytes(payload) + b"\0\0\0\0", dtype=np.uint8).astype(np.uint32)
    pos = np.asarray(bit_starts, dtype=np.int64).copy()
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros((len(pos), int(counts.max(initial=0))), dtype=np.int64)
    limit = 8 * len(payload)
    for t in range(out.shape[1]):
        live = np.flatnonzero(counts > t)
        p = pos[live]
        if (p >= limit).any():
            raise PackageError("Huffman stream ends before its last symbol")
        b = p >> 3
        word = (data[b] << 24) | (data[b + 1] << 16) | (data[b + 2] << 8) | data[b + 3]
        window = (word << (p & 7).astype(np.uint32)) >> np.uint32(32 - MAX_LEN)
        n = table_len[window]
        if (n == 0).any():
            raise PackageError("invalid Huffman code word")
        out[live, t] = table_sym[window]
        pos[live] = p + n
    if not np.array_equal(pos, np.asarray(bit_ends, dtype=np.int64)):
        raise PackageError("Huffman chunk length does not match its index")
    mask = np.arange(out.shape[1])[None, :] < counts[:, None]
    return out[mask]
