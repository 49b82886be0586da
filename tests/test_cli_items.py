"""Issue 10's list of CLI contract breaks, one test each: exit 2 with one line, no traceback, no output left
behind, inputs never overwritten, values refused rather than silently changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_loaded, tiny_model_pt

from nervkit.export import train_cli
from nervkit.export.build import ExportOptions, build_package
from nervkit.export.cli import main as export_main
from nervkit.export.doctor import main as doctor_main
from nervkit.export.files import load_video
from nervkit.player.bench import main as bench_main
from nervkit.player.play import main as play_main
from nervkit.player.rd import main as rd_main
from nervkit.runtime import open_package
from nervkit.runtime.atomic import AtomicOutput
from nervkit.runtime.errors import UserError
from nervkit.runtime.info import main as info_main
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png

ROOT_USER = os.geteuid() == 0


def _one_error(capsys, *needles) -> str:
    """The one error line (progress lines may precede it), with every needle."""
    err = capsys.readouterr().err
    errors = [line for line in err.strip().splitlines() if ": error: " in line]
    assert "Traceback" not in err and len(errors) == 1 and err.strip().endswith(errors[0]), err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    write_frames_png(synthetic_clip(4, 32, 64), folder)
    return folder


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    return tiny_model_pt(tmp_path_factory.mktemp("m") / "model.pt")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "clip.nvpkg"
    build_package(tiny_loaded(), out, ExportOptions(eval_frames=0))
    return out


def _train(clip_dir, out, *extra):
    return train_cli.main([str(clip_dir), "-o", str(out), "--model", "test-hnerv", "--epochs", "1", *extra])


# --- nerv-train: every output is checked before training; values are refused, not bent

@pytest.mark.parametrize("case", ["existing folder", "json in a missing folder", "input as output"])
def test_train_outputs_checked_before_training(clip_dir, tmp_path, capsys, case):
    out, extra = tmp_path / "m.pt", []
    if case == "existing folder":
        out = tmp_path
    elif case == "json in a missing folder":
        extra = ["--json", str(tmp_path / "nodir" / "x.json")]
    else:
        out = tmp_path / "v.mp4"
        out.write_bytes(b"a video")
        clip = out
    t0 = time.perf_counter()
    code = train_cli.main([str(clip if case == "input as output" else clip_dir), "-o", str(out),
                           "--model", "test-hnerv", "--epochs", "1000", *extra])
    assert code == 2 and time.perf_counter() - t0 < 5  # refused before 1000 epochs
    _one_error(capsys)
    assert not (tmp_path / "m.pt").exists()
    if case == "input as output":
        assert out.read_bytes() == b"a video"


def _unwritable_folder(tmp_path, how: str):
    """A folder nobody may write in: sysfs (the kernel refuses new files there even to root, so this case
    runs as root too, as CI may) or a folder of mode 0555 (which root ignores: that case needs a user)."""
    if how == "sysfs":
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("no sysfs here")
        return Path("/sys/kernel")
    if ROOT_USER:
        pytest.skip("root writes into mode-0555 folders")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    return ro


@pytest.mark.parametrize("how", ["sysfs", "mode 0555"])
@pytest.mark.parametrize("tool", ["nerv-train", "nerv-export", "nerv-export --json", "nerv-play"])
def test_output_into_a_folder_that_cannot_be_written(clip_dir, model_pt, package, tmp_path, capsys, tool, how):
    """Refused with one line, before any work, by every tool that writes."""
    folder = _unwritable_folder(tmp_path, how)
    t0 = time.perf_counter()
    if tool == "nerv-train":
        code = train_cli.main([str(clip_dir), "-o", str(folder / "m.pt"), "--model", "test-hnerv", "--epochs", "1000"])
    elif tool == "nerv-export":
        code = export_main([str(model_pt), "-o", str(folder / "x.nvpkg")])
    elif tool == "nerv-export --json":
        code = export_main([str(model_pt), "-o", str(tmp_path / "x.nvpkg"), "--json", str(folder / "r.json")])
    else:
        code = play_main([str(package), "--output", str(folder / "x.y4m")])
    assert code == 2 and time.perf_counter() - t0 < 5
    _one_error(capsys, "cannot write in folder")
    assert not (tmp_path / "x.nvpkg").exists()


def test_output_under_a_file(clip_dir, tmp_path, capsys):
    """``-o notes.txt/m.pt``: the parent is a regular file."""
    (tmp_path / "notes.txt").write_text("hello")
    assert _train(clip_dir, tmp_path / "notes.txt" / "m.pt") == 2
    _one_error(capsys, "is not an existing folder")


@pytest.mark.parametrize("flags, needle", [
    (["--lr", "nan"], "--lr"),
    (["--model", "hnerv", "--size", "nan"], "--size"),
    (["--model", "hnerv", "--size", "inf"], "--size"),
    (["--model", "hnerv", "--size", "1e9"], "--max-memory"),
    (["--max-frames", "0"], "--max-frames"),
    (["--size", "0.5"], "fixed-size test model"),
])
def test_train_bad_values(clip_dir, tmp_path, capsys, flags, needle):
    argv = [str(clip_dir), "-o", str(tmp_path / "m.pt"), "--model", "test-hnerv", "--epochs", "1", *flags]
    assert train_cli.main(argv) == 2
    _one_error(capsys, needle)


def _run_tool(module: str, *args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_train_json_to_a_closed_pipe(clip_dir, tmp_path):
    """``nerv-train --json - | false``: the reader went away; a quiet 141 as POSIX tools end, no traceback."""
    proc = _run_tool("nervkit.export.train_cli", clip_dir, "-o", tmp_path / "m.pt", "--model", "test-hnerv",
                     "--epochs", "1", "--json", "-", stdout=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_train_kill_saves_promptly(clip_dir, tmp_path):
    """SIGTERM ends training like Ctrl-C (status 143 = 128 + SIGTERM): the epoch reached is saved at once (not
    at the next periodic save)."""
    out = tmp_path / "m.pt"
    proc = _run_tool("nervkit.export.train_cli", clip_dir, "-o", out, "--model", "test-hnerv", "--epochs", "100000",
                     "--eval-every", "100000")
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:  # the first periodic save: training runs
        time.sleep(0.2)
    before, inode = torch.load(out, weights_only=True)["train"]["epoch"], out.stat().st_ino
    time.sleep(2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 143, (proc.returncode, err)
    assert "--resume" in err.strip().splitlines()[-1], (time.monotonic() - t0, err[-2000:])
    assert out.stat().st_ino != inode  # written again at the kill (atomically: a new file)
    assert torch.load(out, weights_only=True)["train"]["epoch"] >= before


def test_train_reads_16_bit_png(tmp_path):
    grey = (np.arange(32 * 64, dtype=np.int64).reshape(32, 64) * 31) % 65536
    Image.fromarray(grey.astype(np.uint16)).save(tmp_path / "000.png")
    frames = load_video(tmp_path).frames
    np.testing.assert_array_equal(frames[0, ..., 0], np.rint(grey / 257.0).astype(np.uint8))
    assert frames[0].max() > 200  # not saturated at 255 / clipped


def test_sparse_y4m_refused_before_decoding(tmp_path):
    """A y4m header announcing 200 frames of 4096x4096 in a sparse file: refused up front, in a process
    capped at 4 GB of address space (it used to reach 10.7 GB, or say "damaged" under the cap)."""
    path = tmp_path / "sparse.y4m"
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W4096 H4096 F25:1 Ip A1:1 C420jpeg\nFRAME\n")
        f.truncate(200 * (4096 * 4096 * 3 // 2 + 6) + 60)
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
            "from nervkit.export.train_cli import main\n"
            f"sys.exit(main([{str(path)!r}, '-o', {str(tmp_path / 'm.pt')!r}, '--model', 'test-hnerv']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "need about" in lines[0], proc.stderr[-1500:]


# --- nerv-export: inputs validated, outputs all or nothing, nothing private

def _damaged_model_pt(tmp_path, edit):
    obj = torch.load(tiny_model_pt(tmp_path / "good.pt"), weights_only=True)
    edit(obj)
    torch.save(obj, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


@pytest.mark.parametrize("what, edit, needle", [
    ("no embeddings", lambda o: o.update(embeddings={}), "embeddings"),
    ("1e9 frames", lambda o: o["video"].update(num_frames=10**9), "embeddings"),
    ("huge config", lambda o: o["config"]["widths"].__setitem__(0, 2000), "describes"),
])
def test_export_damaged_model_pt(tmp_path, capsys, what, edit, needle):
    bad = _damaged_model_pt(tmp_path, edit)
    out = tmp_path / "x.nvpkg"
    assert export_main([str(bad), "-o", str(out)]) == 2
    _one_error(capsys, needle)
    assert not out.exists()


def test_export_leaves_nothing_when_the_package_cannot_be_written(model_pt, tmp_path, capsys):
    onnx_path = tmp_path / "g.onnx"
    assert export_main([str(model_pt), "-o", str(tmp_path / "nodir" / "x.nvpkg"), "--onnx", str(onnx_path)]) == 2
    _one_error(capsys, "nodir")
    assert list(tmp_path.iterdir()) == []


def test_export_never_overwrites_its_input(model_pt, tmp_path, capsys):
    copy = tmp_path / "a.pt"
    copy.write_bytes(model_pt.read_bytes())
    assert export_main([str(copy), "-o", str(copy)]) == 2
    _one_error(capsys, "is also the input")
    assert copy.read_bytes() == model_pt.read_bytes()


def test_export_interrupted_leaves_no_package(model_pt, tmp_path):
    out = tmp_path / "x.nvpkg"
    proc = _run_tool("nervkit.export.cli", model_pt, "-o", out, "--eval-frames", "4", "--json", tmp_path / "r.json")
    for line in proc.stderr:  # interrupt while the package is being written (a quiet machine finishes the whole
        if "writing the package" in line:  # export within half a second, so no sleep before the signal)
            break
    proc.send_signal(signal.SIGINT)
    proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_package_stores_the_source_name_only(tmp_path):
    loaded = tiny_loaded()
    loaded.video.source = "/home/someone/private/holiday.mp4"
    build_package(loaded, tmp_path / "p.nvpkg", ExportOptions(eval_frames=0))
    with open_package(tmp_path / "p.nvpkg") as pkg:
        assert pkg.manifest["video"]["source"] == "holiday.mp4"


@pytest.mark.parametrize("kind, needle", [
    ("folder", "is a folder"),
    ("text", "not a PyTorch checkpoint"),
    ("package", "is an .nvpkg package"),
])
def test_export_clear_messages_for_wrong_files(package, tmp_path, capsys, kind, needle):
    path = tmp_path / "model.pt"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("hello\n")
    else:
        path.write_bytes(package.read_bytes())
    assert export_main([str(path), "-o", str(tmp_path / "x.nvpkg")]) == 2
    _one_error(capsys, needle)


# --- nerv-play and nerv-bench

@pytest.mark.parametrize("fps", ["inf", "1e-9", "nan", "0"])
def test_play_bad_fps_leaves_nothing(package, tmp_path, capsys, fps):
    out = tmp_path / "x.mp4"
    assert play_main([str(package), "--fps", fps, "--output", str(out)]) == 2
    _one_error(capsys, "--fps")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output, needle", [("", "empty"), ("/dev/null", "device or pipe")])
def test_play_bad_output_names(package, capsys, output, needle):
    assert play_main([str(package), "--output", output]) == 2
    _one_error(capsys, needle)


def test_play_to_a_closed_pipe(package):
    proc = _run_tool("nervkit.player.play", package, "--output", "-", stdout=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err, err


def test_bench_checks_plot_before_timing(package, tmp_path, capsys):
    assert bench_main([str(package), "--baseline", "none", "--plot", str(tmp_path / "b.xyz")]) == 2
    line = _one_error(capsys, "--plot")
    assert "measuring" not in line
    assert list(tmp_path.iterdir()) == []


# --- the core install (no torch): the tools that need an extra name it

@pytest.mark.parametrize("call", [
    "from nervkit.export.tool import train; sys.argv = ['nerv-train', '--help']; sys.exit(train())",
    "from nervkit.export.tool import export; sys.argv = ['nerv-export', '--help']; sys.exit(export())",
    "from nervkit.export.doctor import main; sys.exit(main([]))",
    "from nervkit.export.demo import main; sys.exit(main(['--out', OUT]))",
])
def test_core_install_names_the_extra(tmp_path, call):
    code = f"import sys\nsys.modules['torch'] = None\nOUT = {str(tmp_path / 'demo')!r}\n{call}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "nervkit[train]" in lines[-1] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "demo").exists()


def test_json_written_by_every_tool_is_whole(package, tmp_path):
    """``--json`` of nerv-info through the one atomic writer: readable JSON, no temporary beside it."""
    assert info_main([str(package), "--json", str(tmp_path / "i.json")]) == 0
    assert json.loads((tmp_path / "i.json").read_text())["frames"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["i.json"]


# --- the second look (every tool tried again as a new user and as an attacker would)

# --- a device, pipe or socket is never replaced by a file (as root, `nerv-info --json /dev/full` replaced
# the device node with a regular file: every later program on the machine lost /dev/full)

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("through", ["the pipe", "a symlink to it"])
def test_atomic_output_never_replaces_a_pipe(tmp_path, fifo, through):
    target = fifo
    if through == "a symlink to it":
        target = tmp_path / "link.json"
        target.symlink_to(fifo)
    with pytest.raises(UserError, match="device or pipe"):
        AtomicOutput(target)
    assert fifo.is_fifo() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("tool", ["nerv-info --json", "nerv-export -o", "nerv-export --json", "nerv-play --output"])
def test_tools_refuse_a_pipe_as_output(package, model_pt, fifo, tmp_path, capsys, tool):
    if tool == "nerv-info --json":
        code = info_main([str(package), "--json", str(fifo)])
    elif tool == "nerv-export -o":
        code = export_main([str(model_pt), "-o", str(fifo)])
    elif tool == "nerv-export --json":
        code = export_main([str(model_pt), "-o", str(tmp_path / "x.nvpkg"), "--json", str(fifo)])
    else:
        target = tmp_path / "frames.y4m"
        os.mkfifo(target)
        code = play_main([str(package), "--output", str(target)])
    assert code == 2
    _one_error(capsys, "device or pipe")
    assert fifo.is_fifo() and not (tmp_path / "x.nvpkg").exists()


# --- names: an empty --json, one path for two outputs

def test_empty_json_name_is_refused(package, capsys):
    with pytest.raises(SystemExit) as exit_:
        info_main([str(package), "--json", ""])
    assert exit_.value.code == 2 and "--json: an empty name" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["export -o/--json", "export -o/--onnx", "train -o/--json", "bench --json/--plot",
                                  "rd --json/--plot"])
def test_one_path_for_two_outputs_is_refused(clip_dir, model_pt, package, tmp_path, capsys, tool):
    same = tmp_path / "same.png"
    twice = str(same), f"{tmp_path}/./same.png"  # two spellings of one path
    if tool == "export -o/--json":
        code = export_main([str(model_pt), "-o", twice[0], "--json", twice[1]])
    elif tool == "export -o/--onnx":
        code = export_main([str(model_pt), "-o", twice[0], "--onnx", twice[1]])
    elif tool == "train -o/--json":
        code = train_cli.main([str(clip_dir), "-o", twice[0], "--json", twice[1], "--model", "test-hnerv"])
    elif tool == "bench --json/--plot":
        code = bench_main([str(package), "--json", twice[0], "--plot", twice[1]])
    else:
        code = rd_main([str(clip_dir), str(package), "--codecs", "libx264", "--json", twice[0], "--plot", twice[1]])
    assert code == 2
    _one_error(capsys, "named for two outputs")
    assert list(tmp_path.iterdir()) == []


# --- checked before the work, not after it

def test_rd_checks_plot_kind_before_measuring(clip_dir, package, tmp_path, capsys):
    t0 = time.perf_counter()
    assert rd_main([str(clip_dir), str(package), "--codecs", "libx264", "--plot", str(tmp_path / "rd.xyz")]) == 2
    _one_error(capsys, "--plot", ".png")
    assert time.perf_counter() - t0 < 5 and list(tmp_path.iterdir()) == []


def test_doctor_checks_json_before_self_tests(tmp_path, capsys):
    assert doctor_main(["--json", str(tmp_path / "nodir" / "d.json")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"nerv-doctor: error: {tmp_path / 'nodir' / 'd.json'}: "
                                        f"{tmp_path / 'nodir'} is not an existing folder"], err  # nothing ran


def test_export_refuses_a_missing_source(model_pt, tmp_path, capsys):
    """--source names the video PSNR is measured on: missing, it was silently ignored (PSNR against the
    uncompressed model instead, exit 0)."""
    assert export_main([str(model_pt), "-o", str(tmp_path / "x.nvpkg"), "--source", str(tmp_path / "v.mp4")]) == 2
    _one_error(capsys, "--source", "no such file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags, needle", [
    (["--grad-clip", "nan"], "--grad-clip"),  # trained to PSNR nan, exit 0
    (["--grad-clip", "-1"], "--grad-clip"),  # a negative clip norm flipped the gradients' scale
    (["--lr", "1e300"], "--lr"),  # a traceback from Adam (float overflow)
    (["--resize", "1x1"], "up-sampling"),  # a traceback from the stride search
])
def test_train_values_refused_before_training(clip_dir, tmp_path, capsys, flags, needle):
    argv = [str(clip_dir), "-o", str(tmp_path / "m.pt"), "--model", "test-hnerv", "--epochs", "1", *flags]
    assert train_cli.main(argv) == 2
    _one_error(capsys, needle)
    assert list(tmp_path.iterdir()) == []


# --- messages and stdout

def test_missing_file_message_names_it_plainly(tmp_path, capsys):
    assert info_main([str(tmp_path / "gone.nvpkg")]) == 2
    line = _one_error(capsys, "gone.nvpkg: No such file or directory")
    assert "Errno" not in line and "'" not in line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("tool", [["nervkit.runtime.info"], ["nervkit.player.play", "--output", "-"]])
def test_stdout_on_a_full_disk_is_an_error(package, tool):
    """``nerv-info clip.nvpkg > /dev/full`` (any full disk behind stdout) exited 0 with the output lost."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", tool[0], str(package), *tool[1:]], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr


