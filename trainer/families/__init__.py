"""Model families. Importing this package registers every family with the registry."""

from . import (
    hnerv,  # noqa: F401
    snerv,  # noqa: F401
)
