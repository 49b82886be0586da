"""Training: test-hnerv learns, --resume is exact, torchrun/DDP steps like one process."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from nervkit.export import train_cli as cli
from nervkit.export.files import write_model
from nervkit.runtime.errors import UserError
from nervkit.trainer.checkpoint import VideoInfo, load_model
from nervkit.trainer.registry import create_model
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png
from nervkit.trainer.train import TrainConfig, evaluate, fit, precision_context


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
    loaded = fit(model, frames, VideoInfo(8, 32, 64), cfg, tmp_path / "m.pt", write_model)
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
           "--master_port", str(_free_port()), "--module", "nervkit.export.train_cli", str(clip_dir), "-o", str(ddp),
           "--model", "test-hnerv", "--epochs", "2", "--batch-size", "2", "--eval-every", "1",
           "--json", str(tmp_path / "ddp.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = load_model(single), load_model(ddp)
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[key], value, atol=2e-5, rtol=1e-4, msg=key)
    assert json.loads((tmp_path / "ddp.json").read_text())["epochs"] == 2


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_fp32_is_the_default_precision_on_every_device(device):
    args = cli.build_parser().parse_args(["in", "-o", "m.pt", "--device", device])
    assert args.precision == "fp32" and TrainConfig().precision == "fp32"
    # fp32 leaves autocast off and TF32 off whatever the device type
    with precision_context(device.split(":")[0], args.precision):
        assert not torch.is_autocast_enabled(device.split(":")[0])
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    with precision_context("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_tf32_on_cpu_is_a_user_error(clip_dir, tmp_path):
    with pytest.raises(UserError, match="--precision tf32 needs --device cuda"):
        _train(clip_dir, tmp_path / "m.pt", "--precision", "tf32")


def test_paper_recipe_by_default_flags_override(clip_dir, tmp_path):
    """SNeRV trains with its official recipe (batch 1, gradient clipping 1.0); each flag overrides it."""
    argv = [str(clip_dir), "-o", str(tmp_path / "s.pt"), "--model", "test-snerv", "--epochs", "1"]
    got = cli.run(argv)["recipe"]
    assert got == {"batch_size": 1, "grad_clip": 1.0, "warmup": 0.1, "precision": "fp32"}
    got = cli.run([*argv, "--batch-size", "2", "--grad-clip", "0", "--warmup", "0.2"])["recipe"]
    assert got == {"batch_size": 2, "grad_clip": None, "warmup": 0.2, "precision": "fp32"}
    assert cli.run([str(clip_dir), "-o", str(tmp_path / "h.pt"), "--model", "test-hnerv", "--epochs", "1"])[
        "recipe"] == {"batch_size": 2, "grad_clip": None, "warmup": 0.1, "precision": "fp32"}


def test_loss_terms_are_logged_and_best_checkpoint_kept(clip_dir, tmp_path):
    out = tmp_path / "m.pt"
    argv = [str(clip_dir), "-o", str(out), "--model", "test-hfe-hnerv", "--epochs", "3", "--eval-every", "1",
            "--lr", "0.05", "--json", str(tmp_path / "r.json")]
    result = cli.run(argv)
    logged = json.loads((tmp_path / "r.json").read_text())
    assert [sorted(e["terms"]) for e in logged["history"]["epochs"]] == [["frequency", "spatial"]] * 3
    evals = result["history"]["evals"]
    best_epoch = max(evals, key=lambda e: e["psnr"])["epoch"]
    best = load_model(tmp_path / "m-best.pt")
    assert best.train["epoch"] == best_epoch and result["best_psnr"] == max(e["psnr"] for e in evals)
    # the best checkpoint decodes to the PSNR its evaluation reported
    frames = torch.from_numpy(synthetic_clip(8, 32, 64))
    assert evaluate(best.model, frames).psnr == pytest.approx(result["best_psnr"], abs=1e-4)


def test_snerv_t_trains_on_neighbouring_frames(clip_dir, tmp_path):
    result = cli.run([str(clip_dir), "-o", str(tmp_path / "t.pt"), "--model", "test-snerv-t", "--epochs", "2"])
    assert sorted(result["history"]["epochs"][0]["terms"]) == ["frame", "high", "ll"]
    saved = load_model(tmp_path / "t.pt")
    assert {k: tuple(v.shape[:1]) for k, v in saved.embeddings.items()} == {
        "embed": (8,), "t_embed_b": (8,), "t_embed_f": (8,), "ll_range": (8,)}
