"""``nerv-rd SOURCE PACKAGE_OR_FOLDER...``: size against quality of packages and of x264, x265, SVT-AV1.

    nerv-rd frames/ hnerv-0.1.nvpkg hnerv-0.2.nvpkg --json rd.json --plot rd.png
    nerv-rd clip.mp4 packages/ --codecs libx264 --crop 640x1280 --resize 320x640
    nerv-rd clip/ clip.nvpkg --codecs libx264 --same-size --side-by-side compare.png

Every package and every codec anchor is decoded here, on the same source frames (read as nerv-train
reads them, with the same --crop and --resize), and measured the same way: bits per pixel from all bytes
of its file, PSNR and MS-SSIM on RGB (the trainer's definitions), decode frames per second. Packages
form one series per family; each codec is encoded at a ladder of CRFs reaching past the packages'
bpp and PSNR on both sides. BD-rate and BD-PSNR compare each package series with each codec
(``--bd cubic`` as VCEG-M33, or ``pchip``). ``--same-size`` also encodes each codec at each package's
size (CRF searched to within a few percent) and lists them side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nervkit.runtime import Decoder, open_package, quality
from nervkit.runtime.atomic import check_distinct, check_writable, scratch_folder
from nervkit.runtime.errors import UserError, run_cli
from nervkit.runtime.jsonout import add_json_argument, check_json_target, write_json
from nervkit.runtime.video import load_video, parse_hw

from . import anchors, figure, machine, rdreport
from .bjontegaard import METHODS, bd_psnr, bd_rate, fit_name

MAX_LADDER = 14
"""Most CRFs one codec's sweep encodes (besides the --same-size searches)."""
SAME_SIZE_TOLERANCE = 0.03
"""A --same-size anchor is accepted within this fraction of the package's bytes."""
SAME_SIZE_STEPS = 8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nerv-rd", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Colour: " + anchors.__doc__.split("\n\n")[1])
    p.add_argument("source", help="the video the packages were trained on: a video file or a folder of images")
    p.add_argument("packages", nargs="+", help=".nvpkg files, or folders (every .nvpkg inside)")
    p.add_argument("--codecs", default="libx264,libx265,libsvtav1",
                   help=f"comma-separated anchors from {', '.join(anchors.CODECS)} (default: all; 'none': no anchor)")
    p.add_argument("--crop", help="centre crop HxW before resizing, as given to nerv-train")
    p.add_argument("--resize", help="bicubic resize to HxW after cropping, as given to nerv-train")
    p.add_argument("--bd", choices=METHODS, default="cubic",
                   help="Bjontegaard fit: cubic polynomial in log-rate (VCEG-M33, default) or pchip")
    p.add_argument("--same-size", action="store_true",
                   help="also encode every codec at each package's byte count and compare at equal size")
    p.add_argument("--side-by-side", metavar="PNG",
                   help="one frame as source | package | each codec at the same size (implies --same-size)")
    p.add_argument("--frame", type=int, help="frame shown by --side-by-side (default: the middle one)")
    p.add_argument("--backend", default="auto", help="runtime backend decoding the packages (default: auto)")
    p.add_argument("--batch", type=int, default=4, help="frames per package decoder call (default: 4)")
    p.add_argument("--keep", metavar="DIR", help="keep the encoded anchor files in DIR (default: discarded)")
    add_json_argument(p, "every number")
    p.add_argument("--plot", metavar="FILE", help="RD chart: PSNR and MS-SSIM against bpp (.png, .svg, .pdf)")
    return p


def _package_paths(items: Sequence[str]) -> list[Path]:
    paths = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(item.glob("*.nvpkg"))
            if not found:
                raise UserError(f"{item}: folder holds no .nvpkg file")
            paths += found
        elif item.exists():
            paths.append(item)
        else:
            raise UserError(f"{item}: no such package or folder")
    return paths


