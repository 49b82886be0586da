"""Training: test-hnerv learns, --resume is exact, torchrun/DDP steps like one process."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from nervkit.trainer import cli
from nervkit.trainer.checkpoint import VideoInfo, load_model
from nervkit.trainer.registry import create_model
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png
from nervkit.trainer.train import TrainConfig, evaluate, fit


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    write_frames_png(synthetic_clip(8, 32, 64), folder)
    return folder


def _train(clip_dir, out, *extra, on_epoch_end=None):
    argv = [str(clip_dir), "-o", str(out), "--model", "test-hnerv", "--eval-every", "1", *extra]
    return cli.run(argv, on_epoch_end=on_epoch_end)


def test_test_hnerv_learns(tmp_path):
    """A few seconds of training: the loss falls and PSNR over all 8 frames rises from the untrained model's."""
    frames = synthetic_clip(8, 32, 64)
    torch.manual_seed(1)
    model = create_model("test-hnerv", (32, 64), 8)
    before = evaluate(model, torch.from_numpy(frames))
    cfg = TrainConfig(epochs=25, batch_size=2, lr=2e-2, eval_every=25)
    loaded = fit(model, frames, VideoInfo(8, 32, 64), cfg, tmp_path / "m.pt")
    epochs = loaded.train["history"]["epochs"]
    after = loaded.train["history"]["evals"][-1]["psnr"]
    assert epochs[-1]["loss"] < 0.8 * epochs[0]["loss"]
    assert after > before.psnr + 2.0, (before.psnr, after)
    saved = load_model(tmp_path / "m.pt")
    assert saved.embeddings["embed"].shape[0] == 8
    assert saved.train["epoch"] == 25


def test_resume_after_interrupt_gives_identical_weights(clip_dir, tmp_path):
    full = tmp_path / "full.pt"
    _train(clip_dir, full, "--epochs", "4")

    def interrupt(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    part = tmp_path / "part.pt"
    with pytest.raises(KeyboardInterrupt):
        _train(clip_dir, part, "--epochs", "4", on_epoch_end=interrupt)
    assert load_model(part).train["epoch"] == 2
    _train(clip_dir, part, "--epochs", "4", "--resume")
    a, b = load_model(full), load_model(part)
    assert b.train["epoch"] == 4
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert torch.equal(a.embeddings["embed"], b.embeddings["embed"])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_ddp_two_processes_matches_one(clip_dir, tmp_path):
    """2 gloo processes with 1 frame each per step == 1 process with batch 2 (gradients averaged)."""
    single = tmp_path / "single.pt"
    _train(clip_dir, single, "--epochs", "2", "--batch-size", "2")
    ddp = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "--module", "nervkit.trainer.cli", str(clip_dir), "-o", str(ddp),
           "--model", "test-hnerv", "--epochs", "2", "--batch-size", "2", "--eval-every", "1",
           "--json", str(tmp_path / "ddp.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = load_model(single), load_model(ddp)
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[key], value, atol=2e-5, rtol=1e-4, msg=key)
    assert json.loads((tmp_path / "ddp.json").read_text())["epochs"] == 2
