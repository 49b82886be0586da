"""Each family's decode time per MAC relative to HNeRV, per backend and precision, every package interleaved.

    python benchmarks/make_family_suite.py /tmp/suite
    python benchmarks/bench_family_ratios.py /tmp/suite --before /tmp/suite_old --repeats 15 \\
        --json benchmarks/results/family_ratios_160x320.json

``nerv-bench --suite`` times one package after another, so a change of load between packages lands in
their ratio. Here every decoder of every package (each backend in each precision it runs here, ``--batch``
frames per call, 1 by default) is built first, then timed decoder kind by decoder kind (backend and
precision), round by round, each round calling every package's decoder of that kind once in a fresh
random order, so every ratio is taken side by side: each round's time over the HNeRV package's time in
the same round, the median over ``--repeats`` rounds after ``--warmup`` (a per-round ratio cancels the
load of other work on a shared machine far better than a ratio of medians).

One kind at a time, in random order: ONNX Runtime's worker threads spin for tens of milliseconds after
a call, and an OpenVINO call made meanwhile is slowed (HNeRV bf16 at 160x320: 28 ms right after an
``ort-cpu`` call against 8 ms after a pause), so rounds that mixed kinds in a fixed order charged that
to whichever package came first after the switch (CF-NeRV, first by name: 2-3x its time on openvino
fp32). Each kind's own warm-up rounds absorb the switch.

``--before DIR``: a second suite (the same families exported by an older nervkit) timed in the same
rounds, so the table shows what the export passes changed, measured at the same moment.

Per package and decoder: milliseconds per frame, the time relative to the HNeRV package of the same
suite and decoder, the MACs relative to HNeRV's (both from the package graphs, ``player/macs.py``), and
their quotient, the time per MAC relative to HNeRV (the goal of issue 11: at most 1.2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from nervkit.player.machine import describe
from nervkit.player.macs import macs_per_frame
from nervkit.runtime import available_backends, open_package
from nervkit.runtime import backends as runtime_backends

BASE = "hnerv"


def _decoders() -> list[tuple[str, str]]:
    return [(b, p) for b in ("ort-cpu", "openvino") if b in available_backends()
            for p in reversed(runtime_backends.precisions(b))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", help="folder of .nvpkg files, one per family (make_family_suite.py)")
    ap.add_argument("--before", metavar="DIR", help="a second suite to time in the same rounds")
    ap.add_argument("--decoders", metavar="LIST", help="comma-separated backend:precision pairs "
                    "(default: every backend in every precision it runs here)")
    ap.add_argument("--batch", type=int, default=1, help="frames per call (times are per frame)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--settle", type=float, default=0.02, metavar="SECONDS",
                    help="untimed pause before each call, so the previous call's worker threads are idle "
                         "(ONNX Runtime's spin after a run and slow the next session's call)")
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    suites = {"after": args.suite} if not args.before else {"before": args.before, "after": args.suite}
    decoders = [tuple(d.split(":")) for d in args.decoders.split(",")] if args.decoders else _decoders()
    packages = {(label, path): open_package(path) for label, folder in suites.items()
                for path in sorted(Path(folder).glob("*.nvpkg"))}
    runs = []
    for backend, precision in decoders:
        for label in suites:
            for (suite, path), pkg in packages.items():
                if suite == label:
                    runs.append({"suite": label, "family": pkg.family, "package": str(path), "backend": backend,
                                 "precision": precision, "macs_per_frame": macs_per_frame(pkg),
                                 "dec": runtime_backends.create(backend, pkg, args.batch, precision),
                                 "feeds": pkg.embeddings(0, args.batch), "times": []})
    print(f"bench_family_ratios: {len(runs)} decoders, {args.warmup} + {args.repeats} rounds", file=sys.stderr)
    shuffle = np.random.default_rng(0)
    for kind in decoders:
        of_kind = [r for r in runs if (r["backend"], r["precision"]) == kind]
        for rnd in range(args.warmup + args.repeats):
            for run in [of_kind[i] for i in shuffle.permutation(len(of_kind))]:
                time.sleep(args.settle)
                t0 = time.perf_counter()
                run["dec"].run(run["feeds"])
                if rnd >= args.warmup:
                    run["times"].append(time.perf_counter() - t0)
    rows = []
    for run in runs:
        run["dec"].close()
        base = next(r for r in runs if r["family"] == BASE and all(
            r[k] == run[k] for k in ("suite", "backend", "precision")))
        per_round = np.asarray(run["times"]) / np.asarray(base["times"])
        time_ratio, mac_ratio = float(np.median(per_round)), run["macs_per_frame"] / base["macs_per_frame"]
        rows.append({k: run[k] for k in ("suite", "family", "package", "backend", "precision", "macs_per_frame")}
                    | {"ms_per_frame": 1e3 * float(np.median(run["times"])) / args.batch, "time_vs_hnerv": time_ratio,
                       "time_vs_hnerv_iqr": [float(q) for q in np.percentile(per_round, [25, 75])],
                       "macs_vs_hnerv": mac_ratio, "time_per_mac_vs_hnerv": time_ratio / mac_ratio})
    for pkg in packages.values():
        pkg.close()
    for r in rows:
        print(f"{r['suite']:6s} {r['family']:10s} {r['backend']:8s} {r['precision']:4s} {r['ms_per_frame']:8.2f} ms"
              f"  time x{r['time_vs_hnerv']:.2f} (IQR {r['time_vs_hnerv_iqr'][0]:.2f}-"
              f"{r['time_vs_hnerv_iqr'][1]:.2f})  MACs x{r['macs_vs_hnerv']:.2f}  per MAC x"
              f"{r['time_per_mac_vs_hnerv']:.2f}")
    if args.json:
        settings = {"warmup": args.warmup, "repeats": args.repeats, "settle_s": args.settle, "batch": args.batch,
                    "suites": suites,
                    "timed": "decoder network only, `batch` frames per call, one decoder kind at a time, every "
                             "package's decoder of that kind once per round in random order; ratios: median "
                             "over rounds of the per-round ratio"}
        Path(args.json).write_text(json.dumps({"machine": describe(), "settings": settings, "rows": rows},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
