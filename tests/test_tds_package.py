"""nerv-export of a tds.pt and the gop decode plan: against PyAV and the trainer's eager Algorithm 1, random
access, consecutive calls, nerv-play / nerv-info / nerv-bench, old packages, bad plans."""

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_nvpkg import join, make_tiny, split
from test_play_parts import read_y4m
from tiny import tiny_tds

from nervkit.export import tds_files
from nervkit.export.cli import main as export_main
from nervkit.player.bench import main as bench_main
from nervkit.player.play import main as play_main
from nervkit.runtime import Decoder, open_package
from nervkit.runtime.gop import frame_plan
from nervkit.runtime.info import main as info_main
from nervkit.trainer.tds import pipeline

av = pytest.importorskip("av")
N, H, W = 11, 32, 64  # GOP 5: groups 0-4 and 5-9, frame 10 a tail key frame
KEYS, LRS = [0, 4, 5, 9, 10], [1, 2, 3, 6, 7, 8]
REFS = {2: (0, 4), 1: (0, 2), 3: (2, 4)}  # Algorithm 1 for N = 5, written out: target -> (earlier, later)


@pytest.fixture(scope="module")
def tds(tmp_path_factory):
    d = tmp_path_factory.mktemp("tds")
    tiny_tds(d / "tds.pt", frames=N, hw=(H, W))
    assert export_main([str(d / "tds.pt"), "-o", str(d / "clip.nvpkg")]) == 0
    return tds_files.load(d / "tds.pt"), d / "clip.nvpkg"


def pyav_frames(data: bytes, size=None) -> np.ndarray:
    """A raw H.264 stream demuxed and decoded by PyAV's container API: RGB ``float32 [n, 3, H, W]`` in [0, 1]."""
    with av.open(io.BytesIO(data), format="h264") as container:
        frames = list(container.decode(video=0))
    if size:
        frames = [f.reformat(width=size[1], height=size[0], format="rgb24", interpolation="BICUBIC") for f in frames]
    return np.stack([f.to_ndarray(format="rgb24") for f in frames]).transpose(0, 3, 1, 2) / np.float32(255)


@pytest.fixture(scope="module")
def base(tds):
    """Every frame before enhancement, from the package's own sections decoded by PyAV directly."""
    ck = tds[0]
    out = np.empty((N, 3, H, W), np.float32)
    out[KEYS] = pyav_frames(ck.streams.key)
    out[LRS] = pyav_frames(ck.streams.lr, (H, W))
    return out


