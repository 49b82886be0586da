"""The trainer library's one error type for bad input.

The trainer imports none of nervkit's other layers (GUIDE: ``trainer ->`` none of ours), so it cannot
raise the runtime's ``UserError``; the command-line tools, which sit above both, report a
:class:`TrainerError` exactly as they report a ``UserError``: one line, exit status 2.
"""


class TrainerError(ValueError):
    """Bad input to the trainer: an unknown family, an impossible budget or config, a damaged checkpoint."""
