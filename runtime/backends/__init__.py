"""Inference backends behind one small interface, and ``--backend auto``.

A backend module provides ``unavailable(name) -> str | None`` (``None`` when backend ``name`` can run
here, else the reason, naming the extra to install) and ``create(package, batch, name) -> backend``
where the backend has
``name``, ``run(feeds: {input name: float32 [n, ...]}) -> float32 [n, 3, H, W]`` with the result on
the host (so the device is synchronised when ``run`` returns), and ``close()``.

``trt`` is ``nervkit.runtime.backends.trt`` (TensorRT, written by the export work); until that module
exists, or where ``tensorrt`` is not installed, choosing it is a clear user error.
"""

from __future__ import annotations

import importlib

from ..errors import UserError

BACKENDS = ("trt", "ort-cuda", "ort-cpu")
"""Known backends, fastest first: the order ``auto`` tries them in."""
_MODULES = {"trt": ".trt", "ort-cuda": ".ort", "ort-cpu": ".ort"}


def _module(name: str):
    try:
        return importlib.import_module(_MODULES[name], __name__)
    except ModuleNotFoundError as err:
        if name == "trt":
            return None  # the TensorRT backend module is not part of this install
        raise UserError(f"backend {name!r} needs {err.name!r}") from None


def unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None`` if it can."""
    if name not in BACKENDS:
        return f"unknown backend {name!r}; choose auto or one of: {', '.join(BACKENDS)}"
    module = _module(name)
    if module is None:
        return "TensorRT not installed: install the 'tensorrt' extra (pip install 'nervkit[tensorrt]')"
    return module.unavailable(name)


def available_backends() -> list[str]:
    """Backends that can run on this machine, fastest first."""
    return [b for b in BACKENDS if unavailable(b) is None]


def resolve(name: str) -> str:
    """``auto`` -> the fastest available backend; otherwise check ``name`` can run here."""
    if name == "auto":
        return available_backends()[0]
    reason = unavailable(name)
    if reason:
        raise UserError(f"backend {name!r} is not available: {reason}")
    return name


def create(name: str, package, batch: int):
    """Build backend ``name`` (already resolved) for ``package`` and batches of up to ``batch`` frames."""
    module = _module(name)
    return module.create(package, batch, name)
