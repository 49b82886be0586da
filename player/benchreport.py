"""nerv-bench's outputs for people: the stdout table and the bar chart (``--plot``)."""

from __future__ import annotations

from pathlib import Path

from . import figure


def _header(report: dict) -> list[str]:
    m, s = report["machine"], report["settings"]
    where = f"{m['cpu']}, {m['cores']} cores" + (f", {m['memory_gib']} GiB" if "memory_gib" in m else "")
    where += f", GPU {m['gpu']}" if "gpu" in m else ""
    load = f", load average {m['load_average_1min']}" if "load_average_1min" in m else ""
    lines = [f"machine: {where}{load}; onnxruntime {m['onnxruntime']}"
             + (f", openvino {m['openvino']}" if "openvino" in m else "")
             + (f", torch {m['torch']}" if "torch" in m else ""),
             "cpu flags: " + " ".join(m.get("cpu_flags", [])),
             f"timing: {s['warmup']} warm-up + {s['repeats']} timed calls per batch; {s['timed']}"]
    lines += [f"peak {d}: {p['flops'] / 1e9:.1f} GFLOP/s measured ({p['method']})"
              for d, p in report["peak"].items()]
    return lines


def table(report: dict) -> str:
    """The whole report as aligned text: machine and settings, then one block per package."""
    lines = _header(report)
    cols = ["decoder", "device", "prec", "batch", "FPS", "p50 ms", "p99 ms", "GFLOP/s", "% peak",
            "max|d| 8bit", "PSNR vs fp32", "guard dB"]
    for p in report["packages"]:
        lines += ["", f"{Path(p['path']).name}: family {p['family']}, {p['parameters']:,} parameters, "
                      f"{p['height']}x{p['width']}, frames {p['frames'][0]}:{p['frames'][1]}, "
                      f"{p['macs_per_frame'] / 1e9:.3f} GMAC per frame"]
        rows = [cols]
        for r in p["results"]:
            diff = "reference" if r["max_abs_diff"] == 0.0 and r["decoder"].endswith("-eager") else (
                "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.4f}")
            row = [r["decoder"], r["device"], r["precision"], str(r["batch"]), f"{r['fps']:.2f}",
                   f"{r['latency_ms']['p50']:.1f}", f"{r['latency_ms']['p99']:.1f}",
                   f"{r['flops'] / 1e9:.1f}", f"{100 * r['peak_share']:.1f}", diff,
                   "-" if r["psnr_vs_fp32_db"] is None else f"{r['psnr_vs_fp32_db']:.1f}",
                   "-" if r["guard_loss_db"] is None else f"{r['guard_loss_db']:.4f}"]
            rows.append(row)
        lines += _aligned(rows, left=3)
        if p.get("plan") == "gop":
            lines.append(f"  gop plan: the {p['base_codec']} row decodes the base streams alone "
                         f"({p['base_seconds']:.3f} s); every other row is the TDS pipeline, that decode plus "
                         "the enhancer; enhancer alone: " + ", ".join(
                             f"{r['decoder']} batch {r['batch']} {r['enhance_fps']:.2f} FPS"
                             for r in p["results"] if r["enhance_fps"] is not None))
    suite = report.get("versus_hnerv")
    if suite:
        lines += ["", f"suite: time per frame relative to {Path(suite['hnerv']).name} "
                      f"({suite['hnerv_parameters']:,} parameters), same decoder kind, precision and batch kind"]
        rows = [["package", "family", "parameters", "decoder", "device", "prec", "batch", "time vs hnerv",
                 "MACs vs hnerv", "time/MAC vs hnerv"]]
        rows += [[Path(r["package"]).name, r["family"], f"{r['parameters']:,}", r["decoder"], r["device"],
                  r["precision"], str(r["batch"]), f"{r['time_vs_hnerv']:.2f}x", f"{r['macs_vs_hnerv']:.2f}x",
                  f"{r['time_vs_hnerv'] / r['macs_vs_hnerv']:.2f}x"] for r in suite["rows"]]
        lines += _aligned(rows, left=6)
    return "\n".join(lines)


def _aligned(rows: list[list[str]], left: int) -> list[str]:
    """Table lines: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) if i < left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))) for row in rows]


def plot(report: dict, path: str) -> None:
    """Horizontal bars of frames per second, one per decoder and batch, grouped by package, each
    labelled with its FPS and share of peak; log scale when the bars span more than 30x."""
    plt = figure.pyplot()
    labels, values, notes, colours = [], [], [], []
    palette = plt.get_cmap("tab10")
    names = sorted({r["decoder"] + " " + r["device"] for p in report["packages"] for r in p["results"]})
    for p in report["packages"]:
        for r in p["results"]:
            prefix = f"{Path(p['path']).stem} · " if len(report["packages"]) > 1 else ""
            labels.append(f"{prefix}{r['decoder']} ({r['device']}, {r['precision']}) batch {r['batch']}")
            values.append(r["fps"])
            fps = f"{r['fps']:,.0f}" if r["fps"] >= 100 else f"{r['fps']:.3g}"
            notes.append(f" {fps} fps · {100 * r['peak_share']:.1f}% of peak")
            colours.append(palette(names.index(r["decoder"] + " " + r["device"]) % 10))
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(values)))
    y = range(len(values))[::-1]
    ax.barh(list(y), values, color=colours)
    for yi, v, note in zip(y, values, notes, strict=True):
        ax.text(v, yi, note, va="center", fontsize=9)
    ax.set_yticks(list(y), labels, fontsize=9)
    if max(values) > 30 * min(values):
        ax.set_xscale("log")
    ax.set_xlim(right=max(values) * (12 if ax.get_xscale() == "log" else 1.5))
    ax.set_xlabel("decoded frames per second (higher is better)")
    m, s = report["machine"], report["settings"]
    pk = report["packages"][0]
    ax.set_title(f"nerv-bench: {pk['height']}x{pk['width']}, {m['cpu']} ({m['cores']} cores)"
                 + (f" + {m['gpu']}" if "gpu" in m else "")
                 + f"\n{s['warmup']} warm-up + {s['repeats']} timed calls per batch", fontsize=10)
    fig.tight_layout()
    figure.save(fig, path)
