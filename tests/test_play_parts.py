"""nerv-play's parts that need no package: frame ranges, decode-ahead queue, writers read back."""

from __future__ import annotations

import threading
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from nervkit.player.frames import parse_frames
from nervkit.player.prefetch import Prefetcher
from nervkit.player.sinks import open_sink, rgb_to_yuv444
from nervkit.runtime.errors import UserError

H, W = 6, 10  # even sizes for 4:2:0 video; odd sizes are covered below


def synthetic(index: int, h: int = H, w: int = W) -> np.ndarray:
    """A frame that differs strongly from its neighbours: uint8 [h, w, 3]."""
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


class RecordingDecoder:
    """Stands in for ``Decoder.decode_frames``: batches of synthetic frames, calls recorded."""

    def __init__(self, batch: int):
        self.batch = batch
        self.calls: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def __call__(self, start: int, stop: int):
        with self.lock:
            self.calls.append((start, stop))
        for s in range(start, stop, self.batch):
            yield np.stack([synthetic(i) for i in range(s, min(s + self.batch, stop))])


@pytest.mark.parametrize("text, expected", [
    (None, range(0, 10)), ("2:5", range(2, 5)), (":3", range(0, 3)), ("7:", range(7, 10)),
    ("-3:", range(7, 10)), ("0:10", range(0, 10)),
])
def test_parse_frames(text, expected):
    assert parse_frames(text, 10) == expected


@pytest.mark.parametrize("text", ["5", "a:b", "1:2:3", "5:5", "8:2", "0:11", "-11:"])
def test_parse_frames_rejects(text):
    with pytest.raises(UserError, match="--frames"):
        parse_frames(text, 10)


def take_all(p: Prefetcher) -> list[int]:
    out = []
    while (item := p.get(timeout=10)) is not None:
        index, frame = item
        np.testing.assert_array_equal(frame, synthetic(index))
        out.append(index)
    return out


@pytest.mark.parametrize("batch", [1, 3])
def test_prefetch_in_order_and_bounded(batch):
    dec = RecordingDecoder(batch)
    with Prefetcher(dec, range(2, 12), batch=batch, depth=4) as p:
        assert take_all(p) == list(range(2, 12))
        assert p.decoded == 10
    assert all(b - a <= batch for a, b in dec.calls)


def test_prefetch_loop_wraps_around():
    dec = RecordingDecoder(2)
    with Prefetcher(dec, range(3, 6), batch=2, loop=True) as p:
        got = [p.get(timeout=10)[0] for _ in range(8)]
    assert got == [3, 4, 5, 3, 4, 5, 3, 4]


def test_prefetch_seek_decodes_from_the_target_only():
    dec = RecordingDecoder(4)
    with Prefetcher(dec, range(0, 100), batch=4, depth=4) as p:
        assert p.get(timeout=10)[0] == 0
        n_before = len(dec.calls)
        p.seek(60)
        index, frame = p.get(timeout=10)
        assert index == 60
        np.testing.assert_array_equal(frame, synthetic(60))
        assert [p.get(timeout=10)[0] for _ in range(5)] == [61, 62, 63, 64, 65]
        p.seek(-5)  # clamped to the first frame
        assert p.get(timeout=10)[0] == 0
    after = dec.calls[n_before:]
    assert (60, 61) in after  # the sought frame alone first
    assert not any(a < 60 and a > 8 for a, _ in after)  # nothing decoded between the old place and 60


def test_prefetch_reraises_decode_errors():
    def broken(start, stop):
        raise RuntimeError("decoder exploded")
        yield

    with Prefetcher(broken, range(0, 4)) as p, pytest.raises(RuntimeError, match="exploded"):
        p.get(timeout=10)


def read_y4m(path) -> tuple[str, np.ndarray]:
    """Independent y4m reader: header line and uint8 planes [N, 3, H, W] (C444 only)."""
    data = path.read_bytes()
    header, rest = data.split(b"\n", 1)
    fields = {f[:1]: f[1:] for f in header.split()[1:]}
    h, w = int(fields[b"H"]), int(fields[b"W"])
    size = 3 * h * w
    frames = []
    while rest:
        tag, rest = rest.split(b"\n", 1)
        assert tag == b"FRAME"
        frames.append(np.frombuffer(rest[:size], np.uint8).reshape(3, h, w))
        rest = rest[size:]
    return header.decode(), np.stack(frames)


_T871 = [[Fraction(c) for c in row] for row in (
    ("0.299", "0.587", "0.114"), ("-0.168736", "-0.331264", "0.5"), ("0.5", "-0.418688", "-0.081312"))]


