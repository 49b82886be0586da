"""Decode plans (format 1.2): which run of the package's graph makes each frame, on which inputs.

The manifest's ``plan`` names one of two recipes (a 1.0/1.1 package, which has no ``plan``, is
``per-frame``):

- ``{"kind": "per-frame"}`` (every NeRV family): frame ``i`` is one graph run on frame ``i``'s own
  entropy-coded inputs (embeddings). Batches of frames are one run each; the next batch's inputs are
  entropy-decoded in a second thread while the graph runs.
- ``{"kind": "gop", "gop": N, "scale": k, "base": "x264"|"x265"|"nvpkg", "streams": {"key": SECTION, "lr":
  SECTION}[, "enhancer": {"sha256": HEX, "bytes": N}]}`` (temporal down-sampling, paper 003; with
  ``enhancer``, the graph's weights are in that shared enhancer file, not in the package): the two
  base-codec streams decode (PyAV, or nested per-frame packages: :mod:`.basecodec`) to the HR key
  frames and the LR frames, bicubic-up-sampled to full size; key frames are output as decoded; every
  other frame of a group is one run of the enhancer graph ``frames = G(earlier, target, later)`` in the
  order of Algorithm 1
  (:func:`.gop.frame_plan`), its references the decoded key frames or the already enhanced middle frame,
  clamped to [0, 1]. Runs that do not depend on each other (the middle frames of several groups; the
  other frames once their middle frame is done) are batched into one graph call. Decoding frame ``i``
  runs only the steps of its own group that ``i`` needs (the middle frame, then ``i``). The base streams
  are decoded whole, once, on first use (a standard codec's inter prediction reaches back to its last
  intra frame).

Plans take the backend's ``run(feeds) -> float32 [n, 3, H, W]``, ``run_final(feeds)`` (the output in
the caller's form: float, or uint8 RGB done inside the backend), ``finish(float frames)`` (the same
conversion for frames not made by a final graph run) and ``made``, the caller's dict of frames made by
earlier calls that later ones may reference (a ``gop`` plan keeps there the enhanced frames of the
groups it last decoded, so decoding a clip in consecutive calls never repeats a run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import numpy as np

from . import basecodec
from .errors import PackageError
from .gop import SCALES, GopLayout, Step, frame_plan

Run = Callable[[dict[str, np.ndarray]], np.ndarray]
ENHANCER_INPUTS = ("earlier", "target", "later")
"""Inputs of a ``gop`` plan's graph, each float32 ``[n, 3, H, W]`` in [0, 1]; output ``frames``."""


def _bad(msg: str) -> PackageError:
    return PackageError(f"invalid manifest: plan: {msg}")


class PerFramePlan:
    """Frame ``i`` = the graph on frame ``i``'s embeddings (every NeRV family)."""

    kind = "per-frame"
    graph_flavour = "per-frame"
    """The graph rules' flavour of the package graph (:data:`.graph_rules.FLAVOURS`)."""
    backends = None
    """Backends that run the graph (``None``: any)."""
    enhancer_ref = None
    """``{"sha256", "bytes"}`` of the shared enhancer file holding the graph's weights (``None``: the
    package holds them)."""
    embedded = True
    """The graph's inputs are the package's per-frame embeddings."""

    def graph_inputs(self, height: int, width: int) -> None:
        """The graph inputs this plan dictates (``None``: the manifest's embeddings define them)."""
        return None

    def resident_bytes(self, height: int, width: int) -> int:
        """Memory the plan itself holds while decoding, beyond a batch's inputs and outputs."""
        return 0

    def describe(self) -> str:
        """One line for ``nerv-info``."""
        return "per-frame: one graph run per frame, on its embeddings"

    def batches(self, package, run: Run, run_final: Run, finish, start: int, stop: int, batch: int,
                reader: Executor, made: dict) -> Iterator[np.ndarray]:
        bounds = [(a, min(a + batch, stop)) for a in range(start, stop, batch)]
        pending = reader.submit(package.embeddings, *bounds[0])
        for k in range(len(bounds)):
            feeds = pending.result()
            if k + 1 < len(bounds):
                pending = reader.submit(package.embeddings, *bounds[k + 1])
            yield run_final(feeds)


def _int(rec: dict, key: str, ok) -> int:
    value = rec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
        raise _bad(f"{key} = {value!r} is not allowed")
    return value


