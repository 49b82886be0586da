"""The enhancer's side of the TDS pipeline: enhance groups of pictures by Algorithm 1, and train on them.

Frames are RGB ``uint8 [N, H, W, 3]``, decoded by the base codec (LR frames already up-sampled to full
size: ``nervkit.export.tds_streams``). ``steps`` is Algorithm 1's order for a group of ``gop`` frames,
given by the caller (``nervkit.runtime.gop.frame_plan``, which the runtime's decode plan runs too): each
step has ``target``, ``earlier`` and ``later`` indices in the group, ``E[target] = G(F[earlier],
L[target], F[later])``. :func:`enhance` runs it over every whole group; :func:`train` fits the enhancer
on decoded groups in the two stages of Sec. 4.1.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..metrics import psnr
from .enhancer import Enhancer, charbonnier
from .mtsa import MTSA, ConvFusion


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` -> float ``[N, 3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def mean_psnr(frames: np.ndarray, reference: np.ndarray) -> float:
    """Mean over frames of the per-frame RGB PSNR in dB (the trainer's metric) of ``uint8`` frames."""
    return psnr(to_tensor(frames), to_tensor(reference)).mean().item()


def run_groups(enhancer: Enhancer, groups: torch.Tensor, steps: Sequence) -> torch.Tensor:
    """Algorithm 1 (``steps``) on ``groups [G, N, 3, H, W]`` (decoded, LR frames up-sampled), all groups batched.

    Returns the enhanced non-key frames ``[G, N - 2, 3, H, W]`` in group order (frames 1 .. N-2),
    unclamped; every reference passed to a later step is clamped to [0, 1], as the decoder's is.
    """
    n = groups.shape[1]
    cur = list(groups.unbind(1))
    outs: dict[int, torch.Tensor] = {}
    for s in steps:
        y = enhancer(cur[s.earlier], cur[s.target], cur[s.later])
        outs[s.target] = y
        cur[s.target] = y.clamp(0, 1)
    return torch.stack([outs[i] for i in range(1, n - 1)], 1)


@torch.no_grad()
def enhance(enhancer, decoded: np.ndarray, gop: int, steps: Sequence, batch: int = 4) -> np.ndarray:
    """The decoder's output: ``decoded`` with every LR frame of each whole group of ``gop`` frames enhanced by
    ``steps``, ``uint8 [N, H, W, 3]`` (frames after the last whole group are key frames, left as decoded).

    ``enhancer``: an :class:`Enhancer` or any callable with its signature (an ONNX Runtime session).
    """
    if isinstance(enhancer, torch.nn.Module):
        enhancer.eval()
    out = decoded.copy()
    n, whole = gop, len(decoded) // gop
    for g0 in range(0, whole, batch):
        g1 = min(g0 + batch, whole)
        groups = to_tensor(decoded[g0 * n:g1 * n]).view(g1 - g0, n, *to_tensor(decoded[:1]).shape[1:])
        y = run_groups(enhancer, groups, steps).clamp(0, 1).mul(255).round().byte()
        for g in range(g1 - g0):
            out[(g0 + g) * n + 1:(g0 + g + 1) * n - 1] = y[g].permute(0, 2, 3, 1).numpy()
    return out


@dataclass
class TrainSettings:
    steps: int = 2000
    """Optimiser steps in all (both stages)."""
    patch: int = 64
    """Side of the square training crop (the paper: 256; multiples of 4)."""
    batch: int = 4
    """Groups per step (the paper: 4 per GPU)."""
    lr: float = 4e-4
    """Initial Adam learning rate (the paper: 4e-4, betas 0.9 / 0.99, no weight decay)."""
    stage1: float = 0.5
    """Fraction of the steps in stage 1 (the paper: 600k + 600k iterations, so one half)."""
    finetune_pcd: float = 0.2
    """Final fraction of stage 2 in which PCD's cascading layers train again (Sec. 4.1 b)."""
    seed: int = 1


def _stage_params(enhancer: Enhancer, stage: int, finetune: bool) -> list[torch.nn.Parameter]:
    """Stage 1: everything. Stage 2: features and PCD frozen (the cascade again when ``finetune``)."""
    if stage == 1:
        return list(enhancer.parameters())
    frozen = {id(p) for p in (*enhancer.features.parameters(), *enhancer.align.parameters())}
    if finetune:
        a = enhancer.align
        frozen -= {id(p) for m in (a.cas1, a.cas2, a.cas_dcn) for p in m.parameters()}
    return [p for p in enhancer.parameters() if id(p) not in frozen]


def _sample(rng: np.random.Generator, data: Sequence[tuple[torch.Tensor, torch.Tensor]], gop: int,
            patch: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random group crops: (decoded ``[B, N, 3, p, p]``, original ``[B, N, 3, p, p]``)."""
    dec_b, org_b = [], []
    for _ in range(batch):
        dec, org = data[rng.integers(len(data))]
        groups = dec.shape[0] // gop
        g = rng.integers(groups)
        y, x = rng.integers(0, dec.shape[2] - patch + 1), rng.integers(0, dec.shape[3] - patch + 1)
        sl = (slice(g * gop, (g + 1) * gop), slice(None), slice(y, y + patch), slice(x, x + patch))
        d, o = dec[sl], org[sl]
        if rng.integers(2):  # augmentation: horizontal flip and rotation by 90 degrees (Sec. 4.1)
            d, o = d.flip(-1), o.flip(-1)
        k = int(rng.integers(4))
        dec_b.append(torch.rot90(d, k, (-2, -1)))
        org_b.append(torch.rot90(o, k, (-2, -1)))
    return torch.stack(dec_b), torch.stack(org_b)


def train(enhancer: Enhancer, data: Sequence[tuple[np.ndarray, np.ndarray]], gop: int, steps: Sequence,
          cfg: TrainSettings, log=sys.stderr) -> list[dict]:
    """Fit ``enhancer`` on ``data``: pairs (decoded, original) ``uint8 [N, H, W, 3]`` of whole groups of ``gop``.

    Each step runs Algorithm 1 on a batch of random crops of groups, so the references of the later
    steps are the network's own enhanced middle frames, as at decoding time; the loss is the
    Charbonnier loss over all enhanced frames. With MTSA, stage 1 trains alignment, a baseline conv
    fusion and PSA (MTA bypassed); stage 2 drops the baseline, freezes features and PCD and trains MTA,
    PSA and IQEM, unfreezing PCD's cascade for the last ``finetune_pcd`` of its steps. The ablation
    without MTSA trains everything in one stage. Each stage has its own Adam and cosine schedule.
    Returns the loss history (one entry per logged step).
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tensors = [(to_tensor(d), to_tensor(o)) for d, o in data]
    two_stage = isinstance(enhancer.fusion, MTSA)
    s1 = round(cfg.steps * cfg.stage1) if two_stage else cfg.steps
    stages = [(1, 0, s1), (2, s1, cfg.steps)] if two_stage else [(1, 0, s1)]
    history = []
    enhancer.train()
    for stage, start, stop in stages:
        if two_stage:
            enhancer.fusion.baseline = ConvFusion(enhancer.config.channels, 3) if stage == 1 else None
        ft_from = stop - round((stop - start) * cfg.finetune_pcd)
        opt = sched = None
        for step in range(start, stop):
            finetune = stage == 2 and step >= ft_from
            if opt is None or (finetune and step == ft_from):
                params = _stage_params(enhancer, stage, finetune)
                for p in enhancer.parameters():
                    p.requires_grad_(False)
                for p in params:
                    p.requires_grad_(True)
                opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99))
                sched = torch.optim.lr_scheduler.LambdaLR(
                    opt, lambda i, n=stop - step: 0.5 * (1 + math.cos(math.pi * min(i, n) / n)))
            dec, org = _sample(rng, tensors, gop, cfg.patch, cfg.batch)
            pred = run_groups(enhancer, dec, steps)
            loss = charbonnier(pred, org[:, 1:-1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 50 == 0 or step == cfg.steps - 1:
                history.append({"step": step, "stage": stage, "loss": loss.item()})
                print(f"tds: step {step}/{cfg.steps} stage {stage} loss {loss.item():.5f}", file=log, flush=True)
    for p in enhancer.parameters():
        p.requires_grad_(True)
    enhancer.eval()
    return history
