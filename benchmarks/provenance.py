"""Where a benchmark result came from: every result JSON names the command and the commit that made it.

Each script in ``benchmarks/`` writes its result with :func:`write_json` (or adds :func:`made_by` to a file it
writes otherwise), so every file carries ``"command"`` (``python benchmarks/<script> ARGS``) and ``"commit"``
(the short git hash, null outside a checkout); ``benchmarks/report.py`` reads these two fields for the
results page. The scripts run as ``python benchmarks/<script>``, so this folder is on ``sys.path`` and they
import ``from provenance import made_by, write_json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit() -> str | None:
    """The short hash of the checkout's HEAD (None outside a git checkout): stored with every result."""
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (r.stdout.strip() or None) if r.returncode == 0 else None


def made_by(script: str, argv: list[str] | None) -> dict[str, str | None]:
    """The command (``python benchmarks/<script> ARGS``; ARGS are ``sys.argv[1:]`` where ``argv`` is None)
    and the commit that make a result, stored with it."""
    args = sys.argv[1:] if argv is None else argv
    return {"command": " ".join(["python", f"benchmarks/{script}", *args]), "commit": git_commit()}


def write_json(path: str | os.PathLike[str], payload: dict[str, Any], script: str, argv: list[str] | None) -> Path:
    """Write ``payload`` plus :func:`made_by` to ``path`` as indented JSON and return the path.

    The parent folder is made if missing. The file is written to a temporary file beside it and then
    renamed over it, so an interrupted run leaves the last complete file (or none), never half of one.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**payload, **made_by(script, argv)}, indent=2) + "\n"
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
