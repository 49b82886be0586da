"""Model families. Importing this package registers every family with the registry."""

from . import (
    cf_nerv,  # noqa: F401
    hfe_hnerv,  # noqa: F401
    hfs_hnerv,  # noqa: F401
    hnerv,  # noqa: F401
    snerv,  # noqa: F401
    snerv_t,  # noqa: F401
)
