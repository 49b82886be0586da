"""Asymmetric numeral systems (ANS) coding through ``constriction``, the alternative to Huffman.

ANS codes a symbol of probability p in very nearly ``-log2 p`` bits (Huffman rounds every code to a
whole bit), which matters for the peaked histograms of pruned or low-entropy tensors. Each chunk is
its own ANS stack (32-bit words), so chunks decode independently. The model is the stored frequency
table; ``perfect=False`` is constriction's stable, portable quantisation of those probabilities.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import PackageError


def _model(freqs: np.ndarray):
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.sum() <= 0:
        raise PackageError("ANS frequency table is empty")
    if len(freqs) == 1:  # constriction needs two symbols; the unused one gets the minimal probability
        freqs = np.append(freqs, 0.0)
    return constriction.stream.model.Categorical(freqs / freqs.sum(), perfect=False)


def encode(symbols: np.ndarray, freqs: np.ndarray, chunk_len: int) -> tuple[bytes, np.ndarray]:
    """Symbols (ints indexing ``freqs``) -> (little-endian uint32 words, word offset of each chunk + end)."""
    model = _model(freqs)
    symbols = np.asarray(symbols, dtype=np.int32)
    parts, offsets = [], [0]
    for k in range(0, len(symbols), chunk_len):
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(symbols[k:k + chunk_len], model)
        words = coder.get_compressed()
        parts.append(words)
        offsets.append(offsets[-1] + len(words))
    payload = np.concatenate(parts).astype("<u4").tobytes()
    return payload, np.asarray(offsets, dtype=np.uint64)


def decode(payload: bytes, word_starts: np.ndarray, word_ends: np.ndarray, counts: np.ndarray,
           freqs: np.ndarray) -> np.ndarray:
    """Decode chunks ``[word_starts[k], word_ends[k])`` of ``payload`` into ``counts[k]`` symbols each."""
    model = _model(freqs)
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    out = []
    for a, b, n in zip(word_starts, word_ends, counts, strict=True):
        try:
            coder = constriction.stream.stack.AnsCoder(np.ascontiguousarray(words[int(a):int(b)]))
            syms = coder.decode(model, int(n))
        except Exception as err:  # constriction reports corrupt data with assorted exception types
            raise PackageError(f"corrupt ANS chunk ({type(err).__name__})") from None
        if not coder.is_empty():
            raise PackageError("ANS chunk has data left after its last symbol")
        out.append(np.asarray(syms, dtype=np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
