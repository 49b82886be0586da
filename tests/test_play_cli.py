"""nerv-play end to end on a real package: outputs hold exactly the runtime's frames, seeking and
--frames pick the right ones, the window runs under SDL's dummy driver, no display exits 2."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image
from test_play_parts import read_y4m, yuv_reference

from nervkit.player.play import main
from nervkit.player.prefetch import Prefetcher
from nervkit.runtime import Decoder, available_backends, open_package
from nervkit.trainer.registry import create_model, model_names

NUM_FRAMES, HW = 8, (32, 64)
AUTO = available_backends()[0]
"""What ``--backend auto`` runs (fp32: the tiny packages record no precision guard)."""


def make_package(path, name: str = "test-hnerv", hw=HW, frames: int = NUM_FRAMES, seed: int = 0,
                 gain: float = 3.0):
    """A tiny real package via the real exporter. Decoder weights are scaled by ``gain`` and embeddings
    by 3 from their random init so that frames span 0..255 and differ from each other by tens of levels."""
    import torch

    from nervkit.export.cli import main as export
    from nervkit.trainer.checkpoint import LoadedModel, VideoInfo, save_model
    from nervkit.trainer.registry import create_model

    torch.manual_seed(seed)
    model = create_model(name, hw, frames)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if not pname.startswith("encoder") and pname.endswith("weight"):
                p.mul_(gain)
        encoded = model.encode(model.clip_input(torch.rand(frames, 3, *hw)))
        embeds = {k: 3 * torch.randn_like(v) for k, v in encoded.items()}
    model_pt = path.with_suffix(".pt")
    save_model(model_pt, LoadedModel(model, VideoInfo(frames, *hw, fps=24.0), embeds))
    assert export([str(model_pt), "-o", str(path), "--eval-frames", "0"]) == 0
    return path


@pytest.fixture(scope="module")
def pkg_path(tmp_path_factory):
    return make_package(tmp_path_factory.mktemp("pkg") / "tiny.nvpkg")


@pytest.fixture(scope="module")
def frames(pkg_path) -> np.ndarray:
    """What the runtime decodes with nerv-play's defaults (backend and precision auto): uint8 [N, H, W, 3]."""
    with open_package(pkg_path) as pkg, Decoder(pkg, batch=3) as dec:
        out = np.concatenate(list(dec.decode_frames(0, NUM_FRAMES)))
    assert min(np.abs(out[i].astype(int) - out[i + 1]).mean() for i in range(NUM_FRAMES - 1)) > 10
    return out


def summary_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("nerv-play: ") and f"backend {AUTO} fp32" in lines[-1]
    return lines[-1]


def test_y4m_file_holds_the_runtime_frames(pkg_path, frames, tmp_path, capsys):
    out = tmp_path / "clip.y4m"
    assert main([str(pkg_path), "--output", str(out), "--frames", "2:6", "--batch", "3"]) == 0
    assert "4 frames" in summary_line(capsys.readouterr().err)
    header, planes = read_y4m(out)
    assert header.startswith(f"YUV4MPEG2 W{HW[1]} H{HW[0]} F24:1")
    assert len(planes) == 4
    for got, rgb in zip(planes, frames[2:6], strict=True):
        np.testing.assert_array_equal(got, yuv_reference(rgb))


def test_y4m_on_stdout(pkg_path, frames, capfdbinary):
    assert main([str(pkg_path), "--output", "-", "--frames=-2:"]) == 0
    data = capfdbinary.readouterr().out
    header, rest = data.split(b"\n", 1)
    size = 3 * HW[0] * HW[1]
    assert header.startswith(b"YUV4MPEG2 W64 H32") and len(rest) == 2 * (6 + size)
    for k, rgb in enumerate(frames[-2:]):
        plane = np.frombuffer(rest[k * (6 + size) + 6:(k + 1) * (6 + size)], np.uint8).reshape(3, *HW)
        np.testing.assert_array_equal(plane, yuv_reference(rgb))


