"""The openvino backend against ort-cpu on every family's real package, reduced precision within its stated
tolerance, and the quality guard: nerv-export measures each precision against the source video, and
``--precision auto`` runs only what passed.

Tolerances (frames in [0, 1]), on tiny random-weight decoders with weights x1.5 (so frames have content
but are not chaotic: at x3 a 1e-7 change can flip a pixel): openvino fp32 equals ort-cpu within 1e-4
(the same fp32 graph, other kernels and summation orders; measured <= 1.5e-6). bf16 (bfloat16 weights
and activations, fp32 accumulation) stays within ``BF16_MAX_ABS`` = 0.03 (7.7 8-bit levels; measured
<= 0.023) and ``BF16_MIN_PSNR`` = 50 dB of fp32 (measured >= 55 dB); the official bunny decoder measures
3.2 levels and 64 dB (benchmarks/results/bench_runtime_cpu.json).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_play_cli import make_package

from nervkit.export.cli import main as export
from nervkit.player.play import main as play
from nervkit.runtime import Decoder, UserError, available_backends, open_package
from nervkit.runtime.backends import precisions, resolve
from nervkit.runtime.precision import MANIFEST_KEY, MAX_LOSS_DB, trusted
from nervkit.trainer.registry import model_names

pytestmark = pytest.mark.skipif("openvino" not in available_backends(),
                                reason="the openvino extra is not installed")
TINY = [n for n in model_names() if n.startswith("test-")]
FP32_ATOL = 1e-4
BF16_MAX_ABS = 0.03
BF16_MIN_PSNR = 50.0
GAIN = 1.5
NEEDS_BF16 = pytest.mark.skipif("openvino" in available_backends() and "bf16" not in precisions("openvino"),
                                reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")


def _psnr(a, b) -> float:
    return float(-10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def family_packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    return {name: make_package(folder / f"{name}.nvpkg", name, gain=GAIN) for name in TINY}


def _decode(path, backend: str, precision: str) -> np.ndarray:
    with open_package(path) as pkg, Decoder(pkg, backend, batch=3, precision=precision) as dec:
        assert (dec.backend, dec.precision) == (backend, precision)
        return dec.decode_float()


@pytest.mark.parametrize("name", TINY)
def test_openvino_fp32_equals_ort_cpu(family_packages, name):
    ref = _decode(family_packages[name], "ort-cpu", "fp32")
    out = _decode(family_packages[name], "openvino", "fp32")
    assert out.shape == ref.shape and ref.std() > 0.01  # frames with content, not a flat field
    np.testing.assert_allclose(out, ref, rtol=0, atol=FP32_ATOL)


@NEEDS_BF16
@pytest.mark.parametrize("name", TINY)
def test_openvino_bf16_within_tolerance(family_packages, name):
    ref = _decode(family_packages[name], "ort-cpu", "fp32")
    out = _decode(family_packages[name], "openvino", "bf16")
    err = np.abs(out - ref).max()
    assert 0 < err <= BF16_MAX_ABS  # > 0: bf16 really ran
    assert _psnr(out, ref) >= BF16_MIN_PSNR


def test_uint8_frames_in_graph_match_numpy_rounding(family_packages):
    """openvino's in-graph clamp/scale/round/cast/NHWC against numpy on its own float frames: equal but
    where fused arithmetic lands the other side of a rounding boundary (one level, rarely)."""
    with open_package(family_packages["test-hnerv"]) as pkg, Decoder(pkg, "openvino", 4, "fp32") as dec:
        floats = dec.decode_float()
        frames = np.concatenate(list(dec.decode_frames()))
    expected = np.rint(np.clip(floats, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    diff = np.abs(frames.astype(int) - expected)
    assert frames.shape == expected.shape and diff.max() <= 1 and (diff > 0).mean() < 1e-3


def _export_with_source(tmp_path, source_frames: np.ndarray) -> object:
    """A test-hnerv package exported with ``--source`` = a PNG folder of ``source_frames`` [n, H, W, 3]."""
    path = make_package(tmp_path / "clip.nvpkg")
    folder = tmp_path / "source"
    folder.mkdir()
    for i, frame in enumerate(source_frames):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")
    assert export([str(path.with_suffix(".pt")), "-o", str(path), "--source", str(folder),
                   "--eval-frames", "4"]) == 0
    return path


def _played(path) -> np.ndarray:
    with open_package(path) as pkg, Decoder(pkg, "ort-cpu", 4, "fp32") as dec:
        return np.concatenate(list(dec.decode_frames()))


@NEEDS_BF16
def test_guard_refuses_bf16_when_it_costs_more_than_002_db(tmp_path):
    """Source = the package's own fp32 frames: fp32 decoding is near-perfect (~59 dB, 8-bit rounding only),
    so bf16's error costs far more than 0.02 dB; auto falls back to fp32, an explicit bf16 still runs."""
    path = _export_with_source(tmp_path, _played(make_package(tmp_path / "first.nvpkg")))
    with open_package(path) as pkg:
        rec = pkg.manifest[MANIFEST_KEY]["results"]["openvino:bf16"]
        assert rec["loss_db"] > MAX_LOSS_DB and rec["passed"] is False
        assert not trusted(pkg, "openvino", "bf16")
        assert resolve("openvino", "auto", pkg) == ("openvino", "fp32")
        assert resolve("auto", "auto", pkg) == ("openvino", "fp32")
        assert resolve("openvino", "bf16", pkg) == ("openvino", "bf16")


