"""The training loop shared by every family: Adam, HNeRV's cosine schedule, periodic evaluation.

The loop only calls ``model.loss(frames)``, so each family brings its own loss and logs its named terms;
a family that looks at neighbouring frames gets them through ``model.input_index``. Every epoch visits the
frames in a permutation drawn from a generator seeded with ``(seed, epoch)``, so a run resumed from the
checkpoint of epoch k continues exactly as the uninterrupted run would have. Training is fp32 unless
``precision`` says otherwise; every evaluation that beats the best PSNR so far also writes the best
checkpoint next to the last one (``model-best.pt`` beside ``model.pt``), as the official codes keep
``model_best.pth``.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import distributed
from .base import NeRVModel
from .checkpoint import LoadedModel, VideoInfo
from .metrics import ms_ssim, psnr
from .schedule import lr_multiplier


@dataclass
class TrainConfig:
    epochs: int = 300
    """Passes over all frames."""
    batch_size: int = 2
    """Frames per optimiser step, summed over all processes (the family's ``recipe`` in ``nerv-train``)."""
    lr: float = 1e-3
    """Peak learning rate of Adam (betas 0.9, 0.999, no weight decay)."""
    eval_every: int = 30
    """Evaluate PSNR / MS-SSIM over all frames every this many epochs (and after the last)."""
    seed: int = 1
    """Seed of the weight initialisation and of every epoch's frame order."""
    device: str = "cpu"
    """``cpu`` or ``cuda`` (``cuda:N``)."""
    grad_clip: float | None = None
    """Clip the gradient norm to this (``None``: no clipping)."""
    warmup: float = 0.1
    """Fraction of training in the schedule's linear warm-up."""
    precision: str = "fp32"
    """``fp32`` (default on every device), ``bf16`` (autocast) or ``tf32`` (CUDA matmuls and convolutions)."""
    save_every_s: float = 10.0
    """Write the resumable checkpoint at most this often (and at every evaluation and the end)."""


@dataclass
class Evaluation:
    psnr: float
    """Mean PSNR over frames, dB."""
    ms_ssim: float
    """Mean MS-SSIM over frames."""
    psnr_per_frame: list[float]
    embeddings: dict[str, torch.Tensor]


PRECISIONS = ("fp32", "bf16", "tf32")


def to_float(frames_u8: torch.Tensor) -> torch.Tensor:
    """uint8 ``[..., H, W, 3]`` -> float ``[..., 3, H, W]`` in [0, 1]."""
    return frames_u8.movedim(-1, -3).float().div_(255.0)


def model_input(model: NeRVModel, data: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """What ``model.encode``/``loss`` take for target frames ``idx`` of the uint8 video ``data [N, H, W, 3]``."""
    return to_float(data[model.input_index(len(data), idx)])


@contextlib.contextmanager
def precision_context(device_type: str, precision: str):
    """Run the enclosed steps in ``precision``: fp32 is fp32 (PyTorch's default lets cuDNN convolutions use
    TF32; that is turned off too); bf16 is autocast; tf32 lets CUDA matmuls and convolutions round inputs to
    TF32. The flags are restored on exit."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def best_path(out_path) -> Path:
    """Where the best-PSNR checkpoint goes: ``model-best.pt`` beside ``model.pt``."""
    out = Path(out_path)
    return out.with_name(f"{out.stem}-best{out.suffix}")


@torch.no_grad()
def evaluate(model: NeRVModel, frames_u8: torch.Tensor, batch: int = 4) -> Evaluation:
    """Encode and decode every frame; per-frame PSNR and MS-SSIM against the originals."""
    model.eval()
    ps, ss, embeds = [], [], []
    for i in range(0, len(frames_u8), batch):
        idx = torch.arange(i, min(i + batch, len(frames_u8)), device=frames_u8.device)
        target = to_float(frames_u8[idx])
        emb = model.encode(model_input(model, frames_u8, idx))
        out = model.decode(*(emb[n] for n in model.embed_names)).clamp(0, 1)
        ps.append(psnr(out, target).cpu())
        ss.append(ms_ssim(out, target).cpu())
        embeds.append({k: v.float().cpu() for k, v in emb.items()})
    model.train()
    p, s = torch.cat(ps), torch.cat(ss)
    joined = {k: torch.cat([e[k] for e in embeds]) for k in model.embed_names}
    return Evaluation(p.mean().item(), s.mean().item(), p.tolist(), joined)


def fit(model: NeRVModel, frames: np.ndarray, video: VideoInfo, cfg: TrainConfig, out_path,
        save: Callable[[Path, LoadedModel], None], resume: dict | None = None,
        on_epoch_end: Callable[[int], None] | None = None, args: dict | None = None) -> LoadedModel:
    """Train ``model`` on uint8 ``frames [N, H, W, 3]`` and write ``out_path`` (model.pt) as it goes.

    ``save(path, loaded)`` writes one checkpoint (the tools pass an atomic model.pt writer).

    ``resume`` is the ``train`` dict of an earlier checkpoint of the same model (its weights already
    loaded). ``on_epoch_end(epoch)`` runs after each epoch's checkpoint bookkeeping (tests use it to
    interrupt). On KeyboardInterrupt the last completed epoch is written before re-raising.
    """
    dd = distributed.setup(cfg.device)
    device = torch.device(cfg.device if not cfg.device.startswith("cuda") or dd.world == 1
                          else f"cuda:{torch.cuda.current_device()}")
    model.to(device).train()
    step_fn = _LossForward(model)
    if dd.world > 1:
        step_fn = DistributedDataParallel(step_fn)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), weight_decay=0.0)
    start_epoch, history = 0, {"epochs": [], "evals": []}
    if resume:
        opt.load_state_dict(resume["optimizer"])
        start_epoch, history = resume["epoch"], resume["history"]
    data = torch.from_numpy(frames).to(device)
    n = len(data)
    batch = max(1, min(cfg.batch_size, n))
    if batch % dd.world:
        raise ValueError(f"batch size {batch} is not divisible by the {dd.world} processes")
    steps = n // batch  # the official loader drops the last partial batch; each epoch's order differs
    best = max((e["psnr"] for e in history["evals"]), default=float("-inf"))

    def train_state(epoch: int) -> dict:
        return {"epoch": epoch, "optimizer": copy.deepcopy(opt.state_dict()), "history": copy.deepcopy(history),
                "config": asdict(cfg), "args": args or {}}

    def write(state: dict, weights: dict, embeddings: dict, path=out_path) -> None:
        if dd.is_main:
            snapshot = copy.deepcopy(model).cpu()
            snapshot.load_state_dict(weights)
            save(Path(path), LoadedModel(snapshot, video, embeddings, state))

    last = {"state": train_state(start_epoch), "weights": copy.deepcopy(model.state_dict()), "embeddings": None}
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, unit="step", file=sys.stderr,
               disable=not dd.is_main, dynamic_ncols=True, mininterval=1.0)
    last_save = time.monotonic()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
            losses, psnrs, terms = [], [], {}
            for step in range(steps):
                idx = order[step * batch:(step + 1) * batch][dd.rank::dd.world].to(device)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_multiplier((epoch + step / steps) / cfg.epochs, cfg.warmup)
                with precision_context(device.type, cfg.precision):
                    loss, recon, named = step_fn(model_input(model, data, idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                losses.append(loss.item())
                for k, v in named.items():
                    terms.setdefault(k, []).append(v.item())
                psnrs.append(psnr(recon.detach().float().clamp(0, 1), to_float(data[idx])).mean().item())
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{np.mean(losses):.4g}",
                                **{k: f"{np.mean(v):.4g}" for k, v in terms.items()},
                                psnr=f"{np.mean(psnrs):.2f}", refresh=False)
            history["epochs"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                                      "terms": {k: float(np.mean(v)) for k, v in terms.items()},
                                      "train_psnr": float(np.mean(psnrs)),
                                      "seconds": time.perf_counter() - t0})
            done = epoch + 1
            embeddings = None
            if done % cfg.eval_every == 0 or done == cfg.epochs:
                ev = evaluate(model, data)
                embeddings = ev.embeddings
                history["evals"].append({"epoch": done, "psnr": ev.psnr, "ms_ssim": ev.ms_ssim})
                if dd.is_main:
                    bar.write(f"epoch {done}/{cfg.epochs}: PSNR {ev.psnr:.2f} dB, MS-SSIM {ev.ms_ssim:.4f}",
                              file=sys.stderr)
                if ev.psnr > best:
                    best = ev.psnr
                    write(train_state(done), model.state_dict(), embeddings, best_path(out_path))
            last = {"state": train_state(done), "weights": copy.deepcopy(model.state_dict()),
                    "embeddings": embeddings}
            if embeddings is not None or done == cfg.epochs or time.monotonic() - last_save > cfg.save_every_s:
                _write_last(last, model, data, write)
                last_save = time.monotonic()
            if on_epoch_end:
                on_epoch_end(done)
    except KeyboardInterrupt:
        bar.close()
        _write_last(last, model, data, write)
        distributed.teardown(dd)
        raise
    bar.close()
    distributed.teardown(dd)
    model.cpu()
    return LoadedModel(model, video, {k: v.cpu() for k, v in last["embeddings"].items()}, last["state"])


class _LossForward(torch.nn.Module):
    """``forward(frames) = model.loss(frames)``: DDP syncs gradients only for what runs through the
    wrapped module's forward, so the family loss itself is that forward."""

    def __init__(self, model: NeRVModel):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor):
        return self.model.loss(frames)


def _write_last(last: dict, model: NeRVModel, data: torch.Tensor, write) -> None:
    """Write the snapshot of the last completed epoch, computing its embeddings if not yet known."""
    if last["embeddings"] is None:
        current = copy.deepcopy(model.state_dict())
        model.load_state_dict(last["weights"])
        last["embeddings"] = evaluate_embeddings(model, data)
        model.load_state_dict(current)
    write(last["state"], last["weights"], last["embeddings"])


@torch.no_grad()
def evaluate_embeddings(model: NeRVModel, data: torch.Tensor, batch: int = 8) -> dict[str, torch.Tensor]:
    """Encoder output for every frame (what the decoder needs at play time)."""
    model.eval()
    n = len(data)
    parts = [model.encode(model_input(model, data, torch.arange(i, min(i + batch, n), device=data.device)))
             for i in range(0, n, batch)]
    model.train()
    return {k: torch.cat([p[k].float().cpu() for p in parts]) for k in model.embed_names}
