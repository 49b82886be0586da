"""Video input: real decoding against the original PNGs, HNeRV's crop/resize, and bad input -> exit 2."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nervkit.export import train_cli as cli
from nervkit.export.files import load_video
from nervkit.runtime.errors import UserError
from nervkit.runtime.video import parse_hw
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png


def test_lossless_mkv_decodes_to_the_original_pixels(frames_720p):
    mkv = frames_720p.parent / "bunny-720p-lossless.mkv"
    clip = load_video(mkv, max_frames=2)
    assert clip.fps == pytest.approx(24.0)
    for i in range(2):
        png = np.asarray(Image.open(frames_720p / f"{i + 1:04d}.png").convert("RGB"))
        assert np.array_equal(clip.frames[i], png)


def test_crop_then_resize_follows_hnerv(tmp_path):
    """Center crop with torchvision's rounding, then bicubic F.interpolate on [0, 1] floats."""
    frames = synthetic_clip(2, 37, 61)
    write_frames_png(frames, tmp_path)
    clip = load_video(tmp_path, crop=(30, 50), resize=(16, 24))
    top, left = round((37 - 30) / 2.0), round((61 - 50) / 2.0)  # torchvision: int(round((H - h) / 2.0))
    cropped = torch.from_numpy(frames[:, top:top + 30, left:left + 50]).permute(0, 3, 1, 2).float() / 255
    ref = F.interpolate(cropped, size=(16, 24), mode="bicubic", align_corners=False).clamp(0, 1)
    ref = (ref * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (2, 16, 24, 3)
    assert np.array_equal(clip.frames, ref)


def test_y4m_input(tmp_path):
    """A y4m file (4:4:4) written by hand opens through PyAV."""
    frames = np.full((3, 8, 16, 3), 128, np.uint8)
    path = tmp_path / "clip.y4m"
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W16 H8 F24:1 Ip A1:1 C444\n")
        for _ in frames:
            f.write(b"FRAME\n" + bytes([128]) * (8 * 16 * 3))
    clip = load_video(path)
    assert clip.frames.shape == (3, 8, 16, 3)
    assert np.abs(clip.frames.astype(int) - 128).max() <= 2


@pytest.mark.parametrize("degrees, corner", [(90, (-1, 0)), (-90, (0, -1)), (180, (-1, -1))])
def test_rotation_metadata_is_applied_as_players_do(tmp_path, degrees, corner):
    """A display matrix turning the picture counter-clockwise by ``degrees`` (a phone video's metadata):
    the frames come out upright, so a white block coded top-left is shown at ``corner`` (row, column;
    -1 = bottom/right), and a quarter turn swaps height and width."""
    import av

    coded = np.zeros((32, 64, 3), np.uint8)
    coded[:8, :8] = 255
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264rgb", rate=24, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 32, "rgb24"
        stream.set_display_rotation(degrees)
        for _ in range(2):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(coded, format="rgb24")))
        out.mux(stream.encode())
    frames = load_video(path).frames
    assert frames.shape == ((2, 64, 32, 3) if degrees % 180 else (2, 32, 64, 3))
    h, w = frames.shape[1:3]
    rows = slice(0, 8) if corner[0] == 0 else slice(h - 8, h)
    cols = slice(0, 8) if corner[1] == 0 else slice(w - 8, w)
    assert frames[:, rows, cols].min() == 255 and frames.astype(int).sum() == 2 * 8 * 8 * 3 * 255


def test_parse_hw():
    assert parse_hw("640x1280") == (640, 1280) and parse_hw("640_1280") == (640, 1280)
    for bad in ("640", "ax2", "0x5", "-3x4", "100000x2"):
        with pytest.raises(UserError):
            parse_hw(bad)


def _bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    write_frames_png(synthetic_clip(2, 32, 64), mixed)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(mixed / "0003.png")
    broken = tmp_path / "broken"
    write_frames_png(synthetic_clip(2, 32, 64), broken)
    (broken / "0002.png").write_bytes((broken / "0002.png").read_bytes()[:100])
    truncated = tmp_path / "truncated.mkv"
    good = tmp_path / "good.mkv"
    import av

    with av.open(str(good), "w") as out:
        s = out.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv444p"
        for f in synthetic_clip(4, 32, 64):
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(s.encode())
    truncated.write_bytes(good.read_bytes()[:200])
    ok = tmp_path / "ok"
    write_frames_png(synthetic_clip(2, 32, 64), ok)
    return {
        "missing": ([str(tmp_path / "nope.mp4")], "no such file"),
        "text as mp4": ([str(text)], "not a readable video"),
        "empty folder": ([str(empty)], "no image files"),
        "mixed sizes": ([str(mixed)], "one size"),
        "broken png": ([str(broken)], "not a readable image"),
        "truncated mkv": ([str(truncated)], ""),
        "crop too big": ([str(ok), "--crop", "64x64"], "larger than"),
        "bad crop": ([str(ok), "--crop", "abc"], "HxW"),
        "unknown model": ([str(ok), "--model", "nerf"], "unknown model"),
        "no cuda": ([str(ok), "--device", "cuda"], "cuda"),
        "prime-sized frames": ([str(ok), "--resize", "31x61"], "--resize"),
    }


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so --device cuda is valid")
    for name, (args, expected) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"{name.replace(' ', '_')}.pt"
        code = cli.main([*args, "-o", str(out), "--epochs", "1"])
        err = capsys.readouterr().err.strip()
        lines = [ln for ln in err.splitlines() if ln.startswith("nerv-train: error")]
        assert code == 2, (name, err)
        assert len(lines) == 1 and "Traceback" not in err, (name, err)
        assert expected.lower() in lines[0].lower(), (name, lines[0])
        assert not out.exists(), name


def test_too_large_input_is_refused_before_it_fills_memory(tmp_path):
    write_frames_png(synthetic_clip(4, 32, 64), tmp_path)
    with pytest.raises(UserError, match="exceed"):
        load_video(tmp_path, max_bytes=3 * 32 * 64 * 3)
