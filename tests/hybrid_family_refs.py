"""Shared checks of the HFS-HNeRV and CF-NeRV tests: a test clip, a short training run, ONNX vs eager.

PSNR is written out here (``-10 log10 MSE``, peak 1) rather than imported, so the training checks do
not lean on ``nervkit.trainer.metrics``.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from nervkit.trainer.base import DecoderGraph


def clip(n: int = 8, h: int = 32, w: int = 64) -> torch.Tensor:
    """``[n, 3, h, w]`` in [0, 1]: colour waves drifting over time plus a fixed fine texture."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    texture = 0.1 * torch.rand(3, h, w, generator=gen)
    frames = [torch.stack([0.45 + 0.35 * torch.sin(7 * xx + 0.4 * t + c) * torch.cos(5 * yy - 0.6 * c)
                           for c in range(3)]) + texture for t in range(n)]
    return torch.stack(frames).clamp(0, 1)


def psnr_db(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(-10 * torch.log10((pred.double() - target.double()).pow(2).mean()))


def train_psnr(model, frames: torch.Tensor, steps: int = 30, lr: float = 5e-3) -> tuple[float, float]:
    """PSNR of ``model(frames)`` before and after ``steps`` Adam steps on ``model.loss`` (the generic loop).

    Runs on one intra-op thread: tiny tensors gain nothing from more, and on a shared, oversubscribed
    machine two spinning threads made each step ~10x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        with torch.no_grad():
            before = psnr_db(model(frames), frames)
        for _ in range(steps):
            loss, _ = model.loss(frames)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            after = psnr_db(model(frames), frames)
    finally:
        torch.set_num_threads(threads)
    return before, after


def check_onnx_matches_eager(model, embed: torch.Tensor, atol: float = 1e-4):
    """Export ``DecoderGraph(model.set_exportable())`` (legacy exporter) and run it in ONNX Runtime.

    Eager is the training-mode decode (pytorch_wavelets), computed before the switch. The graph runs
    after nervkit's ORT pipeline with and without Haar folding. Returns the raw exported graph.
    """
    import onnx
    import onnxruntime as ort

    from nervkit.export.passes.pipeline import optimize_for

    model.eval()
    with torch.no_grad():
        eager = model.decode(embed).numpy()
        buf = io.BytesIO()
        torch.onnx.export(DecoderGraph(model.set_exportable()), (embed,), buf, input_names=["embed"],
                          output_names=["frames"], opset_version=17, dynamo=False,
                          dynamic_axes={"embed": {0: "n"}, "frames": {0: "n"}})
        np.testing.assert_allclose(model.decode(embed).numpy(), eager, atol=1e-5)
    graph = onnx.load_from_string(buf.getvalue())
    for fold in (True, False):
        sess = ort.InferenceSession(optimize_for(graph, "ort", fold=fold).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(sess.run(None, {"embed": embed.numpy()})[0], eager, atol=atol)
    return graph
