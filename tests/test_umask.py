"""Every output kind follows the user's umask (files 0666 and folders 0777 minus the umask), as any
program's ``open`` does: model.pt, .nvpkg, ONNX, JSON, .y4m, .mp4, PNG folders and their PNGs, the bench plot."""

from __future__ import annotations

import os

from tiny import tiny_loaded

from nervkit.export.build import ExportOptions, build_package
from nervkit.export.files import write_model
from nervkit.player.bench import main as bench_main
from nervkit.player.play import main as play_main
from nervkit.runtime.jsonout import write_json

UMASK = 0o027


def test_every_output_kind_follows_the_umask(tmp_path):
    pkg = tmp_path / "c.nvpkg"
    old = os.umask(UMASK)
    try:
        loaded = tiny_loaded()
        write_model(tmp_path / "m.pt", loaded)
        build_package(loaded, pkg, ExportOptions(eval_frames=0, onnx_path=str(tmp_path / "g.onnx")))
        write_json(str(tmp_path / "r.json"), {"ok": True})
        for name in ("v.y4m", "v.mp4", "pngs"):
            assert play_main([str(pkg), "--output", str(tmp_path / name)]) == 0
        assert bench_main([str(pkg), "--baseline", "none", "--backends", "ort-cpu", "--frames", "0:2",
                           "--batch", "1", "--repeats", "1", "--plot", str(tmp_path / "b.png")]) == 0
    finally:
        os.umask(old)
    files = ["m.pt", "c.nvpkg", "g.onnx", "r.json", "v.y4m", "v.mp4", "b.png"]
    files += [f"pngs/{p.name}" for p in (tmp_path / "pngs").iterdir()]
    modes = {name: oct((tmp_path / name).stat().st_mode & 0o777) for name in files + ["pngs"]}
    want = {name: oct(0o666 & ~UMASK) for name in files} | {"pngs": oct(0o777 & ~UMASK)}
    assert modes == want
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["b.png", "pngs", *files[:6]])  # no temporaries
