"""Matplotlib for the ``--plot`` outputs of nerv-bench and nerv-rd: imported lazily, saved atomically."""

from __future__ import annotations

from pathlib import Path

from nervkit.runtime.atomic import AtomicOutput, check_writable
from nervkit.runtime.errors import UserError

FORMATS = (".png", ".svg", ".pdf")
"""What ``--plot`` writes (matplotlib's format follows the extension)."""


def check_target(path: str | None) -> None:
    """Refuse a ``--plot`` file of an unknown kind, or one that cannot be written, before the long work."""
    if path is None:
        return
    if Path(path).suffix.lower() not in FORMATS:
        raise UserError(f"--plot {path}: use a {', '.join(FORMATS)} file")
    check_writable(path)


def pyplot(flag: str = "--plot"):
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or a UserError naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(f"{flag} needs matplotlib: pip install 'nervkit[plot]'") from None
    return plt


def save(fig, path: str, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` (format from its extension) through :class:`AtomicOutput`; close it."""
    try:
        with AtomicOutput(path) as out:
            fig.savefig(out.path, dpi=dpi, format=Path(path).suffix[1:].lower())
    finally:
        pyplot().close(fig)
