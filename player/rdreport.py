"""nerv-rd's outputs for people: the stdout table, the RD chart (``--plot``) and ``--side-by-side``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nervkit.runtime import Decoder, open_package
from nervkit.runtime.atomic import AtomicOutput

from . import anchors, figure


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _rows(rows: list[list[str]], right_from: int) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.rjust(w) if i >= right_from else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in rows]


def table(report: dict) -> str:
    """Machine and source, every point of every series, BD figures, and the equal-size comparisons."""
    src, m = report["source"], report["machine"]
    lines = [f"nerv-rd: {src['path']}: {src['frames']} frames {src['height']}x{src['width']}; "
             f"{m['cpu']}, {m['cores']} cores" + (f", load average {m['load_average_1min']}"
                                                  if "load_average_1min" in m else "")]
    ceiling = report["conversion_ceiling"]
    if ceiling:
        lines.append(f"codecs: 8-bit yuv420p, BT.601 limited range, PSNR/MS-SSIM on RGB; the RGB -> yuv420p -> RGB "
                     f"conversion alone reaches {ceiling['psnr']:.2f} dB / {ceiling['ms_ssim']:.4f}")
    rows = [["series", "point", "bytes", "bpp", "PSNR dB", "MS-SSIM", "decode FPS"]]
    for s in report["series"]:
        for q in s["points"]:
            rows.append([s["name"], q["setting"], f"{q['bytes']:,}", f"{q['bpp']:.4f}", f"{q['psnr']:.2f}",
                         f"{q['ms_ssim']:.4f}", f"{q['decode_fps']:.1f}"])
    lines += [""] + _rows(rows, 2)
    if report["bd"]:
        rows = [["test", "anchor", "BD-rate", "BD-PSNR", "PSNR interval dB", "fit"]]
        for b in report["bd"]:
            iv = b["psnr_interval_db"]
            rows.append([b["test"], b["anchor"], _fmt(b["bd_rate_percent"], "+.1f", "no PSNR overlap") + "%"
                         * (b["bd_rate_percent"] is not None),
                         _fmt(b["bd_psnr_db"], "+.2f", "no rate overlap") + " dB" * (b["bd_psnr_db"] is not None),
                         "-" if iv is None else f"{iv[0]:.2f}-{iv[1]:.2f}", b["fit"]])
        lines += ["", "Bjontegaard deltas of each package series against each codec (negative BD-rate: fewer "
                      "bits for the same PSNR):"] + _rows(rows, 2)
    if report["same_size"]:
        rows = [["package", "bytes", "PSNR dB", "MS-SSIM", "FPS", "codec", "bytes", "PSNR dB", "MS-SSIM", "FPS"]]
        points = {q["path"]: q for s in report["series"] if s["kind"] == "nervkit" for q in s["points"]}
        for c in report["same_size"]:
            p, q = points[c["package"]], c["point"]
            rows.append([Path(c["package"]).name, f"{p['bytes']:,}", f"{p['psnr']:.2f}", f"{p['ms_ssim']:.4f}",
                         f"{p['decode_fps']:.1f}", f"{c['codec']} {q['setting']}", f"{q['bytes']:,}",
                         f"{q['psnr']:.2f}", f"{q['ms_ssim']:.4f}", f"{q['decode_fps']:.1f}"])
        lines += ["", "At the same size:"] + _rows(rows, 1)
    return "\n".join(lines)


def plot(report: dict, path: str) -> None:
    """PSNR and MS-SSIM against bits per pixel (log scale), one curve per series: packages solid,
    codecs dashed."""
    plt = figure.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, s in enumerate(report["series"]):
        pts = s["points"]
        style = {"linestyle": "-", "marker": "o", "linewidth": 2.2} if s["kind"] == "nervkit" else {
            "linestyle": "--", "marker": "s", "linewidth": 1.4, "markersize": 4}
        for ax, key in zip(axes, ("psnr", "ms_ssim")):
            ax.plot([q["bpp"] for q in pts], [q[key] for q in pts], label=s["name"], color=f"C{i % 10}", **style)
    for ax, label in zip(axes, ("PSNR (dB, RGB)", "MS-SSIM (RGB)")):
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (all bytes of the file)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=9)
    src, m = report["source"], report["machine"]
    fig.suptitle(f"nerv-rd: {Path(src['path']).name}, {src['frames']} frames {src['height']}x{src['width']}; "
                 f"codecs 8-bit 4:2:0; {m['cpu']}", fontsize=10)
    fig.tight_layout()
    figure.save(fig, path)


def _label(tile: np.ndarray, text: str, band: int = 16):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (tile.shape[1], tile.shape[0] + band), "white")
    img.paste(Image.fromarray(tile), (0, band))
    ImageDraw.Draw(img).text((3, 2), text, fill="black")
    return img


def side_by_side(frames: np.ndarray, index: int, packages: list[dict], same: list[dict], backend: str,
                 path: str) -> None:
    """Frame ``index`` as one row per package: source | package | each codec at the package's size,
    each tile labelled with its file size and clip-average PSNR, enlarged (nearest neighbour) to at
    least 480 pixels wide per tile so the pixels stay visible. Written atomically."""
    from PIL import Image

    scale = max(1, -(-480 // frames.shape[2]))
    big = lambda a: np.kron(a, np.ones((scale, scale, 1), np.uint8))  # noqa: E731
    rows = []
    for info in packages:
        with open_package(info["path"]) as pkg, Decoder(pkg, backend=backend) as dec:
            mine = dec.decode_frame(index)
        p = info["point"]
        tiles = [_label(big(frames[index]), f"source, frame {index}"),
                 _label(big(mine), f"nervkit {info['family']}: {p['bytes']:,} B, {p['psnr']:.2f} dB")]
        for c in (c for c in same if c["package"] == info["path"]):
            q = c["point"]
            decoded, _ = anchors.decode(q["path"])
            text = f"{c['codec']} {q['setting']}: {q['bytes']:,} B, {q['psnr']:.2f} dB"
            tiles.append(_label(big(decoded[index]), text))
        rows.append(tiles)
    width = sum(t.width for t in rows[0]) + 4 * (len(rows[0]) - 1)
    sheet = Image.new("RGB", (width, sum(r[0].height + 4 for r in rows) - 4), "white")
    y = 0
    for tiles in rows:
        x = 0
        for t in tiles:
            sheet.paste(t, (x, y))
            x += t.width + 4
        y += tiles[0].height + 4
    with AtomicOutput(path) as out:
        sheet.save(out.path, format="PNG")
