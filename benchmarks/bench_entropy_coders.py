"""Our numpy Huffman coder against constriction's Huffman coder, on the streams of a real package.

    python benchmarks/bench_entropy_coders.py [--ckpt PATH] [--repeats 3] [--json FILE]

The package is built from the official HNeRV bunny checkpoint (its own 8-bit weight codes and 6-bit
embedding codes). For each stream (decoder weights in chunks of 4096 symbols; embeddings one chunk per
frame), both coders code the same symbols with the same chunking, each chunk decodable alone:

- ``nervkit``: ``runtime/huffman.py`` (canonical code, lengths capped at 16 bits, numpy-vectorised decode of
  all chunks at once);
- ``constriction``: ``constriction.symbol.QueueEncoder`` / ``QueueDecoder`` with an ``EncoderHuffmanTree``
  / ``DecoderHuffmanTree`` built from the same counts, one encoder per chunk (its payload is whole 32-bit
  words), one Python call per symbol (its API codes one symbol per call).

Sizes are payload bytes (the code table, stored the same way for both, is left out); times are the
median of ``--repeats`` interleaved runs after one warm-up, on this machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import constriction
import numpy as np

from nervkit.export.compress import compress
from nervkit.player.machine import describe
from nervkit.runtime import huffman
from nervkit.runtime.jsonout import write_json
from nervkit.runtime.package_writer import WEIGHT_CHUNK
from nervkit.runtime.timing import measure
from nervkit.trainer.checkpoint import load_model

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared/data/hnerv-official/bunny-1.5m-quant_vid.pth"


def ours(symbols: np.ndarray, counts: np.ndarray, chunk: int):
    lengths = huffman.code_lengths(counts)
    payload, offsets = huffman.encode(symbols, lengths, chunk)

    def decode():
        n = len(offsets) - 1
        per = np.minimum(np.arange(1, n + 1) * chunk, len(symbols)) - np.arange(n) * chunk
        return huffman.decode(payload, offsets[:-1], offsets[1:], per, lengths)

    return len(payload), decode


def theirs(symbols: np.ndarray, counts: np.ndarray, chunk: int):
    probabilities = counts.astype(np.float64)
    enc_tree = constriction.symbol.huffman.EncoderHuffmanTree(probabilities)
    dec_tree = constriction.symbol.huffman.DecoderHuffmanTree(probabilities)
    chunks = []
    for a in range(0, len(symbols), chunk):
        encoder = constriction.symbol.QueueEncoder()
        for s in symbols[a:a + chunk].tolist():
            encoder.encode_symbol(s, enc_tree)
        chunks.append((encoder.get_compressed_and_bitrate()[0], min(chunk, len(symbols) - a)))

    def decode():
        out = []
        for words, n in chunks:
            decoder = constriction.symbol.QueueDecoder(words)
            out.extend(decoder.decode_symbol(dec_tree) for _ in range(n))
        return np.asarray(out)

    return sum(4 * len(w) for w, _ in chunks), decode


def streams(ckpt: str) -> dict[str, tuple[np.ndarray, int]]:
    """The package's symbol streams as ``write_package`` codes them: ``{name: (symbols, chunk length)}``."""
    comp = compress(load_model(ckpt))
    out = {"weights": (np.concatenate([q.codes.ravel() for q in comp.weights.values()]), WEIGHT_CHUNK)}
    for name, q in comp.embeddings.items():
        out[f"embeddings.{name}"] = (q.codes.ravel(), q.codes[0].size)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(DEFAULT_CKPT), help="official HNeRV checkpoint")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/bench_entropy_coders.json")
    args = ap.parse_args(argv)
    if not Path(args.ckpt).is_file():
        print(f"checkpoint not found: {args.ckpt}", file=sys.stderr)
        return 2
    results = {}
    for name, (symbols, chunk) in streams(args.ckpt).items():
        lo = int(symbols.min())
        shifted = symbols - lo
        counts = np.bincount(shifted)
        entropy = float(-(counts[counts > 0] / len(shifted) * np.log2(counts[counts > 0] / len(shifted))).sum())
        row = {"symbols": len(symbols), "chunk": chunk, "entropy_bytes": entropy * len(symbols) / 8}
        coders = {}
        for label, coder in (("nervkit", ours), ("constriction", theirs)):
            args_ = (shifted, counts, chunk)
            t = measure(lambda c=coder, a=args_: c(*a), warmup=0, repeats=1)
            size, decode = coder(*args_)
            np.testing.assert_array_equal(decode(), shifted)
            coders[label] = {"payload_bytes": size, "encode_s": t.median_s, "decode": decode}
        for _ in range(args.repeats):  # interleaved: the two decoders alternate
            for c in coders.values():
                c.setdefault("decode_times", []).append(measure(c["decode"], warmup=0, repeats=1).median_s)
        for c in coders.values():
            c.pop("decode")
            c["decode_s"] = float(np.median(c.pop("decode_times")))
        row["coders"] = coders
        row["constriction_over_nervkit"] = {
            "size": coders["constriction"]["payload_bytes"] / coders["nervkit"]["payload_bytes"],
            "decode_time": coders["constriction"]["decode_s"] / coders["nervkit"]["decode_s"],
            "encode_time": coders["constriction"]["encode_s"] / coders["nervkit"]["encode_s"]}
        results[name] = row
        r = row["constriction_over_nervkit"]
        print(f"{name}: {len(symbols):,} symbols, entropy {row['entropy_bytes']:,.0f} B; "
              f"nervkit {coders['nervkit']['payload_bytes']:,} B, decode {coders['nervkit']['decode_s']:.3f} s; "
              f"constriction {coders['constriction']['payload_bytes']:,} B, decode "
              f"{coders['constriction']['decode_s']:.3f} s; constriction/nervkit size {r['size']:.4f}, "
              f"decode time {r['decode_time']:.1f}x, encode time {r['encode_time']:.1f}x")
    out = {"benchmark": "bench_entropy_coders", "checkpoint": args.ckpt, "repeats": args.repeats,
           "machine": describe(), "streams": results}
    write_json(args.json, out)
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