def _check_packages(paths: list[Path], frames: np.ndarray) -> list[dict]:
    """Open each package and check it covers exactly the source's frames; its facts as dicts."""
    n, h, w, _ = frames.shape
    out = []
    for path in paths:
        with open_package(path) as pkg:
            if (pkg.num_frames, pkg.height, pkg.width) != (n, h, w):
                raise UserError(f"{path}: {pkg.num_frames} frames of {pkg.height}x{pkg.width}, but the source has "
                                f"{n} frames of {h}x{w} (same --crop/--resize as nerv-train?)")
            out.append({"path": str(path), "family": pkg.family, "bytes": path.stat().st_size})
    return out


def _point(frames: np.ndarray, decoded: np.ndarray, nbytes: int, seconds: float) -> dict:
    n, h, w, _ = frames.shape
    if decoded.shape != frames.shape:
        raise RuntimeError(f"decoded {decoded.shape[0]} frames of {decoded.shape[1]}x{decoded.shape[2]}, "
                           f"expected {n} of {h}x{w}")
    psnr, ssim = quality.psnr(frames, decoded), quality.ms_ssim(frames, decoded)
    return {"bytes": nbytes, "bpp": 8.0 * nbytes / (n * h * w), "psnr": float(psnr.mean()),
            "ms_ssim": float(ssim.mean()), "decode_fps": n / seconds, "psnr_per_frame": psnr.round(4).tolist()}


def _decode_package(path: str, backend: str, batch: int) -> tuple[np.ndarray, float, str]:
    """Frames of a package, and the seconds of a second, timed pass (the first is the warm-up)."""
    with open_package(path) as pkg, Decoder(pkg, backend=backend, batch=batch) as dec:
        frames = np.concatenate(list(dec.decode_frames()))
        start = time.perf_counter()
        for _ in dec.decode_frames():
            pass
        return frames, time.perf_counter() - start, dec.backend


def measure_package(info: dict, frames: np.ndarray, backend: str, batch: int) -> dict:
    decoded, seconds, used = _decode_package(info["path"], backend, batch)
    return {**_point(frames, decoded, info["bytes"], seconds), "setting": Path(info["path"]).name,
            "path": info["path"], "backend": used}


class AnchorRun:
    """Encodes one codec at CRFs on demand and remembers every measured point."""

    def __init__(self, spec: anchors.Codec, frames: np.ndarray, fps: float, folder: Path, bar: tqdm):
        self.spec, self.frames, self.fps, self.folder, self.bar = spec, frames, fps, folder, bar
        self.points: dict[float, dict] = {}

    def at(self, crf: float) -> dict:
        crf = float(round(crf) if self.spec.integer_crf else round(crf, 2))
        if crf not in self.points:
            path = self.folder / f"{self.spec.name}-crf{crf:g}.mkv"
            self.bar.set_postfix_str(f"{self.spec.label} crf {crf:g}")
            nbytes = anchors.encode(self.frames, self.spec, crf, path, self.fps)
            decoded, _ = anchors.decode(path)  # the warm-up pass: decoder threads, caches
            _, seconds = anchors.decode(path)
            self.points[crf] = {**_point(self.frames, decoded, nbytes, seconds), "setting": f"crf {crf:g}",
                                "crf": crf, "path": str(path)}
            self.bar.update()
        return self.points[crf]

    def sweep(self, bpp: tuple[float, float], psnr: tuple[float, float]) -> None:
        """CRFs from ``crf_start`` in ``crf_step`` steps, each way until the points pass the packages'
        bpp and PSNR ranges (or the CRF range ends); at least four points."""
        s = self.spec
        p = self.at(s.crf_start)
        crf = s.crf_start
        while (p["bpp"] > bpp[0] or p["psnr"] > psnr[0]) and crf < s.crf_max and len(self.points) < MAX_LADDER:
            crf = min(crf + s.crf_step, s.crf_max)
            p = self.at(crf)
        p, crf = self.points[s.crf_start], s.crf_start
        while ((p["bpp"] < bpp[1] or p["psnr"] < psnr[1] or len(self.points) < 4) and crf > s.crf_min
               and len(self.points) < MAX_LADDER):
            crf = max(crf - s.crf_step, s.crf_min)
            p = self.at(crf)

    def same_size(self, target: int) -> dict:
        """The point whose file is closest to ``target`` bytes: bisection on CRF between ladder points
        (file size falls as CRF rises), stopping within SAME_SIZE_TOLERANCE or at the end of the CRF range."""
        s = self.spec
        lo, hi = s.crf_min, s.crf_max  # lo gives at least the target's bytes, hi fewer
        for crf, p in self.points.items():
            if p["bytes"] >= target:
                lo = max(lo, crf)
            else:
                hi = min(hi, crf)
        for end, reached in ((s.crf_min, lambda p: p["bytes"] >= target), (s.crf_max, lambda p: p["bytes"] < target)):
            if end in (lo, hi) and not reached(self.at(end)):
                return self.points[end]  # the codec cannot get this large (or this small)
        for _ in range(SAME_SIZE_STEPS):
            best = min(self.points.values(), key=lambda q: abs(q["bytes"] - target))
            mid = (lo + hi) / 2
            if (abs(best["bytes"] / target - 1) <= SAME_SIZE_TOLERANCE or hi - lo <= 0.05
                    or (s.integer_crf and round(mid) in (lo, hi))):
                break
            if self.at(mid)["bytes"] >= target:
                lo = mid
            else:
                hi = mid
        return min(self.points.values(), key=lambda q: abs(q["bytes"] - target))


