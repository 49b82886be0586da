"""Model families. Importing this package registers every family with the registry."""

from . import (
    hfe_hnerv,  # noqa: F401
    hnerv,  # noqa: F401
    snerv,  # noqa: F401
)