class GopPlan:
    """Algorithm 1 per group of pictures on two base-codec streams (see the module docstring)."""

    kind = "gop"
    graph_flavour = "enhancer"
    backends = ("ort-cuda", "ort-cpu")
    """ONNX ``DeformConv`` (opset 19) runs in ONNX Runtime; OpenVINO's frontend refuses it."""
    embedded = False

    def __init__(self, rec: dict, num_frames: int, sections: dict):
        gop = _int(rec, "gop", lambda n: 3 <= n <= num_frames and n % 2 == 1)
        scale = _int(rec, "scale", lambda s: s in SCALES)
        self.base = rec.get("base")
        bases = [*basecodec.BASES, basecodec.NESTED]
        if not isinstance(self.base, str) or self.base not in bases:
            raise _bad(f"base {self.base!r} is not one of {', '.join(bases)}")
        streams = rec.get("streams")
        if not isinstance(streams, dict) or set(streams) != {"key", "lr"} or any(
                not isinstance(s, str) or s not in sections for s in streams.values()):
            raise _bad("streams must name the 'key' and 'lr' sections")
        self.enhancer_ref = rec.get("enhancer")
        if self.enhancer_ref is not None and not (
                isinstance(self.enhancer_ref, dict) and set(self.enhancer_ref) == {"sha256", "bytes"}
                and isinstance(self.enhancer_ref["sha256"], str) and len(self.enhancer_ref["sha256"]) == 64
                and set(self.enhancer_ref["sha256"]) <= set("0123456789abcdef")
                and type(self.enhancer_ref["bytes"]) is int and self.enhancer_ref["bytes"] > 0):
            raise _bad("enhancer must be {\"sha256\": 64 hex digits, \"bytes\": a positive integer}")
        self.layout = GopLayout(num_frames, gop, scale)
        self.streams = streams
        self.steps: list[Step] = frame_plan(gop)
        self.waves = self._waves(self.steps)
        self._decoded: np.ndarray | None = None

    @staticmethod
    def _waves(steps: list[Step]) -> dict[int, int]:
        """Target -> wave: steps of one wave depend only on key frames and earlier waves."""
        wave: dict[int, int] = {}
        for s in steps:
            wave[s.target] = 1 + max((wave[r] for r in (s.earlier, s.later) if r in wave), default=-1)
        return wave

    def graph_inputs(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
        return {k: (3, height, width) for k in ENHANCER_INPUTS}

    def decode_base(self, package) -> np.ndarray:
        """All frames before enhancement, display order, ``uint8 [N, H, W, 3]``: both base streams
        decoded (each held to the frame count and coded size the layout gives), the LR frames
        bicubic-up-sampled. Not cached (``nerv-bench`` times it); :meth:`decoded` is."""
        lay, (h, w) = self.layout, (package.height, package.width)
        out = np.empty((lay.num_frames, h, w, 3), np.uint8)
        for name, frames, size, coded in (("key", lay.key_frames(), None, (h, w)),
                                          ("lr", lay.lr_frames(), (h, w), (h // lay.scale, w // lay.scale))):
            if frames:
                try:
                    out[frames] = basecodec.decode(package.section(self.streams[name]), self.base, size,
                                                   expect=(len(frames), *coded))
                except PackageError as err:
                    raise PackageError(f"{package.path}: section {self.streams[name]}: {err}") from None
        return out

    def decoded(self, package) -> np.ndarray:
        """:meth:`decode_base`, decoded once per package."""
        if self._decoded is None:
            self._decoded = self.decode_base(package)
        return self._decoded

    def resident_bytes(self, height: int, width: int) -> int:
        """Memory the plan holds while decoding: the decoded base frames (uint8) and the enhanced frames
        of two groups (float32) kept for later calls."""
        frame = 3 * height * width
        return self.layout.num_frames * frame + 2 * self.layout.gop * 4 * frame

    def describe(self) -> str:
        shared = "" if self.enhancer_ref is None else (
            f"; its weights in the shared enhancer file {self.enhancer_ref['sha256'][:16]}... "
            f"({self.enhancer_ref['bytes']:,} bytes)")
        return (f"gop: Algorithm 1 per group of {self.layout.gop} frames, scale {self.layout.scale}, base "
                f"{self.base} (sections {self.streams['key']}, {self.streams['lr']}); the enhancer graph runs "
                f"on {' or '.join(self.backends)}{shared}")

    def needs(self, frames: range) -> dict[int, Step]:
        """The enhancer steps (by target frame) that decoding ``frames`` runs: each non-key frame's own
        step and those of the frames it references, inside its group only."""
        lay, by_target = self.layout, {s.target: s for s in self.steps}
        todo, out = [f for f in frames if not lay.is_key(f)], {}
        while todo:
            f = todo.pop()
            if f in out:
                continue
            g0 = f - f % lay.gop
            step = by_target[f - g0]
            out[f] = step
            todo += [g0 + r for r in (step.earlier, step.later) if r in by_target]
        return out

    def batches(self, package, run: Run, run_final: Run, finish, start: int, stop: int, batch: int,
                reader: Executor, made: dict) -> Iterator[np.ndarray]:
        frames = self.decoded(package)
        gop, done = self.layout.gop, made

        def source(f: int) -> np.ndarray:
            if f in done:
                return np.clip(done[f], 0.0, 1.0)
            return frames[f].transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)

        for a in range(start, stop, batch):
            b = min(a + batch, stop)
            first, last = a - a % gop, (b - 1) - (b - 1) % gop + gop
            for f in [f for f in done if not first <= f < last]:  # keep only the groups of [a, b)
                del done[f]
            todo = {f: s for f, s in self.needs(range(a, b)).items() if f not in done}
            for wave in sorted({self.waves[s.target] for s in todo.values()}):
                items = sorted(f for f, s in todo.items() if self.waves[s.target] == wave)
                for i in range(0, len(items), batch):
                    chunk = items[i:i + batch]
                    g0 = [f - f % gop for f in chunk]
                    feeds = {"earlier": np.stack([source(g + todo[f].earlier) for f, g in zip(chunk, g0, strict=True)]),
                             "target": np.stack([source(f) for f in chunk]),
                             "later": np.stack([source(g + todo[f].later) for f, g in zip(chunk, g0, strict=True)])}
                    for f, y in zip(chunk, run(feeds), strict=True):
                        done[f] = y
            yield finish(np.stack([done[f] if f in done else source(f) for f in range(a, b)]))


def parse_plan(manifest: dict, num_frames: int, sections: dict) -> PerFramePlan | GopPlan:
    """The manifest's plan (absent in format 1.0/1.1: per-frame)."""
    rec = manifest.get("plan", {"kind": "per-frame"})
    kind = rec.get("kind") if isinstance(rec, dict) else None
    if kind == "per-frame":
        return PerFramePlan()
    if kind == "gop":
        return GopPlan(rec, num_frames, sections)
    raise _bad(f"kind {kind!r} is not 'per-frame' or 'gop'")
