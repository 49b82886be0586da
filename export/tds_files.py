"""``tds.pt``: the coded base streams of one video plus its enhancer (or the hash of a shared one).

Written with ``torch.save`` and read with ``torch.load(weights_only=True)``: tensors and plain values::

    {"format": "nervkit-tds", "version": 1, "model": "tds" | "test-tds",
     "gop": N, "scale": k, "base": "x265" | "x264", "crf": c,
     "video": {num_frames, height, width, fps, source},
     "streams": {"key": uint8 tensor (HR key-frame bitstream), "lr": uint8 tensor (LR bitstream)},
     "enhancer": {"config": {...EnhancerConfig...}, "state_dict": {...}, "shared": bool, "sha256": hex},
     "train": {...settings, history, seconds...} | None, "metrics": {...}}

``enhancer.shared`` marks an enhancer trained elsewhere (``--enhancer FILE``): a decoder-side
component whose weights a package names by ``sha256`` instead of storing them. The hash is over the
canonical serialisation of the config and the float32 weights (:func:`enhancer_sha256`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..runtime.atomic import atomic_open
from ..runtime.errors import UserError
from ..runtime.gop import GopLayout
from ..trainer.checkpoint import read_checkpoint
from ..trainer.errors import TrainerError
from ..trainer.tds.enhancer import Enhancer, EnhancerConfig
from .files import refuse_package
from .tds_streams import Streams, make_layout

FORMAT, VERSION = "nervkit-tds", 1


@dataclass
class TDSCheckpoint:
    model: str
    streams: Streams
    fps: float
    enhancer: Enhancer
    shared: bool
    train: dict | None
    metrics: dict


def enhancer_sha256(enhancer: Enhancer) -> str:
    """Hash of the enhancer's config (sorted JSON) and its float32 weights in ``state_dict`` order."""
    h = hashlib.sha256(json.dumps(asdict(enhancer.config), sort_keys=True).encode())
    for name, t in enhancer.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.detach().float().cpu().numpy()).tobytes())
    return h.hexdigest()


def save(path, ck: TDSCheckpoint) -> None:
    s, lay = ck.streams, ck.streams.layout
    obj = {"format": FORMAT, "version": VERSION, "model": ck.model, "gop": lay.gop, "scale": lay.scale,
           "base": s.base, "crf": s.crf,
           "video": {"num_frames": lay.num_frames, "height": s.height, "width": s.width, "fps": ck.fps},
           "streams": {k: torch.frombuffer(bytearray(v), dtype=torch.uint8) for k, v in
                       (("key", s.key), ("lr", s.lr))},
           "enhancer": {"config": asdict(ck.enhancer.config), "shared": ck.shared,
                        "sha256": enhancer_sha256(ck.enhancer),
                        "state_dict": {k: v.detach().cpu() for k, v in ck.enhancer.state_dict().items()}},
           "train": ck.train, "metrics": ck.metrics}
    with atomic_open(path) as f:
        torch.save(obj, f)


def is_tds(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load(path, obj: dict | None = None) -> TDSCheckpoint:
    """Read ``path`` (or take ``obj``, its already read content)."""
    refuse_package(path)
    obj = read_checkpoint(path) if obj is None else obj
    if not is_tds(obj):
        raise UserError(f"{path}: not a nervkit TDS checkpoint (tds.pt)")
    if obj.get("version") != VERSION:
        raise UserError(f"{path}: tds.pt version {obj.get('version')} is not supported (want {VERSION})")
    try:
        v = obj["video"]
        lay: GopLayout = make_layout(v["num_frames"], v["height"], v["width"], obj["gop"], obj["scale"])
        streams = Streams(lay, obj["base"], obj["crf"], v["height"], v["width"],
                          bytes(obj["streams"]["key"].numpy()), bytes(obj["streams"]["lr"].numpy()))
        enhancer = Enhancer(EnhancerConfig(**obj["enhancer"]["config"]))
        enhancer.load_state_dict(obj["enhancer"]["state_dict"])
        return TDSCheckpoint(obj["model"], streams, v["fps"], enhancer.eval(), obj["enhancer"]["shared"],
                             obj.get("train"), obj.get("metrics", {}))
    except (UserError, TrainerError):
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise UserError(f"{path}: damaged tds.pt ({str(err).splitlines()[0][:200]})") from None