def yuv_reference(rgb: np.ndarray) -> np.ndarray:
    """JPEG/BT.601 full-range YCbCr (ITU-T T.871) in exact rational arithmetic, rounded half to even
    (Python's ``round``), per pixel: [H,W,3] -> [3,H,W]."""
    out = np.empty((3, *rgb.shape[:2]), np.uint8)
    for (i, j), (r, g, b) in zip(np.ndindex(rgb.shape[:2]), rgb.reshape(-1, 3).tolist(), strict=True):
        for c, (kr, kg, kb) in enumerate(_T871):
            out[c, i, j] = min(255, max(0, round((128 if c else 0) + kr * r + kg * g + kb * b)))
    return out


def test_yuv_is_exact_for_every_colour():
    """All 2^24 colours against T.871 in exact integer arithmetic (numerators over 10^6)."""
    c = np.arange(1 << 24, dtype=np.int64)
    rgb = np.stack([c >> 16, (c >> 8) & 255, c & 255], -1)
    coef = (np.array([[float(k) * 10**6 for k in row] for row in _T871]).round()).astype(np.int64)
    num = rgb @ coef.T + np.array([0, 128, 128]) * 10**6  # exact: [2^24, 3] numerators over 10^6
    q, rem = np.divmod(num, 10**6)
    expected = np.clip(q + ((rem > 500_000) | ((rem == 500_000) & (q % 2 == 1))), 0, 255).T
    got = rgb_to_yuv444(rgb.astype(np.uint8).reshape(4096, 4096, 3)).reshape(3, -1)
    np.testing.assert_array_equal(got, expected)


def write(path, frames: dict[int, np.ndarray], fps=24.0):
    h, w = next(iter(frames.values())).shape[:2]
    with open_sink(str(path), w, h, fps) as sink:
        for i, f in frames.items():
            sink.write(i, f)


def test_y4m_planes_and_ffmpeg_read_back(tmp_path):
    frames = {i: synthetic(i) for i in range(5)}
    path = tmp_path / "clip.y4m"
    write(path, frames, fps=23.976)
    header, planes = read_y4m(path)
    assert header == f"YUV4MPEG2 W{W} H{H} F2997:125 Ip A1:1 C444 XCOLORRANGE=FULL"
    assert planes.shape == (5, 3, H, W)
    for got, rgb in zip(planes, frames.values(), strict=True):
        np.testing.assert_array_equal(got, yuv_reference(rgb))
    with av.open(str(path)) as c:  # ffmpeg's own y4m demuxer and colour conversion
        back = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(back) == 5
    for got, rgb in zip(back, frames.values(), strict=True):
        assert np.abs(got.astype(int) - rgb).max() <= 3
    assert list(tmp_path.iterdir()) == [path]  # no temporary left


def test_png_folder_pixel_equal_and_named_by_index(tmp_path):
    frames = {i: synthetic(i, 7, 5) for i in range(10, 13)}
    out = tmp_path / "pngs"
    write(out, frames)
    assert sorted(p.name for p in out.iterdir()) == ["000010.png", "000011.png", "000012.png"]
    for i, rgb in frames.items():
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{i:06d}.png").convert("RGB")), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["pngs"]
    with pytest.raises(UserError, match="not an empty folder"):
        write(out, frames)


@pytest.mark.parametrize("name, hw", [("clip.mp4", (64, 96)), ("clip.mkv", (33, 47))])
def test_video_file_frames_in_order(tmp_path, name, hw):
    h, w = hw
    # Smooth, distinct frames (noise would not survive a lossy codec).
    yy, xx = np.mgrid[0:h, 0:w]
    frames = {i: np.stack([(xx * 4 + 40 * i) % 256, (yy * 4) % 256, np.full_like(xx, 30 * i)], -1)
              .astype(np.uint8) for i in range(6)}
    write(tmp_path / name, frames, fps=30)
    with av.open(str(tmp_path / name)) as c:
        back = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(back) == 6
    for i, got in enumerate(back):
        errors = [np.abs(got.astype(int) - f).mean() for f in frames.values()]
        assert int(np.argmin(errors)) == i and errors[i] < 4


def test_failed_write_leaves_nothing(tmp_path):
    for name in ["a.y4m", "a.mp4", "folder"]:
        with pytest.raises(RuntimeError), open_sink(str(tmp_path / name), W, H, 24) as sink:
            sink.write(0, synthetic(0))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [("clip.avi", "unknown kind"), ("nope/clip.y4m", "not an existing folder")])
def test_bad_output_names(tmp_path, name, message):
    with pytest.raises(UserError, match=message):
        open_sink(str(tmp_path / name), W, H, 24)
