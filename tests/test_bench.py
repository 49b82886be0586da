"""nerv-bench in-process on tiny real packages: JSON, table and plot hold what was measured; MACs
match an independent count on the PyTorch model; the suite is relative to HNeRV; player imports
no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from PIL import Image
from test_play_cli import make_package

from nervkit.player.bench import main
from nervkit.player.macs import macs_per_frame
from nervkit.runtime import available_backends, open_package
from nervkit.runtime.backends import precisions


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests check numbers, not speed: one thread spares the shared 2-core machine
    the cost of OpenMP threads waiting on each other for 32x64 frames."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    return make_package(d / "hnerv.nvpkg"), make_package(d / "hfe.nvpkg", "test-hfe-hnerv", seed=1)


def test_macs_match_the_torch_model(tmp_path):
    """Count conv MACs with forward hooks on the trainer's model: an independent reference."""
    from nervkit.trainer.registry import create_model

    path = make_package(tmp_path / "m.nvpkg")
    model = create_model("test-hnerv", (32, 64), 8)
    count = []

    def hook(m, inputs, out):
        count.append(out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d) and not name.startswith("encoder"):
            m.register_forward_hook(hook)
    with open_package(path) as pkg:
        model.decode(torch.zeros(1, *pkg.embed_shapes["embed"]))
        assert macs_per_frame(pkg) == sum(count) > 0


def test_bench_json_table_plot(pkgs, tmp_path, capsys):
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    args = [str(pkgs[0]), "--frames", "0:4", "--batch", "2", "--repeats", "2", "--json", str(js),
            "--plot", str(png)]
    assert main(args) == 0
    out = capsys.readouterr().out
    for text in ("peak cpu", "GFLOP/s measured", "1 warm-up + 2 timed", "test-hnerv-eager", "ort-cpu",
                 "reference"):
        assert text in out
    report = json.loads(js.read_text())
    assert report["settings"]["warmup"] == 1 and report["settings"]["repeats"] == 2
    assert report["machine"]["cores"] >= 1 and report["peak"]["cpu fp32"]["flops"] > 0
    assert report["machine"]["cpu"] and isinstance(report["machine"]["cpu_flags"], list)
    [p] = report["packages"]
    assert p["macs_per_frame"] > 0 and p["frames"] == [0, 4]
    rows = {(r["decoder"], r["precision"], r["batch"]): r for r in p["results"]}
    runtime = [(b, prec) for b in available_backends() for prec in precisions(b)]
    assert set(rows) == {(d, prec, b) for d, prec in [("test-hnerv-eager", "fp32"), *runtime] for b in (1, 2)}
    for (_, prec, _), r in rows.items():
        assert r["fps"] > 0 and 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        assert r["flops"] == pytest.approx(2 * p["macs_per_frame"] * r["fps"])
        assert r["peak_share"] == pytest.approx(r["flops"] / report["peak"][f"cpu {prec}"]["flops"])
        if prec == "fp32":  # 8-bit levels: same graph and weights, fp32 both
            assert r["max_abs_diff"] < 0.01
        else:
            assert r["max_abs_diff"] > 0 and r["psnr_vs_fp32_db"] > 0  # accuracy: test_precision.py
    assert rows[("test-hnerv-eager", "fp32", 1)]["max_abs_diff"] == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 600 and im.height > 200


def test_suite_is_relative_to_hnerv(pkgs, tmp_path, capsys):
    suite = pkgs[0].parent
    assert main(["--suite", str(suite), "--backends", "ort-cpu", "--frames", "0:2", "--batch", "2",
                 "--repeats", "1", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_family = {p["family"]: p for p in report["packages"]}
    assert set(by_family) == {"test-hnerv", "test-hfe-hnerv"}
    for family, p in by_family.items():
        assert {(r["decoder"], r["batch"]) for r in p["results"]} == {
            (f"{family}-eager", 1), (f"{family}-eager", 2), ("ort-cpu", 1), ("ort-cpu", 2)}
        assert all("time_vs_hnerv" not in r for r in p["results"])  # the comparison is its own block
        with open_package(p["path"]) as pkg:  # decoder weights plus embeddings, as the papers count
            assert p["parameters"] == pkg.num_weights + sum(
                pkg.embeddings(0, pkg.num_frames)[k].size for k in pkg.embed_names)
    fps = {(p["family"], r["decoder"].replace(p["family"], "x"), r["batch"]): r["fps"]
           for p in by_family.values() for r in p["results"]}
    versus = report["versus_hnerv"]
    assert versus["hnerv"] == by_family["test-hnerv"]["path"]
    rows = {(r["decoder"], r["batch"]): r for r in versus["rows"]}
    assert set(rows) == {("test-hfe-hnerv-eager", 1), ("test-hfe-hnerv-eager", 2), ("ort-cpu", 1),
                         ("ort-cpu", 2)}
    for (decoder, batch), r in rows.items():
        key = decoder.replace("test-hfe-hnerv", "x")
        assert r["family"] == "test-hfe-hnerv"
        assert r["time_vs_hnerv"] == pytest.approx(fps["test-hnerv", key, batch] / fps["test-hfe-hnerv", key, batch])
        assert r["macs_vs_hnerv"] == pytest.approx(by_family["test-hfe-hnerv"]["macs_per_frame"]
                                                   / by_family["test-hnerv"]["macs_per_frame"])


@pytest.mark.parametrize("args, message", [
    (["--backends", "warp"], "warp"), (["--repeats", "0"], "--repeats"), (["--frames", "5:2"], "--frames"),
    (["--precision", "fp64"], "--precision"), (["--backends", "ort-cpu", "--precision", "bf16"], "--precision"),
])
def test_bad_arguments_exit_2(pkgs, capsys, args, message):
    assert main([str(pkgs[0]), "--baseline", "none", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("nerv-bench: error:")


def test_player_imports_no_torch():
    code = ("import sys, nervkit.player.play, nervkit.player.bench, nervkit.player.window, "
            "nervkit.player.macs; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
