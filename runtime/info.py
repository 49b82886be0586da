"""``nerv-info clip.nvpkg [--json FILE]``: what a package holds, its sizes and bits per pixel.

Opening validates the whole package (checksums, manifest, streams), so ``nerv-info`` is also the way
to check a file: exit 0 valid, 2 invalid (one line saying why).
"""

from __future__ import annotations

import argparse
import sys

from .errors import run_cli
from .jsonout import add_json_argument, check_json_target, write_json
from .package import add_enhancer_argument, open_package


def describe(path: str, enhancer: str | None = None) -> dict:
    """Plain-JSON description of the package at ``path`` (validating it, with the shared ``enhancer`` file
    it names, if any)."""
    with open_package(path, enhancer) as pkg:
        frames, h, w = pkg.num_frames, pkg.height, pkg.width
        sections = {k: {"bytes": v["length"], "raw_bytes": v["raw_length"], "compression": v["compression"]}
                    for k, v in pkg.manifest["sections"].items()}
        return {"path": path, "format_version": "{}.{}".format(*pkg.version), "family": pkg.family,
                "frames": frames, "height": h, "width": w, "fps": pkg.fps,
                "embed_inputs": {k: list(v) for k, v in pkg.embed_shapes.items()},
                "plan": {"kind": pkg.plan.kind, "description": pkg.plan.describe()},
                "decoder_params": pkg.num_weights, "file_bytes": pkg.file_size,
                "bpp": 8.0 * pkg.file_size / (frames * h * w), "coders": pkg.coders(), "sections": sections,
                "manifest": pkg.manifest}


def _main(argv) -> int:
    ap = argparse.ArgumentParser(prog="nerv-info", description=__doc__.splitlines()[0])
    ap.add_argument("package", help="a .nvpkg file")
    add_enhancer_argument(ap)
    add_json_argument(ap, "the description")
    args = ap.parse_args(argv)
    check_json_target(args.json)
    info = describe(args.package, args.enhancer)
    if args.json:
        write_json(args.json, info)
        if args.json == "-":
            return 0
    out = sys.stdout
    video = f"{info['frames']} frames, {info['height']}x{info['width']}, {info['fps']:g} fps"
    print(f"{info['path']}: nvpkg {info['format_version']}, family {info['family']}", file=out)
    print(f"  video     {video}", file=out)
    print(f"  plan      {info['plan']['description']}", file=out)
    print(f"  decoder   {info['decoder_params']:,} weights; inputs "
          + ", ".join(f"{k} {v}" for k, v in info["embed_inputs"].items()), file=out)
    print(f"  size      {info['file_bytes']:,} bytes = {info['bpp']:.4f} bits per pixel", file=out)
    for name, s in info["sections"].items():
        print(f"    {name:<16}{s['bytes']:>12,} bytes ({s['compression']}, {s['raw_bytes']:,} raw)", file=out)
    print("  coders    " + ", ".join(f"{k}: {v}" for k, v in info["coders"].items()), file=out)
    comp = info["manifest"].get("compression")
    if isinstance(comp, dict):
        print("  settings  " + ", ".join(f"{k}={v}" for k, v in comp.items()), file=out)
    return 0


def main(argv=None) -> int:
    return run_cli("nerv-info", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