def _series(packages: list[dict], runs: list[AnchorRun]) -> list[dict]:
    series = []
    for family in dict.fromkeys(p["family"] for p in packages):
        pts = sorted((p["point"] for p in packages if p["family"] == family), key=lambda q: q["bpp"])
        series.append({"name": family, "kind": "nervkit", "points": pts})
    for run in runs:
        series.append({"name": run.spec.label, "kind": "codec", "codec": run.spec.name,
                       "options": run.spec.options, "points": sorted(run.points.values(), key=lambda q: q["bpp"])})
    return series


def _near(anchor: list[dict], test: list[dict], key: str) -> list[dict]:
    """The anchor points that span the test curve along ``key``, one more on each side, at least four:
    a cubic fitted to the whole ladder (which reaches far past the packages) would smooth over the
    part that matters."""
    pts = sorted(anchor, key=lambda q: q[key])
    lo, hi = min(q[key] for q in test), max(q[key] for q in test)
    below = [i for i, q in enumerate(pts) if q[key] < lo]
    above = [i for i, q in enumerate(pts) if q[key] > hi]
    a, b = (below[-1] if below else 0), (above[0] + 1 if above else len(pts))
    while b - a < 4 and (a > 0 or b < len(pts)):
        if a > 0 and (b == len(pts) or lo - pts[a - 1][key] < pts[b][key] - hi):
            a -= 1
        else:
            b += 1
    return pts[a:b]