def test_round_trip_equals_eager_algorithm_1(tds, base):
    """Every frame through the plan on ONNX Runtime: key frames are PyAV's; each enhancer step equals the
    eager enhancer (the package's weights) on the same inputs; the whole recurrence equals the trainer's
    eager Algorithm 1 (``pipeline.run_groups``)."""
    ck, path = tds
    with open_package(path) as pkg, Decoder(pkg, backend="ort-cpu", batch=4, precision="fp32") as dec:
        assert pkg.version == (1, 2) and pkg.plan.kind == "gop" and pkg.embed_names == ("earlier", "target", "later")
        stored = pkg.weights()
        got = dec.decode_float()
        uint8 = np.concatenate(list(dec.decode_frames()))
    state = ck.enhancer.state_dict()
    assert set(stored) == set(state)  # every parameter is stored (and counted) under its name
    for k, v in stored.items():  # 8-bit codes: close to the trained weights
        w = state[k].numpy()
        assert np.linalg.norm(v - w) <= 0.05 * np.linalg.norm(w) + 1e-6, k
    enhancer = ck.enhancer.eval()
    enhancer.load_state_dict({k: torch.from_numpy(v) for k, v in stored.items()})
    with torch.no_grad():
        chained = pipeline.run_groups(enhancer, torch.from_numpy(base[:10]).view(2, 5, 3, H, W), frame_plan(5)).numpy()
    assert np.array_equal(got[KEYS], base[KEYS])  # key frames: the base decoder's output, exactly
    for f in LRS:
        g0, (e, l) = f - f % 5, REFS[f % 5]
        ref = [np.clip(got[g0 + r], 0, 1) if r in REFS else base[g0 + r] for r in (e, l)]
        with torch.no_grad():  # each graph run against eager on the same inputs: fp32 ORT vs torch
            step = enhancer(*(torch.from_numpy(x[None]) for x in (ref[0], base[f], ref[1])))[0].numpy()
        np.testing.assert_allclose(got[f], step, atol=1e-4, rtol=0)
        # the recurrence: the middle frame's error of at most 1e-4 passes through the second step
        np.testing.assert_allclose(got[f], chained[f // 5, f % 5 - 1], atol=1e-3, rtol=0)
        assert np.abs(got[f] - base[f]).max() > 1e-3  # the enhancer really changed the frame
    assert np.array_equal(uint8.transpose(0, 3, 1, 2),
                          np.rint(np.clip(got * np.float32(255), 0, 255)).astype(np.uint8))


def _counting(dec) -> list:
    calls, run = [], dec._impl.run

    def counting(feeds):
        calls.append({k: v.copy() for k, v in feeds.items()})
        return run(feeds)

    dec._impl.run = counting
    return calls


def test_random_access_runs_only_its_group(tds, base):
    """Frame 6 (group 5-9, before its middle frame 7) decoded alone takes two graph runs: the middle frame
    from key frames 5 and 9, then frame 6 from key frame 5 and the enhanced frame 7; it equals frame 6 of a
    full decode."""
    path = tds[1]
    with open_package(path) as pkg:
        with Decoder(pkg, backend="ort-cpu", batch=4, precision="fp32") as dec:
            full = dec.decode_float()
        with Decoder(pkg, backend="ort-cpu", batch=4, precision="fp32") as dec:
            calls = _counting(dec)
            frame6 = dec.decode_float(6, 7)
            assert len(calls) == 2 and all(c["target"].shape[0] == 1 for c in calls)
            mid, six = calls
            assert [np.array_equal(mid[k][0], base[f]) for k, f in (("earlier", 5), ("target", 7), ("later", 9))] \
                == [True] * 3
            assert np.array_equal(six["earlier"][0], base[5]) and np.array_equal(six["target"][0], base[6])
            assert np.array_equal(six["later"][0], np.clip(full[7], 0, 1))
            assert np.array_equal(frame6[0], full[6])
        with Decoder(pkg, backend="ort-cpu", batch=4, precision="fp32") as dec:
            calls = _counting(dec)
            assert np.array_equal(dec.decode_float(10, 11), base[10:11])  # a tail key frame: no run
            assert np.array_equal(dec.decode_float(7, 8), full[7:8])  # the middle frame alone: one run
            assert len(calls) == 1 and np.array_equal(calls[0]["target"][0], base[7])


def test_consecutive_calls_never_repeat_a_run(tds):
    """nerv-play decodes in calls of ``batch`` frames that cut groups: every enhanced frame is made once."""
    with open_package(tds[1]) as pkg, Decoder(pkg, backend="ort-cpu", batch=3, precision="fp32") as dec:
        calls = _counting(dec)
        chunks = [np.concatenate(list(dec.decode_frames(a, min(a + 3, N)))) for a in range(0, N, 3)]
        made = sorted(float(c["target"][i].sum()) for c in calls for i in range(len(c["target"])))
        assert len(made) == len(LRS) and len(set(made)) == len(LRS)
        assert np.array_equal(np.concatenate(chunks), np.concatenate(list(dec.decode_frames())))


def test_nerv_play_frames_and_info(tds, tmp_path, capsys):
    full, part = tmp_path / "clip.y4m", tmp_path / "part.y4m"
    assert play_main([str(tds[1]), "--output", str(full)]) == 0  # --backend auto takes ONNX Runtime
    assert play_main([str(tds[1]), "--output", str(part), "--frames", "6:8"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nerv-play: 2 frames,") and "backend ort-cpu fp32" in err[-1]
    _, planes = read_y4m(full)
    assert len(planes) == N and np.array_equal(read_y4m(part)[1], planes[6:8])
    assert play_main([str(tds[1]), "--no-window", "--backend", "openvino"]) == 2
    assert "cannot run this package's gop plan" in capsys.readouterr().err
    assert info_main([str(tds[1])]) == 0
    out = capsys.readouterr().out
    assert "nvpkg 1.2, family test-tds" in out and "plan      gop: Algorithm 1 per group of 5 frames, scale 2" in out
    assert "base.key" in out and "base.lr" in out


def test_nerv_bench_times_the_pipeline_against_the_base_codec(tds, tmp_path):
    out = tmp_path / "bench.json"
    assert bench_main([str(tds[1]), "--json", str(out), "--repeats", "1", "--batch", "2"]) == 0
    pkg = json.loads(out.read_text())["packages"][0]
    rows = {(r["decoder"], r["batch"]): r for r in pkg["results"]}
    assert set(rows) == {("x264", 1), ("test-tds-eager", 1), ("test-tds-eager", 2), ("ort-cpu", 1), ("ort-cpu", 2)}
    assert pkg["frames"] == [0, N] and pkg["macs_per_frame"] > 0
    assert rows["test-tds-eager", 1]["max_abs_diff"] == 0.0  # the reference
    assert rows["ort-cpu", 2]["max_abs_diff"] < 255 * 1e-3  # ORT against the eager enhancer, 8-bit levels
    for key, r in rows.items():  # a pipeline takes at least the base decode's time
        if key[0] != "x264":
            assert r["fps"] < rows["x264", 1]["fps"] and r["enhance_fps"] > r["fps"]


def test_missing_pyav_names_the_extra(tds, tmp_path):
    code = ("import sys; sys.modules['av'] = None\n"
            "from nervkit.player.play import main\n"
            "sys.exit(main([sys.argv[1], '--output', 'out.y4m']))")
    proc = subprocess.run([sys.executable, "-c", code, str(tds[1])], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "pip install 'nervkit[video]'" in lines[0], proc.stderr
    assert not (tmp_path / "out.y4m").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(gop=4), "plan: gop = 4"),
    (lambda p: p.update(gop=7), "the x264 stream holds"),  # a GOP the streams were not coded with
    (lambda p: p.update(scale=4), "frames of 16x32"),
    (lambda p: p.update(base="x265"), "damaged x265 stream"),
    (lambda p: p.update(kind="gop2"), "plan: kind 'gop2'"),
    (lambda p: p["streams"].update(lr="base.key"), "the x264 stream holds"),
    (lambda p: p.update(enhancer={"sha256": "ab", "bytes": 1}), "plan: enhancer must be"),
])
def test_bad_or_mismatched_gop_plan_exits_2(tds, tmp_path, capsys, edit, message):
    fields, manifest, area = split(tds[1].read_bytes())
    edit(manifest["plan"])
    bad = tmp_path / "bad.nvpkg"
    bad.write_bytes(join(fields, manifest, area))
    assert play_main([str(bad), "--output", str(tmp_path / "out.y4m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out.y4m").exists()


def test_format_1_1_package_still_decodes(tmp_path):
    """A per-frame package as format 1.1 wrote it (no ``plan``, minor version 1) opens and decodes to the
    same frames as its 1.2 twin."""
    _, path, _ = make_tiny(tmp_path)
    fields, manifest, area = split(path.read_bytes())
    assert fields[2] == 2 and manifest.pop("plan") == {"kind": "per-frame"}
    old = tmp_path / "old.nvpkg"
    old.write_bytes(join((*fields[:2], 1, *fields[3:]), manifest, area))
    with open_package(path) as new_pkg, open_package(old) as old_pkg:
        assert old_pkg.version == (1, 1) and old_pkg.plan.kind == "per-frame"
        with Decoder(new_pkg, "ort-cpu", 2, "fp32") as a, Decoder(old_pkg, "ort-cpu", 2, "fp32") as b:
            assert np.array_equal(a.decode_float(), b.decode_float())


@pytest.fixture(scope="module")
def shared(tds, tmp_path_factory):
    """Two videos of one enhancer exported with ``--enhancer s.nvenh``: the first writes the file, the second
    reuses it; returns (folder, bytes of the file after the first export)."""
    d = tmp_path_factory.mktemp("shared")
    tiny_tds(d / "b.pt", frames=N, hw=(H, W), crf=34)  # the same enhancer (seed 0), other streams
    assert export_main([str(tds[1].parent / "tds.pt"), "-o", str(d / "a.nvpkg"), "--enhancer", str(d / "s.nvenh")]) == 0
    first = (d / "s.nvenh").read_bytes()
    assert export_main([str(d / "b.pt"), "-o", str(d / "b.nvpkg"), "--enhancer", str(d / "s.nvenh")]) == 0
    return d, first


def test_shared_enhancer_is_named_by_hash_and_decodes_the_same(tds, shared):
    d, first = shared
    nvenh = (d / "s.nvenh").read_bytes()
    assert nvenh == first  # the second export used the file, it did not rewrite it
    name = {"sha256": hashlib.sha256(nvenh).hexdigest(), "bytes": len(nvenh)}
    for pkg_path in (d / "a.nvpkg", d / "b.nvpkg"):
        _, manifest, _ = split(pkg_path.read_bytes())
        assert manifest["plan"]["enhancer"] == name and "weights" not in manifest
        assert "weights" not in manifest["sections"]
    _, embedded, _ = split(tds[1].read_bytes())
    assert (d / "a.nvpkg").stat().st_size <= tds[1].stat().st_size - embedded["sections"]["weights"]["length"]
    with open_package(tds[1]) as own, open_package(d / "a.nvpkg", d / "s.nvenh") as named:
        assert own.weights().keys() == named.weights().keys()
        assert all(np.array_equal(own.weights()[k], v) for k, v in named.weights().items())
        with Decoder(own, "ort-cpu", 4, "fp32") as a, Decoder(named, "ort-cpu", 4, "fp32") as b:
            assert np.array_equal(a.decode_float(), b.decode_float())


def test_shared_enhancer_missing_or_mismatched_exits_2(tds, shared, tmp_path, capsys):
    d, _ = shared
    other = tmp_path / "other.pt"
    tiny_tds(other, frames=N, hw=(H, W), seed=1)  # another enhancer
    assert export_main([str(other), "-o", str(tmp_path / "o.nvpkg"), "--enhancer", str(tmp_path / "o.nvenh")]) == 0
    capsys.readouterr()
    cases = [([str(d / "a.nvpkg")], "pass it with --enhancer FILE"),
             ([str(d / "a.nvpkg"), "--enhancer", str(tmp_path / "o.nvenh")], "not the enhancer"),
             ([str(tds[1]), "--enhancer", str(d / "s.nvenh")], "names no shared enhancer")]
    for argv, message in cases:
        assert play_main([*argv, "--output", str(tmp_path / "out.y4m")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert info_main([str(d / "a.nvpkg")]) == 2
    assert "--enhancer FILE" in capsys.readouterr().err
    before = (tmp_path / "o.nvenh").read_bytes()
    assert export_main([str(tds[1].parent / "tds.pt"), "-o", str(tmp_path / "x.nvpkg"),
                        "--enhancer", str(tmp_path / "o.nvenh")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "holds another enhancer" in err[-1] and not (tmp_path / "x.nvpkg").exists()
    assert (tmp_path / "o.nvenh").read_bytes() == before and not (tmp_path / "out.y4m").exists()
