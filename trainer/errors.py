"""The one exception type that means "the user gave us bad input"."""


class UserError(Exception):
    """Bad arguments or unreadable/invalid input.

    Command-line tools print ``str(err)`` as one line and exit with status 2; anything else that
    escapes is an internal error (status 1).
    """