def test_png_folder_is_pixel_equal(pkg_path, frames, tmp_path):
    out = tmp_path / "pngs"
    assert main([str(pkg_path), "--output", str(out), "--frames", "5:"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000005.png", "000006.png", "000007.png"]
    for i in range(5, 8):
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{i:06d}.png")), frames[i])


def test_mp4_has_every_frame_in_order(pkg_path, frames, tmp_path):
    """H.264 4:2:0 cannot keep these noise-like 32x64 frames pixel for pixel; 4x4 block means survive,
    and each decoded frame must be nearest its own runtime frame."""
    out = tmp_path / "clip.mp4"
    assert main([str(pkg_path), "--output", str(out)]) == 0
    with av.open(str(out)) as c:
        back = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert back.shape == frames.shape

    def blocks(x):
        n, h, w, c = x.shape
        return x.astype(float).reshape(n, h // 4, 4, w // 4, 4, c).mean((2, 4))

    ref = blocks(frames)
    for i, got in enumerate(blocks(back)):
        errors = [np.abs(got - f).mean() for f in ref]
        assert int(np.argmin(errors)) == i and errors[i] < 10


def test_seek_decodes_the_sought_frames(pkg_path, frames):
    with open_package(pkg_path) as pkg, Decoder(pkg, batch=4) as dec, \
            Prefetcher(dec.decode_frames, range(1, 7), batch=4, depth=4) as p:
        assert p.get(timeout=30)[0] == 1
        for target in (5, 2, 6, 1):
            p.seek(target)
            index, frame = p.get(timeout=30)
            assert index == target
            np.testing.assert_array_equal(frame, frames[target])
        assert p.get(timeout=30)[0] == 2


def test_window_plays_under_dummy_driver(pkg_path, monkeypatch, capsys):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    assert main([str(pkg_path), "--fps", "200", "--frames", "1:7"]) == 0
    assert "6 frames" in summary_line(capsys.readouterr().err)


def test_window_keys_step_and_seek(pkg_path, frames, monkeypatch):
    """End, left (paused: one frame back), overlay off: the window shows frame N-2, read from its surface."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from nervkit.player.window import Window, play_window

    window = Window("test", HW[1], HW[0])
    pg = window.pg
    try:
        for key in (pg.K_END, pg.K_LEFT, pg.K_o):
            pg.event.post(pg.event.Event(pg.KEYDOWN, key=key))
        with open_package(pkg_path) as pkg, Decoder(pkg) as dec, \
                Prefetcher(dec.decode_frames, range(NUM_FRAMES)) as p:
            # Quit well after the keys: a QUIT in the same event batch as the keys would end the loop
            # before it redraws, and a loaded machine can take over half a second to the first frame.
            pg.time.set_timer(pg.QUIT, 2000, loops=1)
            play_window(p, window, fps=24, backend=dec.backend)
        shown = pg.surfarray.array3d(window.screen).transpose(1, 0, 2)
    finally:
        window.close()
    np.testing.assert_array_equal(shown, frames[NUM_FRAMES - 2])


def test_no_display_is_a_user_error(pkg_path, monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    assert main([str(pkg_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no display" in err and "--output" in err


@pytest.mark.parametrize("args, message", [
    (["--frames", "3:99"], "--frames"), (["--output", "x.avi"], "unknown kind"),
    (["--loop", "--output", "x.y4m"], "--loop"), (["--backend", "warp"], "backend"),
])
def test_bad_arguments_exit_2(pkg_path, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main([str(pkg_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_not_a_package_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.nvpkg"
    bad.write_bytes(b"not a package at all")
    assert main([str(bad), "--no-window"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", [n for n in model_names() if n.startswith("test-")])
def test_every_family_packages_and_plays_as_eager_pytorch(name, tmp_path):
    """Each registered family (SNeRV-T's 3-D convolutions included) exports, packages and plays with every
    CPU backend here (ONNX Runtime; OpenVINO where installed), at fp32, to eager PyTorch's decode of the
    package's dequantised weights and embeddings, to one level."""
    pkg = make_package(tmp_path / "clip.nvpkg", name, gain=1.0)  # no gain: float rounding is not amplified
    with open_package(pkg) as p:
        weights, embeds = p.weights(), p.embeddings(0, NUM_FRAMES)
    model = create_model(name, HW, NUM_FRAMES).eval()
    state = {k.removeprefix("model."): torch.from_numpy(v) for k, v in weights.items()}
    assert not model.load_state_dict(state, strict=False).unexpected_keys
    with torch.no_grad():
        eager = model.decode(*(torch.from_numpy(embeds[k]) for k in model.embed_names))
    eager_u8 = np.round(eager.permute(0, 2, 3, 1).numpy() * 255)
    for backend in [b for b in ("ort-cpu", "openvino") if b in available_backends()]:
        out = tmp_path / backend
        assert main([str(pkg), "--backend", backend, "--precision", "fp32", "--no-window", "--output", str(out)]) == 0
        played = np.stack([np.asarray(Image.open(f)) for f in sorted(out.glob("*.png"))])
        assert played.shape == (NUM_FRAMES, *HW, 3)
        assert np.abs(played.astype(int) - eager_u8).max() <= 1, backend
