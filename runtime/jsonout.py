"""``--json FILE`` output shared by the CLIs: ``-`` is stdout, a path is written atomically."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def write_json(target: str, obj) -> None:
    text = json.dumps(obj, indent=2, default=float) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
