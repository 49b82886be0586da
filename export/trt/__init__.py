"""TensorRT: engine building and caching from the TensorRT-flavoured ONNX, Haar plugins.

``tensorrt`` (and ``pycuda`` for the runtime backend) are imported lazily, only when an engine is built or
run; a missing install is a user error that names the extra to install.
"""

from __future__ import annotations

import importlib

from ...runtime.errors import UserError

EXTRA_HINT = "install the 'tensorrt' extra (pip install 'nervkit[tensorrt]') on a machine with an NVIDIA GPU"


def import_tensorrt():
    """``import tensorrt`` or a UserError naming what is missing."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError:
        raise UserError(f"TensorRT is not installed: {EXTRA_HINT}") from None
