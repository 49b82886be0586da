"""``nerv-export tds.pt -o clip.nvpkg``: a temporal down-sampling package (paper 003; format 1.2).

The package holds the two base-codec streams of ``tds.pt`` as they are (sections ``base.key`` and
``base.lr``: bitstreams, or nested per-frame packages for a nervkit-family base, plan base ``nvpkg``),
the enhancer's ONNX graph (:mod:`.tds_onnx`) and its weights, quantised (``quant_bits``
per code, :func:`.quantize.quantize_tensor`) and entropy-coded under their parameter names like any
decoder's, and a ``gop`` decode plan (:mod:`nervkit.runtime.plan`): Algorithm 1 per group. Every byte
of the file is counted in its bits per pixel (the per-video enhancer's weights included). With
``--enhancer FILE`` the weights go to a shared enhancer file instead (written once, then reused by every
package of that enhancer), which the package names by SHA-256 and size.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..runtime import Quantized, write_package
from ..runtime.errors import UserError
from ..runtime.package import file_sha256, open_enhancer
from ..runtime.package_writer import write_enhancer
from .build import bits_per_pixel
from .onnx_graph import externalize_weights, save_onnx
from .quantize import quantize_tensor
from .tds_files import TDSCheckpoint, enhancer_sha256
from .tds_onnx import export_enhancer_onnx


def quantize_graph_weights(proto: onnx.ModelProto, state: dict[str, torch.Tensor], quant_bits: int
                           ) -> dict[str, Quantized]:
    """Quantise every parameter of ``state`` (each one an initializer of ``proto`` under its name,
    :mod:`.tds_onnx`) and put its dequantised values into ``proto`` (in place); returns the codes by name."""
    out = {}
    for init in proto.graph.initializer:
        t = state.get(init.name)
        if t is not None and t.is_floating_point():
            out[init.name] = q = quantize_tensor(t, quant_bits)
            init.CopyFrom(numpy_helper.from_array(q.dequantize().astype(np.float32), init.name))
    missing = {k for k, t in state.items() if t.is_floating_point()} - set(out)
    if missing:
        raise ValueError(f"enhancer parameters not in its graph: {', '.join(sorted(missing))}")
    return out


def share_enhancer(path: str | os.PathLike, ck: TDSCheckpoint, weights: dict[str, Quantized],
                   quant_bits: int) -> dict:
    """The shared enhancer file at ``path`` (``.nvenh``): written from ``weights`` when it does not exist,
    else it must hold ``ck``'s enhancer (the same config and float weights: :func:`.tds_files.enhancer_sha256`,
    recorded in the file). Returns what a package names it by: ``{"sha256": of the file, "bytes": its size}``."""
    source = enhancer_sha256(ck.enhancer)
    if not os.path.exists(path):
        write_enhancer(path, config=asdict(ck.enhancer.config), weights=weights,
                       extra={"source_sha256": source, "created_by": "nervkit nerv-export",
                              "compression": {"quant_bits": quant_bits}})
    container = open_enhancer(path)
    try:
        if container.manifest.get("source_sha256") != source:
            raise UserError(f"--enhancer {path}: holds another enhancer than this tds.pt's (SHA-256 "
                            f"{source[:16]}...)")
        return {"sha256": file_sha256(container.source), "bytes": container.source.size}
    finally:
        container.source.close()


def build_tds_package(ck: TDSCheckpoint, out: str | os.PathLike, quant_bits: int = 8,
                      onnx_path: str | None = None, enhancer: str | os.PathLike | None = None) -> dict:
    """Write ``out`` from ``ck``; returns the report (sizes in bytes, bpp, the share of each part).

    ``enhancer``: a shared enhancer file (:func:`share_enhancer`) that the package names by hash instead
    of storing the enhancer's weights (the paper's setting: the network is part of the decoder, so its
    bits are not the video's)."""
    s, lay = ck.streams, ck.streams.layout
    proto = export_enhancer_onnx(ck.enhancer, s.height, s.width)
    weights = quantize_graph_weights(proto, ck.enhancer.state_dict(), quant_bits)
    if onnx_path:
        save_onnx(proto, onnx_path)
    graph = externalize_weights(proto, set(weights))
    plan = {"kind": "gop", "gop": lay.gop, "scale": lay.scale, "base": s.codec,
            "streams": {"key": "base.key", "lr": "base.lr"}}
    if enhancer is not None:
        plan["enhancer"] = share_enhancer(enhancer, ck, weights, quant_bits)
    config = {"gop": lay.gop, "scale": lay.scale, "base": s.base, "crf": s.crf,
              "enhancer": {"sha256": enhancer_sha256(ck.enhancer), "config": asdict(ck.enhancer.config)}}
    size = write_package(
        out, family=ck.model, config=config, plan=plan,
        video={"num_frames": lay.num_frames, "height": s.height, "width": s.width, "fps": ck.fps},
        graph=graph, weights={} if enhancer else weights, embeddings={},
        inputs={k: [3, s.height, s.width] for k in ck.enhancer.input_names},
        streams={"base.key": s.key, "base.lr": s.lr}, enhancer=enhancer,
        extra={"created_by": "nervkit nerv-export",
               "compression": {"quant_bits": quant_bits, "inline_graph_bytes": len(graph)}})
    return {"output": str(out), "family": ck.model, "file_bytes": size,
            "bpp": bits_per_pixel(size, lay.num_frames, s.height, s.width), "frames": lay.num_frames,
            "height": s.height, "width": s.width, "base_bytes": len(s.key) + len(s.lr),
            "enhancer_params": sum(q.codes.size for q in weights.values()), "quant_bits": quant_bits,
            "shared_enhancer": plan.get("enhancer"), "gop": lay.gop, "scale": lay.scale, "base": s.base,
            "crf": s.crf}
