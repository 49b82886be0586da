"""nerv-bench's eager baseline (player/eager.py) is the trainer's own module with the package's weights.

References: the model the package was exported from, run directly (its decoder weights replaced by
the same dequantised values), and ONNX Runtime on the package's graph.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_nvpkg import join, split
from test_play_cli import make_package

from nervkit.player.eager import EagerDecoder
from nervkit.runtime import Decoder, PackageError, UserError, open_package
from nervkit.trainer.checkpoint import load_model
from nervkit.trainer.wavelets import import_pytorch_wavelets


@pytest.mark.parametrize("family", ["test-hnerv", "test-snerv"])
def test_baseline_is_the_trainers_module_with_the_package_weights(tmp_path, family):
    path = make_package(tmp_path / "p.nvpkg", family, gain=1.0)
    loaded = load_model(path.with_suffix(".pt"))
    with open_package(path) as pkg:
        eager = EagerDecoder(pkg)
        assert eager.name == f"{family}-eager"
        assert type(eager.model) is type(loaded.model) and not eager.model.training
        assert eager.model.config == loaded.model.config
        weights = pkg.weights()
        for name, p in eager.model.decoder_state().items():
            np.testing.assert_array_equal(p.detach().numpy(), weights[name])
        feeds = pkg.embeddings(0, 3)
        out = eager.run(feeds)
        with Decoder(pkg, backend="ort-cpu", batch=3) as dec:
            ref = dec.decode_float(0, 3)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert float(np.abs(out - ref).max()) < 1e-5
    # the same as the exported model's own decode with those weights (independent of the package reader)
    model = loaded.model.eval()
    model.load_decoder_state(weights)
    with torch.no_grad():
        direct = model.decode(*(torch.from_numpy(feeds[k]) for k in model.embed_names)).numpy()
    np.testing.assert_array_equal(out, direct)


def test_snerv_baseline_runs_pytorch_wavelets(tmp_path):
    """SNeRV's eager IDWT is pytorch_wavelets' (training mode), not the exportable slicing one."""
    with open_package(make_package(tmp_path / "s.nvpkg", "test-snerv", gain=1.0)) as pkg:
        idwt = EagerDecoder(pkg).model.idwt
    assert not idwt.exportable
    assert isinstance(idwt._ptw, import_pytorch_wavelets().DWTInverse)


def _rewrite_manifest(src, dst, edit) -> None:
    """Copy package ``src`` to ``dst`` with ``edit(manifest)`` applied and the header re-signed."""
    fields, manifest, area = split(src.read_bytes())
    edit(manifest)
    dst.write_bytes(join(fields, manifest, area))


def test_package_without_config_is_one_clear_error(tmp_path):
    path = make_package(tmp_path / "p.nvpkg")
    old = tmp_path / "old.nvpkg"
    _rewrite_manifest(path, old, lambda m: m.pop("config"))
    with open_package(old) as pkg, pytest.raises(UserError, match="no model config.*--baseline none"):
        EagerDecoder(pkg)


def test_config_that_does_not_fit_the_weights_is_a_package_error(tmp_path):
    path = make_package(tmp_path / "p.nvpkg")
    bad = tmp_path / "bad.nvpkg"
    _rewrite_manifest(path, bad, lambda m: m["config"]["widths"].__setitem__(0, m["config"]["widths"][0] + 1))
    with open_package(bad) as pkg, pytest.raises(PackageError, match="do not rebuild"):
        EagerDecoder(pkg)
