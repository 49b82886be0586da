"""The one export pass, and the package built from it.

:func:`export_decoder` compresses a loaded model once (prune, quantise), dequantises once, and exports
the decoder graph once, weights inline under their parameter names. Every graph flavour is a pass on
that graph (:func:`nervkit.export.passes.pipeline.optimize_for`): the package's ORT graph (weights
external, by name) in :func:`build_package`, the TensorRT graph in ``nerv-export --trt``. So the package
and the engine compute the same decoder with the same weights by construction.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import numpy as np
import onnx
import torch

from ..runtime import Decoder, open_package, write_package
from ..runtime.precision import MANIFEST_KEY
from ..trainer.checkpoint import LoadedModel
from ..trainer.metrics import psnr
from ..trainer.registry import config_to_dict
from .compress import Compressed, compress
from .guard import measure_guard
from .onnx_graph import export_decoder_onnx, externalize_weights, save_onnx
from .passes.pipeline import optimize_for


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
    """Frames (from the first) on which PSNR before/after compression and the precision guard are
    measured (against the source video, when readable); 0 skips both."""
    onnx_path: str | None = None
    """Also write the package's decoder graph, weights inline, to this ONNX file."""


@dataclass
class ExportedDecoder:
    """What the one export pass produces; the package and every graph flavour are made from it."""

    compressed: Compressed
    """Quantised decoder weights (by parameter name) and embeddings: what the package stores."""
    model: torch.nn.Module
    """A copy of the loaded model whose decoder weights are the dequantised package weights (eval)."""
    embeddings: dict[str, np.ndarray]
    """Dequantised decoder inputs, float32 ``[num_frames, ...]`` by embed name."""
    graph: onnx.ModelProto
    """``model.decode`` as exported: Haar nodes custom, weights inline under their parameter names."""


def export_decoder(loaded: LoadedModel, quant_bits: int = 8, embed_bits: int = 6,
                   prune: float = 0.0) -> ExportedDecoder:
    """Compress ``loaded``, dequantise, and export its decoder graph, each once."""
    comp = compress(loaded, quant_bits, embed_bits, prune)
    model = copy.deepcopy(loaded.model).eval()
    model.load_decoder_state({k: q.dequantize() for k, q in comp.weights.items()})
    embeds = {k: q.dequantize() for k, q in comp.embeddings.items()}
    graph = export_decoder_onnx(model, {k: torch.from_numpy(v[:1]) for k, v in embeds.items()})
    return ExportedDecoder(comp, model, embeds, graph)


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
    from .files import load_video

    clip = load_video(video.source, crop=video.crop, resize=video.resize, max_frames=n)
    return clip.frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def build_package(loaded: LoadedModel, out: str | os.PathLike, options: ExportOptions | None = None,
                  exported: ExportedDecoder | None = None) -> dict:
    """Write ``out`` from ``loaded``; returns the report (sizes, bpp, coders, PSNRs).

    ``exported``: the export pass's result when the caller already ran it (``--trt`` makes its engine
    from the same one); by default it runs here with ``options``' compression settings.

    The package's graph is the ORT flavour without folding (no weight changes: every weight stays
    entropy-coded under its parameter name); the manifest holds the family config, so nerv-bench can
    rebuild the trainer's module as its eager baseline.
    """
    opts = options or ExportOptions()
    exported = exported or export_decoder(loaded, opts.quant_bits, opts.embed_bits, opts.prune)
    model, video, comp = loaded.model, loaded.video, exported.compressed
    proto = optimize_for(exported.graph, "ort", fold=False)
    graph = externalize_weights(proto, set(comp.weights))
    compression = {"quant_bits": opts.quant_bits, "embed_bits": opts.embed_bits, "prune": opts.prune,
                   "reused_official_codes": comp.reused_codes, "inline_graph_bytes": len(graph)}
    def write(guard: dict | None) -> int:
        extra = {"created_by": "nervkit nerv-export", "compression": compression}
        return write_package(
            out, family=model.name, config=config_to_dict(model.config),
            video={"num_frames": video.num_frames, "height": video.height, "width": video.width,
                   "fps": video.fps, "source": os.path.basename(video.source)},  # the name only: privacy
            graph=graph, weights=comp.weights, embeddings=comp.embeddings,
            extra=extra if guard is None else {**extra, MANIFEST_KEY: guard})

    size = write(None)
    report = {"output": str(out), "family": model.name, "file_bytes": size,
              "bpp": bits_per_pixel(size, video.num_frames, video.height, video.width),
              "frames": video.num_frames, "height": video.height, "width": video.width,
              "decoder_params": sum(q.codes.size for q in comp.weights.values()), **compression}
    n = min(opts.eval_frames, video.num_frames)
    ref = _reference_frames(loaded, n) if n > 0 else None
    if ref is not None and ref.shape[1:] != (3, video.height, video.width):
        ref = None
    if opts.onnx_path:
        save_onnx(proto, opts.onnx_path)
    with open_package(out) as pkg:
        report["coders"] = pkg.coders()
        if n > 0:
            report["psnr"] = _quality(loaded, pkg, n, ref)
        guard = None if ref is None else measure_guard(pkg, ref, video.source)
    if guard is not None:  # rewritten with the guard's record (same streams, one more manifest entry)
        report["file_bytes"] = size = write(guard)
        report["bpp"] = bits_per_pixel(size, video.num_frames, video.height, video.width)
        report[MANIFEST_KEY] = guard
    return report


def _quality(loaded: LoadedModel, pkg, n: int, ref: np.ndarray | None) -> dict:
    """PSNR (dB, mean over the first ``n`` frames) of the model before and the package after compression.

    Against the source video frames ``ref`` when known; otherwise the package against the uncompressed model.
    """
    model = loaded.model.eval()
    with torch.no_grad():
        before = model.decode(*(loaded.embeddings[k][:n].float() for k in model.embed_names)).numpy()
    with Decoder(pkg, backend="ort-cpu", batch=min(n, 4), precision="fp32") as dec:
        after = dec.decode_float(0, n)
    out = {"frames": n, "package_vs_uncompressed": _psnr(after, before)}
    if ref is not None and ref.shape == before.shape:
        out["before"], out["after"] = _psnr(before, ref), _psnr(after, ref)
    return out
