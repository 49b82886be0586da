"""Frame ranges: ``--frames START:STOP`` as Python slice bounds over a package's frames."""

from __future__ import annotations

from nervkit.runtime.errors import UserError


def parse_frames(text: str | None, num_frames: int) -> range:
    """``"START:STOP"`` -> ``range`` of frame indices (0-based, STOP excluded, like a Python slice).

    Either bound may be empty (``":10"``, ``"5:"``) and negative bounds count from the end
    (``"-8:"`` is the last eight frames). ``None`` means every frame. An empty or out-of-bounds
    range is a user error, not an empty video.
    """
    if text is None:
        return range(num_frames)
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UserError(f"--frames {text!r}: expected START:STOP, e.g. 0:24 or 10: or -8:") from None
    for bound in (start, stop):
        if bound is not None and not -num_frames <= bound <= num_frames:
            raise UserError(f"--frames {text!r}: the package has frames 0..{num_frames - 1}")
    frames = range(num_frames)[slice(start, stop)]
    if not frames:
        raise UserError(f"--frames {text!r} selects no frame (the package has {num_frames})")
    return frames
