"""The nervkit Haar plugins for TensorRT: ``nervkit::HaarDWT`` and ``nervkit::HaarIDWT``.

Why TensorRT's Python plugin API (``tensorrt.plugin``, TensorRT >= 10.9) with ahead-of-time kernels:
``@trtp.register`` describes the outputs, ``@trtp.aot_impl`` hands TensorRT the PTX of our CUDA kernels
(``kernels/haar.cu``, compiled by ``kernels/build.sh``) and their launch parameters, and TensorRT embeds
that PTX in the engine, so engines run without Python (a C++ IPluginV3 library would need a compiled
.so per platform; a JIT Python plugin would call back into Python every frame). The ONNX parser maps a
node to the creator with the node's op type and its ``plugin_namespace`` / ``plugin_version`` attributes
(``passes.pipeline.tag_plugins``). Kernel argument order follows the AOT convention: inputs, int scalars,
outputs.

``HaarIDWT`` carries ``clamp``: 1 when the fused-plugin pass absorbed a following ``Clip(0, 1)`` (SNeRV's
frame clamp), which saves one full read and write of the frame.

Unverified here: TensorRT cannot be installed on our machines; this follows NVIDIA's ``tensorrt.plugin``
documentation and its AOT plugin sample and runs only where TensorRT and a GPU exist.
"""

from __future__ import annotations

from pathlib import Path

from ...runtime.backends.trt import import_tensorrt
from ...runtime.errors import UserError
from ..haar_onnx import HAAR_MODES

PTX = Path(__file__).with_name("kernels") / "haar.ptx"
BLOCK = 256
_MODE_CODE = {"zero": 0, "periodization": 1}
_registered = False


def _ptx() -> str:
    if not PTX.exists():
        script = PTX.parent / "build.sh"
        raise UserError(f"Haar plugin kernels are not compiled: run sh {script} (needs nvcc)")
    return PTX.read_text()


def register_plugins() -> None:
    """Register both plugins with TensorRT's plugin registry (once per process)."""
    global _registered
    if _registered:
        return
    import_tensorrt()
    import numpy as np
    import tensorrt.plugin as trtp

    def suffix(desc) -> str:
        return "f16" if desc.dtype == np.float16 else "f32"

    @trtp.register("nervkit::HaarDWT")
    def dwt_desc(x: trtp.TensorDesc, mode: str) -> tuple[trtp.TensorDesc, trtp.TensorDesc]:
        n, c, h, w = x.shape_expr
        half_h, half_w = (h + 1) // 2, (w + 1) // 2
        return x.like().with_shape((n, c, half_h, half_w)), x.like().with_shape((n, c, 3, half_h, half_w))

    @trtp.aot_impl("nervkit::HaarDWT")
    def dwt_aot(x: trtp.TensorDesc, mode: str, outputs, tactic):
        if mode not in HAAR_MODES:
            raise ValueError(f"HaarDWT mode {mode!r}")
        n, c, h, w = x.shape_expr
        blocks = n * c * ((h + 1) // 2) * ((w + 1) // 2)
        launch = trtp.KernelLaunchParams()
        launch.grid_x = (blocks + BLOCK - 1) // BLOCK
        launch.block_x = BLOCK
        extra = trtp.SymIntExprs(4)
        for i, v in enumerate((n * c, h, w, _MODE_CODE[mode])):
            extra[i] = trtp.SymInt32(v)
        return f"haar_dwt_{suffix(x)}", _ptx(), launch, extra

    @trtp.register("nervkit::HaarIDWT")
    def idwt_desc(ll: trtp.TensorDesc, high: trtp.TensorDesc, clamp: int) -> trtp.TensorDesc:
        n, c, h, w = ll.shape_expr
        return ll.like().with_shape((n, c, 2 * h, 2 * w))

    @trtp.aot_impl("nervkit::HaarIDWT")
    def idwt_aot(ll: trtp.TensorDesc, high: trtp.TensorDesc, clamp: int, outputs, tactic):
        n, c, h, w = ll.shape_expr
        launch = trtp.KernelLaunchParams()
        launch.grid_x = (n * c * h * w + BLOCK - 1) // BLOCK
        launch.block_x = BLOCK
        extra = trtp.SymIntExprs(4)
        for i, v in enumerate((n * c, h, w, clamp)):
            extra[i] = trtp.SymInt32(v)
        return f"haar_idwt_{suffix(ll)}", _ptx(), launch, extra

    _registered = True