@NEEDS_BF16
def test_guard_passes_bf16_on_a_lossy_package_and_auto_runs_it(tmp_path, capsys):
    """Source = frames far from what the package decodes (~13 dB): bf16's error is lost in the coding error."""
    frames = _played(make_package(tmp_path / "first.nvpkg"))
    noisy = np.clip(frames + np.random.default_rng(0).normal(0, 60, frames.shape), 0, 255).astype(np.uint8)
    path = _export_with_source(tmp_path, noisy)
    with open_package(path) as pkg:
        rec = pkg.manifest[MANIFEST_KEY]["results"]["openvino:bf16"]
        assert abs(rec["loss_db"]) <= MAX_LOSS_DB and rec["passed"] is True and rec["max_abs_diff"] > 0
        assert resolve("auto", "auto", pkg) == ("openvino", "bf16")
        assert resolve("ort-cpu", "auto", pkg) == ("ort-cpu", "fp32")
    assert play([str(path), "--no-window"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("backend openvino bf16")


class _Manifest:
    """A package as ``trusted`` reads it: only its manifest."""

    def __init__(self, results):
        self.manifest = {MANIFEST_KEY: {"results": results}}


def test_runtime_keeps_its_own_bar_and_rejects_malformed_records():
    claim = {"loss_db": 0.5, "passed": True}  # a manifest claiming a pass above the runtime's limit
    assert not trusted(_Manifest({"openvino:bf16": claim}), "openvino", "bf16")
    assert trusted(_Manifest({"openvino:bf16": {"loss_db": 0.01, "passed": True}}), "openvino", "bf16")
    assert trusted(_Manifest({}), "openvino", "fp32")
    for bad in ({"loss_db": "0"}, {"loss_db": float("nan"), "passed": True}, []):
        with pytest.raises(UserError, match=MANIFEST_KEY):
            trusted(_Manifest({"openvino:bf16": bad}), "openvino", "bf16")


def test_unsupported_precision_is_a_user_error(family_packages):
    with open_package(family_packages["test-hnerv"]) as pkg:
        with pytest.raises(UserError, match="ort-cpu"):
            Decoder(pkg, "ort-cpu", precision="bf16")
        with pytest.raises(UserError, match="int8"):
            Decoder(pkg, "auto", precision="int8")


def test_missing_extra_names_it(monkeypatch):
    import importlib.util

    from nervkit.runtime import backends

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    assert "nervkit[openvino]" in backends.unavailable("openvino")
    with pytest.raises(UserError, match=r"nervkit\[openvino\]"):
        resolve("openvino", "fp32")



@NEEDS_BF16
def test_openvino_call_sizes_compile_static_models_and_keep_two(family_packages):
    """Ranges of every length through one bf16 decoder (LATENCY: one request per call, the call's size):
    each call compiles or reuses the static model of its size and stays within the bf16 tolerance of
    ort-cpu; of the four sizes asked for, the two used last stay compiled."""
    path = family_packages["test-hnerv"]
    ref = _decode(path, "ort-cpu", "fp32")
    with open_package(path) as pkg, Decoder(pkg, "openvino", batch=4, precision="bf16") as dec:
        for start, stop in [(0, 4), (0, 3), (1, 3), (2, 3), (0, 4), (0, 1), (1, 4)]:
            assert np.abs(dec.decode_float(start, stop) - ref[start:stop]).max() <= BF16_MAX_ABS
        kept = [frames for kind, frames in dec._impl._requests if kind == "float"]  # noqa: SLF001
    assert kept == [1, 3]
