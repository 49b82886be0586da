"""Build a ``.nvpkg`` from a loaded model: compress, export the decoder graph, write the package,
and measure what compression cost (size, bits per pixel, PSNR before and after).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ..runtime import Decoder, open_package, write_package
from ..trainer.checkpoint import LoadedModel
from ..trainer.metrics import psnr
from .compress import compress, dequantized_embeddings, dequantized_model
from .onnx_graph import export_decoder_onnx, externalize_weights, save_onnx
from .passes.pipeline import optimize_for

GRAPH_PREFIX = "model."
"""``DecoderGraph`` holds the model as ``self.model``: ONNX initializer = prefix + parameter name."""


@dataclass
class ExportOptions:
    """What ``nerv-export`` does to a model."""

    quant_bits: int = 8
    """Bits per decoder-weight code (HNeRV: 8)."""
    embed_bits: int = 6
    """Bits per embedding code (HNeRV: 6)."""
    prune: float = 0.0
    """Fraction of decoder weights zeroed by global magnitude pruning before quantisation."""
    eval_frames: int = 8
    """Frames (from the first) on which PSNR before/after compression is measured; 0 skips it."""
    onnx_path: str | None = None
    """Also write the decoder graph, weights inline, to this ONNX file."""
    extra: dict = field(default_factory=dict)
    """More manifest entries."""


def bits_per_pixel(file_bytes: int, num_frames: int, height: int, width: int) -> float:
    """Total file bits / (frames x height x width): the papers' bpp."""
    return 8.0 * file_bytes / (num_frames * height * width)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the per-frame PSNR (dB) of ``[n, 3, H, W]`` arrays in [0, 1], as training reports."""
    return float(psnr(torch.from_numpy(a), torch.from_numpy(b)).mean())


def _reference_frames(loaded: LoadedModel, n: int) -> np.ndarray | None:
    """The source video's first ``n`` frames as float ``[n, 3, H, W]``, or ``None`` if unreadable."""
    video = loaded.video
    if not video.source or not os.path.exists(video.source):
        return None
    from ..trainer.video import load_video

    clip = load_video(video.source, crop=video.crop, resize=video.resize, max_frames=n)
    return clip.frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def build_package(loaded: LoadedModel, out: str | os.PathLike, options: ExportOptions | None = None) -> dict:
    """Write ``out`` from ``loaded``; returns the report (sizes, bpp, coders, PSNRs)."""
    opts = options or ExportOptions()
    model = loaded.model.eval()
    video = loaded.video
    comp = compress(loaded, opts.quant_bits, opts.embed_bits, opts.prune)
    qmodel = dequantized_model(loaded, comp)
    embeds = dequantized_embeddings(comp)
    # Haar nodes lowered to standard ops, weights untouched (they are entropy-coded by name)
    raw = export_decoder_onnx(qmodel, {k: v[:1] for k, v in embeds.items()})
    proto = optimize_for(raw, "ort", fold=False)
    if opts.onnx_path:
        save_onnx(proto, opts.onnx_path)
    weights = {GRAPH_PREFIX + k: q for k, q in comp.weights.items()}
    graph, external = externalize_weights(proto, {k: q.dequantize() for k, q in weights.items()})
    weights = {k: weights[k] for k in external}  # a weight a graph pass rewrote stays inline
    compression = {"quant_bits": opts.quant_bits, "embed_bits": opts.embed_bits, "prune": opts.prune,
                   "reused_official_codes": comp.reused_codes, "inline_graph_bytes": len(graph)}
    size = write_package(
        out, family=model.name,
        video={"num_frames": video.num_frames, "height": video.height, "width": video.width,
               "fps": video.fps, "source": video.source},
        graph=graph, weights=weights, embeddings=comp.embeddings,
        extra={"created_by": "nervkit nerv-export", "compression": compression, **opts.extra})
    report = {"output": str(out), "family": model.name, "file_bytes": size,
              "bpp": bits_per_pixel(size, video.num_frames, video.height, video.width),
              "frames": video.num_frames, "height": video.height, "width": video.width,
              "decoder_params": sum(q.codes.size for q in comp.weights.values()), **compression}
    with open_package(out) as pkg:
        report["coders"] = pkg.coders()
        n = min(opts.eval_frames, video.num_frames)
        if n > 0:
            report["psnr"] = _quality(loaded, model, pkg, n)
    return report


def _quality(loaded: LoadedModel, model, pkg, n: int) -> dict:
    """PSNR (dB, mean over the first ``n`` frames) of the model before and the package after compression.

    Against the source video when it is readable; otherwise the package against the uncompressed model.
    """
    with torch.no_grad():
        before = model.decode(*(loaded.embeddings[k][:n].float() for k in model.embed_names)).numpy()
    with Decoder(pkg, backend="ort-cpu", batch=min(n, 4)) as dec:
        after = dec.decode_float(0, n)
    ref = _reference_frames(loaded, n)
    out = {"frames": n, "package_vs_uncompressed": _psnr(after, before)}
    if ref is not None and ref.shape == before.shape:
        out["before"], out["after"] = _psnr(before, ref), _psnr(after, ref)
    return out