def _bd(test: dict, anchor: dict, method: str) -> dict:
    """BD-rate (fitted over PSNR) and BD-PSNR (over log-rate) of a package series against a codec."""
    def curve(points):
        return [q["bpp"] for q in points], [q["psnr"] for q in points]

    by_psnr, by_rate = _near(anchor["points"], test["points"], "psnr"), _near(anchor["points"], test["points"], "bpp")
    rate, psnr_iv = bd_rate(curve(by_psnr), curve(test["points"]), method)
    dpsnr, rate_iv = bd_psnr(curve(by_rate), curve(test["points"]), method)
    return {"test": test["name"], "anchor": anchor["name"], "bd_rate_percent": rate, "bd_psnr_db": dpsnr,
            "psnr_interval_db": psnr_iv, "bpp_interval": rate_iv and [10**v for v in rate_iv],
            "fit": fit_name(method, len(test["points"])), "anchor_points": [len(by_psnr), len(by_rate)]}


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    names = [] if args.codecs == "none" else [c.strip() for c in args.codecs.split(",") if c.strip()]
    specs = [anchors.codec(c) for c in dict.fromkeys(names)]
    if args.batch < 1:
        raise UserError(f"--batch {args.batch}: must be at least 1")
    same_size = args.same_size or bool(args.side_by_side)
    if same_size and not specs:
        raise UserError("--same-size and --side-by-side need at least one codec")
    check_distinct(args.json, args.plot, args.side_by_side)
    check_json_target(args.json)
    figure.check_target(args.plot)
    if args.side_by_side:
        check_writable(args.side_by_side)
    paths = _package_paths(args.packages)
    clip = load_video(args.source, parse_hw(args.crop), parse_hw(args.resize))
    frames = clip.frames
    packages = _check_packages(paths, frames)
    n = len(frames)
    shown = n // 2 if args.frame is None else args.frame
    if not 0 <= shown < n:
        raise UserError(f"--frame {args.frame}: the source has frames 0..{n - 1}")
    if specs:
        anchors.check_frames(frames)
    print(f"nerv-rd: {args.source}: {n} frames {frames.shape[1]}x{frames.shape[2]}; {len(packages)} package(s)",
          file=sys.stderr)
    for info in tqdm(packages, desc="packages", unit="pkg", file=sys.stderr, disable=None, leave=False):
        info["point"] = measure_package(info, frames, args.backend, args.batch)
    bpps = [p["point"]["bpp"] for p in packages]
    psnrs = [p["point"]["psnr"] for p in packages]
    with scratch_folder("nerv-rd-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runs, same = [], []
        with tqdm(desc="anchors", unit="encode", file=sys.stderr, disable=None, leave=False) as bar:
            for spec in specs:
                run = AnchorRun(spec, frames, clip.fps, folder, bar)
                run.sweep((min(bpps), max(bpps)), (min(psnrs), max(psnrs)))
                if same_size:
                    for p in packages:
                        q = run.same_size(p["bytes"])
                        same.append({"package": p["path"], "codec": spec.label, "point": q,
                                     "matched": abs(q["bytes"] / p["bytes"] - 1) <= SAME_SIZE_TOLERANCE})
                runs.append(run)
        ceiling = anchors.conversion_ceiling(frames) if specs else None
        report = {
            "source": {"path": str(args.source), "frames": n, "height": frames.shape[1], "width": frames.shape[2],
                       "crop": args.crop, "resize": args.resize},
            "machine": machine.describe(),
            "colour": anchors.__doc__.split("\n\n")[1].replace("\n", " "),
            "settings": {"bd_fit": args.bd, "decode_fps": "second of two full decodes of all frames to uint8 RGB "
                         "(packages: runtime Decoder; codecs: PyAV/FFmpeg decoder plus the conversion to RGB)"},
            "conversion_ceiling": None if ceiling is None else {
                "psnr": float(quality.psnr(frames, ceiling).mean()),
                "ms_ssim": float(quality.ms_ssim(frames, ceiling).mean())},
            "series": _series(packages, runs),
            "same_size": same,
        }
        report["bd"] = [_bd(t, a, args.bd) for t in report["series"] if t["kind"] == "nervkit"
                        for a in report["series"] if a["kind"] == "codec"]
        if args.side_by_side:
            rdreport.side_by_side(frames, shown, packages, same, args.backend, args.side_by_side)
            report["side_by_side"] = {"path": args.side_by_side, "frame": shown}
    if not args.keep:
        for s in report["series"]:
            for q in s["points"]:
                if s["kind"] == "codec":
                    q.pop("path")
    if args.json:
        write_json(args.json, report)
    if args.plot:
        rdreport.plot(report, args.plot)
    if args.json != "-":
        print(rdreport.table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("nerv-rd", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