# --- nerv-demo

@pytest.mark.parametrize("flags, needle", [(["--model", "nope"], "unknown model"), (["--size", "nan"], "--size")])
def test_demo_checks_its_arguments_before_any_work(tmp_path, capsys, flags, needle):
    from nervkit.export.demo import main as demo_main

    assert demo_main(["--out", str(tmp_path / "demo"), *flags]) == 2
    _one_error(capsys, needle)
    assert not (tmp_path / "demo").exists()


def test_demo_interrupted_lets_its_tool_clean_up(tmp_path):
    """Ctrl-C sent to nerv-demo alone (``kill -INT``): the nerv-train it runs is told too and ends by itself
    (it used to be SIGKILLed 0.25 s later, leaving any temporary it was writing); no process stays behind."""
    proc = subprocess.Popen([sys.executable, "-m", "nervkit.export.demo", "--out", str(tmp_path / "demo"),
                             "--model", "test-hnerv", "--frames", "4", "--epochs", "100000"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    text = ""
    for line in proc.stderr:
        text += line
        if "nerv-train: test-hnerv, 4 frames" in line:  # the child trains
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    text += proc.stderr.read()
    lines = text.strip().splitlines()
    assert code == 130 and "Traceback" not in text, (code, text[-1500:])
    assert lines[-1] == "nerv-demo: interrupted" and "nerv-train: interrupted" in lines[-2], text[-1500:]
    assert not [p for p in (tmp_path / "demo").iterdir() if p.name.startswith(".")]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path / "demo") not in ps


def test_error_with_stderr_gone_keeps_its_status(tmp_path):
    """``nerv-info missing.nvpkg 2>&1 | head -0``: the message cannot be shown, the status is still the
    error's 2 (it was 1: the failed print raised inside the error handler, with a traceback)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away before anything was written
    proc = subprocess.run([sys.executable, "-m", "nervkit.runtime.info", str(tmp_path / "missing.nvpkg")],
                          stderr=write_end, timeout=120)
    os.close(write_end)
    assert proc.returncode == 2


def test_frame_sizes_read_height_by_width(package, model_pt, tmp_path, capsys):
    """Every tool says HxW, as --crop/--resize take it (nerv-info and nerv-export said 64x32 for 32x64)."""
    assert info_main([str(package)]) == 0
    assert "4 frames, 32x64," in capsys.readouterr().out
    assert export_main([str(model_pt), "-o", str(tmp_path / "x.nvpkg"), "--eval-frames", "0"]) == 0
    assert "4 frames 32x64," in capsys.readouterr().err
