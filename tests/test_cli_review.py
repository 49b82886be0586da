"""Every tool tried once more as a new user and as an attacker would (issue 10, second pass): one test per
finding, each an exit 2 with one clear line before any work, or an output that is never misplaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from tiny import tiny_loaded, tiny_model_pt

from nervkit.export import train_cli
from nervkit.export.build import ExportOptions, build_package
from nervkit.export.cli import main as export_main
from nervkit.export.doctor import main as doctor_main
from nervkit.player.bench import main as bench_main
from nervkit.player.play import main as play_main
from nervkit.player.rd import main as rd_main
from nervkit.runtime.atomic import AtomicOutput
from nervkit.runtime.errors import UserError
from nervkit.runtime.info import main as info_main
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png


def _one_error(capsys, *needles) -> str:
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
