"""``nerv-export MODEL -o clip.nvpkg``: compress a trained model (or the official HNeRV checkpoint, or a
TDS ``tds.pt``) into one package.

Prints progress and a summary to stderr; ``--json FILE`` ('-' = stdout) writes the report (size, bits per
pixel, entropy coders, PSNR before/after compression on the first ``--eval-frames`` frames).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..runtime.atomic import all_or_nothing, check_distinct, check_writable
from ..runtime.backends.trt import unavailable as trt_unavailable
from ..runtime.errors import UserError
from ..runtime.jsonout import add_json_argument, check_json_target, write_json
from ..trainer.checkpoint import read_checkpoint
from .build import ExportOptions, build_package, export_decoder
from .files import read_model, refuse_package
from .onnx_graph import save_onnx
from .passes.pipeline import optimize_for
from .tds_files import is_tds
from .tds_files import load as load_tds
from .tds_package import build_tds_package
from .tool import run_tool
from .trt.engine import cached_engine


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nerv-export", description=__doc__.splitlines()[0])
    ap.add_argument("model", help="nervkit model.pt, or an official HNeRV/SNeRV checkpoint (quant_vid.pth, "
                                  "model_latest.pth)")
    ap.add_argument("--video", help="the video an official training checkpoint (model_*.pth) was trained on: "
                                    "its encoder makes the embeddings from it")
    ap.add_argument("-o", "--output", required=True, help="package to write (.nvpkg)")
    ap.add_argument("--onnx", metavar="PATH", help="also write the decoder graph (weights inline) as ONNX")
    ap.add_argument("--trt", action="store_true", help="also build a TensorRT engine (tensorrt extra)")
    ap.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                    help="precision of the TensorRT engine (fp16 needs --trt)")
    ap.add_argument("--quant-bits", type=int, default=8, help="bits per decoder-weight code (default 8)")
    ap.add_argument("--embed-bits", type=int, default=6, help="bits per embedding code (default 6)")
    ap.add_argument("--prune", type=float, default=0.0, metavar="FRACTION",
                    help="fraction of decoder weights zeroed by global magnitude pruning (default 0)")
    ap.add_argument("--eval-frames", type=int, default=8,
                    help="first frames on which PSNR before/after compression and the reduced-precision "
                         "quality guard are measured (0: skip)")
    ap.add_argument("--source", metavar="VIDEO",
                    help="the video the model represents (file or image folder), when the model does not "
                         "record a readable one (the official checkpoint): PSNR and the precision guard are "
                         "measured against it, center-cropped to the model's size unless the model records "
                         "its own crop/resize")
    ap.add_argument("--enhancer", metavar="FILE",
                    help="(tds.pt) a shared enhancer file (.nvenh) that the package names by SHA-256 instead of "
                         "storing the enhancer: written from the tds.pt's enhancer when FILE does not exist, "
                         "else used (it must hold that enhancer)")
    add_json_argument(ap, "the report")
    return ap


def _check(args) -> None:
    for flag, bits in (("--quant-bits", args.quant_bits), ("--embed-bits", args.embed_bits)):
        if not 2 <= bits <= 16:
            raise UserError(f"{flag} must be between 2 and 16, got {bits}")
    if not 0.0 <= args.prune < 1.0:
        raise UserError(f"--prune must be a fraction in [0, 1), got {args.prune}")
    if args.eval_frames < 0:
        raise UserError("--eval-frames must be >= 0")
    if args.precision == "fp16" and not args.trt:
        raise UserError("--precision fp16 applies to the TensorRT engine; add --trt")
    if args.source and not os.path.exists(args.source):
        raise UserError(f"--source {args.source}: no such file or folder")


def _main(argv) -> int:
    args = _parser().parse_args(argv)
    _check(args)
    new_enhancer = args.enhancer if args.enhancer and not os.path.exists(args.enhancer) else None
    check_distinct(args.output, args.onnx, new_enhancer, args.json)
    for target in (args.output, args.onnx, new_enhancer):
        if target is not None:
            check_writable(target, inputs=(args.model,))
    check_json_target(args.json)
    with all_or_nothing(args.output, args.onnx, args.json, new_enhancer):
        return _export(args)


def _export(args) -> int:
    missing = trt_unavailable("trt") if args.trt else None
    if missing and not args.onnx:
        raise UserError(f"--trt: {missing}")
    print(f"nerv-export: loading {args.model}", file=sys.stderr)
    refuse_package(args.model)
    obj = read_checkpoint(args.model)
    if is_tds(obj):
        return _export_tds(args, load_tds(args.model, obj))
    if args.enhancer:
        raise UserError("--enhancer applies to a tds.pt (temporal down-sampling) only")
    loaded = read_model(args.model, video_path=args.video)
    if args.source:
        video = loaded.video
        video.source = args.source
        if video.crop is None and video.resize is None:
            video.crop = (video.height, video.width)
    print("nerv-export: compressing, exporting the decoder graph", file=sys.stderr)
    exported = export_decoder(loaded, args.quant_bits, args.embed_bits, args.prune)
    trt = None
    if args.trt:  # the TensorRT flavour of the same graph; --onnx gets it even where TensorRT is missing
        trt = optimize_for(exported.graph, "trt", args.precision)
        if args.onnx:
            save_onnx(trt, args.onnx)
        if missing:  # the graph stays: it is what was asked for where TensorRT is missing
            print(f"nerv-export: error: --trt: {missing} (wrote the TensorRT-flavoured graph to {args.onnx})",
                  file=sys.stderr)
            return 2
    print("nerv-export: entropy coding, writing the package", file=sys.stderr)
    opts = ExportOptions(quant_bits=args.quant_bits, embed_bits=args.embed_bits, prune=args.prune,
                         eval_frames=args.eval_frames, onnx_path=None if args.trt else args.onnx)
    report = build_package(loaded, args.output, opts, exported)
    line = (f"nerv-export: wrote {args.output}: {report['file_bytes']:,} bytes, {report['bpp']:.4f} bpp, "
            f"{report['frames']} frames {report['height']}x{report['width']}, coders {report['coders']}")
    print(line, file=sys.stderr)
    psnr = report.get("psnr")
    if psnr:
        parts = [f"{k} {psnr[k]:.3f} dB" for k in ("before", "after", "package_vs_uncompressed") if k in psnr]
        print(f"nerv-export: PSNR over {psnr['frames']} frames: " + ", ".join(parts), file=sys.stderr)
    if trt is not None:
        engine = cached_engine(args.output, trt, args.precision)
        report["trt_engine"] = str(engine)
        print(f"nerv-export: TensorRT engine cached at {engine}", file=sys.stderr)
    if args.json:
        write_json(args.json, report)
    return 0


def _export_tds(args, ck) -> int:
    """The TDS package (base streams, enhancer graph and coded weights, gop plan): ``--quant-bits`` and
    ``--onnx`` apply; the options of per-frame decoders do not."""
    if args.trt or args.prune or args.source or args.video or args.embed_bits != 6:
        raise UserError("a tds.pt takes --quant-bits, --onnx, --enhancer and --json only (no --trt, --prune, "
                        "--source, --video, --embed-bits)")
    print("nerv-export: exporting the enhancer graph, writing the package", file=sys.stderr)
    report = build_tds_package(ck, args.output, args.quant_bits, args.onnx, args.enhancer)
    shared = report["shared_enhancer"]
    print(f"nerv-export: wrote {args.output}: {report['file_bytes']:,} bytes ({report['base_bytes']:,} of base "
          f"streams), {report['bpp']:.4f} bpp, {report['frames']} frames {report['height']}x{report['width']}"
          + (f"; its enhancer is {args.enhancer} ({shared['bytes']:,} bytes, SHA-256 {shared['sha256'][:16]}...), "
             "named, not stored" if shared else ""), file=sys.stderr)
    if args.json:
        write_json(args.json, report)
    return 0


def main(argv=None) -> int:
    return run_tool("nerv-export", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
