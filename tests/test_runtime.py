"""The torch-free runtime: decode equals eager PyTorch, uint8 frames, backends, no torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from test_nvpkg import make_tiny

from nervkit.export.build import export_decoder
from nervkit.runtime import Decoder, UserError, available_backends, open_package, to_uint8
from nervkit.runtime.timing import measure


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # odd sizes: 7 frames, 48x80 frames (strides 4,2,2,...: embedding 3x5)
    return make_tiny(tmp_path_factory.mktemp("rt"), frames=7, hw=(48, 80))


def test_decode_equals_eager_pytorch(tiny):
    """Package -> ORT CPU equals eager PyTorch with the same dequantised weights (fp32)."""
    loaded, path, _ = tiny
    exported = export_decoder(loaded)  # deterministic: the same codes the package holds
    with torch.no_grad():
        ref = exported.model.decode(torch.from_numpy(exported.embeddings["embed"])).numpy()
    with open_package(path) as pkg, Decoder(pkg, backend="ort-cpu", batch=3) as dec:
        out = dec.decode_float()
        batches = [b.shape[0] for b in dec.decode_batches(1, 7)]
    assert out.shape == ref.shape == (7, 3, 48, 80)
    diff = float(np.abs(out - ref).max())
    print(f"max |runtime - eager| = {diff:.2e} on [0,1] pixels (fp32)")
    assert diff <= 1e-4
    assert batches == [3, 3]


def test_uint8_frames(tiny):
    _, path, _ = tiny
    with open_package(path) as pkg, Decoder(pkg, backend="auto", batch=4) as dec:
        assert dec.backend in available_backends()
        ref = dec.decode_float(2, 5)
        frames = list(dec.decode_frames(2, 5))
        one = dec.decode_frame(4)
    assert [f.shape for f in frames] == [(3, 48, 80, 3)]
    assert frames[0].dtype == np.uint8 and one.shape == (48, 80, 3)
    np.testing.assert_array_equal(one, frames[0][2])
    expect = np.clip(np.round(ref.transpose(0, 2, 3, 1) * 255), 0, 255).astype(np.uint8)
    assert np.abs(frames[0].astype(int) - expect).max() <= 1  # float ties may round either way
    # clipping and rounding: channel values -0.1, 0.5, 1.2 -> 0, 128 (127.5 rounds to even), 255
    rgb = to_uint8(np.array([-0.1, 0.5, 1.2], dtype=np.float32).reshape(1, 3, 1, 1))
    np.testing.assert_array_equal(rgb.reshape(3), [0, 128, 255])


def test_backend_errors(tiny):
    _, path, _ = tiny
    assert "ort-cpu" in available_backends()
    with open_package(path) as pkg:
        with pytest.raises(UserError, match="TensorRT|tensorrt"):
            Decoder(pkg, backend="trt")
        with pytest.raises(UserError, match="unknown backend"):
            Decoder(pkg, backend="cuda-magic")
        if "ort-cuda" not in available_backends():
            with pytest.raises(UserError, match="gpu"):
                Decoder(pkg, backend="ort-cuda")
        with Decoder(pkg, backend="ort-cpu") as dec, pytest.raises(UserError, match="outside"):
            dec.decode_float(5, 9)


def test_runtime_never_imports_torch(tiny):
    """Import the runtime and decode a package in a fresh interpreter where importing torch fails."""
    _, path, _ = tiny
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, Block())
from nervkit.runtime import open_package, Decoder
with open_package({str(path)!r}) as pkg:
    frame = Decoder(pkg, backend="ort-cpu").decode_frame(6)
assert frame.shape == (48, 80, 3), frame.shape
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
import nervkit.runtime.info, nervkit.runtime.timing
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_timing_excludes_warmup():
    calls = []
    t = measure(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7 and t.warmup == 2 and len(t.times_s) == 5
    s = t.summary(items_per_call=4)
    assert s["median_s"] <= s["p99_s"] and s["per_second"] == pytest.approx(4 / t.median_s)
