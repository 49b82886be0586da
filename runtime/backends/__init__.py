"""Inference backends behind one small interface, and ``--backend auto`` / ``--precision auto``.

A backend module provides ``unavailable(name) -> str | None`` (``None`` when backend ``name`` can run
here, else the reason, naming the extra to install), ``precisions(name) -> tuple`` (the precisions it
runs here, fastest first, ``fp32`` always among them) and ``create(package, batch, name, precision)
-> backend`` where the backend has ``name``, ``precision``,
``run(feeds: {input name: float32 [n, ...]}) -> float32 [n, 3, H, W]`` with the result on the host
(so the device is synchronised when ``run`` returns), optionally ``run_uint8(feeds) -> uint8 RGB
[n, H, W, 3]`` (the final clamp/scale/round/cast done inside the backend), and ``close()``.

Optional backends (``openvino``, ``trt``) are imported lazily; a missing extra is a clear user error
naming it. ``auto`` picks the first available backend of ``BACKENDS`` and, with ``--precision auto``, its
fastest precision that the package's quality guard trusts (see ``nervkit.runtime.precision``).
"""

from __future__ import annotations

import importlib

from ..errors import UserError
from ..memory import DEFAULT_MAX_MEMORY, check_memory
from ..precision import PRECISIONS, trusted

BACKENDS = ("trt", "ort-cuda", "openvino", "ort-cpu")
"""Known backends, fastest first: the order ``auto`` tries them in (measured: docs/player.md)."""
_MODULES = {"trt": ".trt", "ort-cuda": ".ort", "openvino": ".openvino", "ort-cpu": ".ort"}


def _module(name: str):
    return importlib.import_module(_MODULES[name], __name__)


def unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None`` if it can."""
    if name not in BACKENDS:
        return f"unknown backend {name!r}; choose auto or one of: {', '.join(BACKENDS)}"
    return _module(name).unavailable(name)


def available_backends() -> list[str]:
    """Backends that can run on this machine, fastest first."""
    return [b for b in BACKENDS if unavailable(b) is None]


def precisions(name: str) -> tuple[str, ...]:
    """Precisions backend ``name`` (available) runs on this machine, fastest first."""
    return _module(name).precisions(name)


def resolve(name: str, precision: str = "fp32", package=None) -> tuple[str, str]:
    """``(backend, precision)`` to run, ``auto`` resolved on either side.

    ``auto`` backend: the fastest available one that runs ``precision`` (any, for ``auto``).
    ``auto`` precision: the backend's fastest precision that ``package``'s quality guard trusts
    (``fp32`` when there is no package or no passing record). An explicit precision is obeyed.
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose auto or one of: {', '.join(PRECISIONS)}")
    if name == "auto":
        names = [b for b in available_backends() if precision == "auto" or precision in precisions(b)]
        if not names:
            raise UserError(f"no backend here runs {precision}; available: {', '.join(available_backends())}")
        name = names[0]
    reason = unavailable(name)
    if reason:
        raise UserError(f"backend {name!r} is not available: {reason}")
    supported = precisions(name)
    if precision == "auto":
        return name, next(p for p in supported if p == "fp32" or (package is not None and trusted(package, name, p)))
    if precision not in supported:
        raise UserError(f"backend {name!r} runs {', '.join(supported)} here, not {precision}")
    return name, precision


def create(name: str, package, batch: int, precision: str = "fp32", max_memory: int = DEFAULT_MAX_MEMORY):
    """Build backend ``name`` (already resolved) for ``package``, batches of up to ``batch`` frames.

    First the graph rules at ``batch`` (:mod:`..graph_rules`) and the memory estimate against
    ``max_memory`` bytes: no session exists for a graph that fails them.
    """
    facts = package.graph_facts if batch == 1 else package.check_graph(batch)
    check_memory(package.memory_estimate(facts), max_memory, f"decoding {package.path} at batch {batch}")
    return _module(name).create(package, batch, name, precision)
