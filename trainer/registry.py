"""One registry of model families keyed by canonical names (timm's ``@register_model``).

Every family registers its real name (``hnerv``, ``snerv`` ...) and a tiny ``test-*`` variant that
trains in seconds on a CPU. A registered entry knows how to turn a video geometry and a parameter
budget into the family's typed config (the model class's ``for_video``, or ``tiny_config`` for a test
variant), and how to build the model from that config.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import TrainerError


@dataclass(frozen=True)
class ModelSpec:
    """A registered family variant."""

    name: str
    """Canonical name used by ``--model`` and stored in ``model.pt``."""
    model_cls: type
    """The ``NeRVModel`` subclass; it is built as ``model_cls(config)``."""
    make_config: Callable[..., Any]
    """``make_config(frame_hw=(H, W), num_frames=N, size=MPARAMS or None) -> config``."""
    default_size: float | None
    """Parameter budget in millions used when ``--size`` is not given (``None``: fixed tiny size)."""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, tiny: dict | None = None):
    """Class decorator: register ``cls`` under ``name``.

    The config comes from ``cls.for_video`` (budget 1.5M unless ``--size``); a ``test-*`` variant passes
    ``tiny`` (possibly empty: the fields its ``cls.tiny_config`` overrides) and has a fixed tiny size.
    """

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        if tiny is None:
            _REGISTRY[name] = ModelSpec(name, cls, cls.for_video, 1.5)
        else:
            _REGISTRY[name] = ModelSpec(name, cls, functools.partial(cls.tiny_config, **tiny), None)
        return cls

    return wrap


def _load_families() -> None:
    # Importing the families package runs every @register_model.
    from . import families  # noqa: F401


def model_names() -> list[str]:
    """All registered names, real families first."""
    _load_families()
    return sorted(_REGISTRY, key=lambda n: (n.startswith("test-"), n))


def get_spec(name: str) -> ModelSpec:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise TrainerError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}") from None


def create_model(name: str, frame_hw: tuple[int, int], num_frames: int, size: float | None = None):
    """Build a fresh model of family ``name`` for frames of ``frame_hw`` = (H, W) pixels.

    ``size`` is the parameter budget in millions (decoder plus embeddings, the papers' convention).
    """
    spec = get_spec(name)
    if size is None:
        size = spec.default_size
    config = spec.make_config(frame_hw=tuple(frame_hw), num_frames=num_frames, size=size)
    model = spec.model_cls(config)
    model.name = name
    return model


def config_to_dict(config: Any) -> dict:
    """Plain JSON-able dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def model_from_config(name: str, config: dict, max_values: int | None = None):
    """Rebuild a model from the plain dict saved in ``model.pt`` (or a package's manifest).

    ``max_values``: the most parameters and buffers the config may describe (an untrusted file's config
    is first built on the meta device, which allocates nothing, and refused above it).
    """
    spec = get_spec(name)
    fields = {f.name for f in dataclasses.fields(spec.model_cls.config_cls)}
    unknown = set(config) - fields
    if unknown:
        raise TrainerError(f"model config for {name!r} has unknown fields: {', '.join(sorted(unknown))}")
    if max_values is not None:
        import torch

        with torch.device("meta"):
            probe = spec.model_cls(spec.model_cls.config_cls(**config))
        count = sum(t.numel() for t in probe.state_dict().values())
        if count > max_values:
            raise TrainerError(f"model config for {name!r} describes {count:,} values, more than the "
                            f"{max_values:,} its file holds")
    model = spec.model_cls(spec.model_cls.config_cls(**config))
    model.name = name
    return model
