"""Groups of pictures and the frame-recurrent order of Algorithm 1 (paper 003, Sec. 3.2-3.3), torch-free.

A video is cut into consecutive, non-overlapping groups of ``N`` frames (``N`` odd, at least 3), as the
paper's data preparation splits each sequence into N-frame segments (Sec. 4.1). Inside a group the first
and last frames are *key* frames, coded at full resolution (HR); the ``N - 2`` frames between are
bicubic-down-sampled by ``scale`` (2 or 4) and coded as a separate low-resolution (LR) stream. Frames
left over after the last whole group (fewer than ``N``) are coded as key frames: the paper is silent on
a tail, and this keeps every frame decodable without a partial group.

Algorithm 1 (0-based indices here; the paper counts from 1): with ``mid = (N - 1) // 2``

1. ``E[mid] = G(H[0], L[mid], H[N-1])``: the middle frame from both HR boundary frames;
2. ``E[i] = G(H[0], L[i], E[mid])`` for ``i = 1 .. mid-1``;
3. ``E[i] = G(E[mid], L[i], H[N-1])`` for ``i = mid+1 .. N-2``.

The enhancer ``G`` always takes its three frames in temporal order (earlier reference, target, later
reference), so each step is stored as ``(target, earlier, later)``. The trainer (training, eager
enhancement) and the runtime's decode plan (:mod:`.plan`) both take the order from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError

SCALES = (2, 4)
"""Down-sampling factors of the LR frames the paper trains and evaluates."""


@dataclass(frozen=True)
class Step:
    """One application of the enhancer: ``E[target] = G(F[earlier], L[target], F[later])``.

    ``earlier`` / ``later`` are indices in the group; index 0 and ``N - 1`` are the decoded HR key
    frames, any other index is an already enhanced frame.
    """

    target: int
    earlier: int
    later: int


def frame_plan(n: int) -> list[Step]:
    """Algorithm 1 for a group of ``n`` frames: the enhancer steps in execution order."""
    check_gop(n)
    last, mid = n - 1, (n - 1) // 2
    steps = [Step(mid, 0, last)]
    steps += [Step(i, 0, mid) for i in range(1, mid)]
    steps += [Step(i, mid, last) for i in range(mid + 1, last)]
    return steps


def check_gop(n: int) -> None:
    """``n`` must be an odd integer of at least 3 (a group needs two key frames and a middle)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 3 or n % 2 == 0:
        raise UserError(f"--gop {n!r}: a group of pictures must be an odd number of frames, at least 3")


def check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise UserError(f"--scale {scale!r}: the down-sampling factor must be one of {', '.join(map(str, SCALES))}")


@dataclass(frozen=True)
class GopLayout:
    """Which frames of a ``num_frames`` video are key (HR) frames and which are down-sampled (LR)."""

    num_frames: int
    gop: int
    scale: int

    @property
    def groups(self) -> int:
        """Number of whole groups; frames after ``groups * gop`` are all key frames."""
        return self.num_frames // self.gop

    def group_of(self, frame: int) -> int | None:
        """The group holding ``frame``, or ``None`` for a tail key frame."""
        g = frame // self.gop
        return g if g < self.groups else None

    def is_key(self, frame: int) -> bool:
        g = self.group_of(frame)
        return g is None or frame % self.gop in (0, self.gop - 1)

    def key_frames(self) -> list[int]:
        """Frames of the HR stream, in display order."""
        return [f for f in range(self.num_frames) if self.is_key(f)]

    def lr_frames(self) -> list[int]:
        """Frames of the LR stream, in display order."""
        return [f for f in range(self.num_frames) if not self.is_key(f)]
