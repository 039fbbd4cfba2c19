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
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit() -> str | None:
    """The short hash of the checkout's HEAD (None outside a git checkout), with ``-dirty`` appended when
    ``src/`` or ``benchmarks/`` hold uncommitted changes (the code that ran is then not that commit's)."""
    root = Path(__file__).resolve().parents[1]
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                           timeout=10)
        if r.returncode != 0 or not r.stdout.strip():
            return None
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks"],
                                 cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() + ("-dirty" if changes.stdout.strip() else "")


#: the commit when the benchmark started (imported): a result written hours later names the code that ran,
#: not whatever was committed meanwhile
STARTED_AT = git_commit()


def made_by(script: str, argv: list[str] | None) -> dict[str, str | None]:
    """The command (``python benchmarks/<script> ARGS``; ARGS are ``sys.argv[1:]`` where ``argv`` is None)
    and the commit the run started from (:data:`STARTED_AT`), stored with its result."""
    args = sys.argv[1:] if argv is None else argv
    return {"command": shlex.join(["python", f"benchmarks/{script}", *args]), "commit": STARTED_AT}


def stamp_of(result: dict[str, Any]) -> dict[str, str | None]:
    """The command and commit stored in a result read back (for a file made from other results)."""
    return {"command": result.get("command"), "commit": result.get("commit")}


def write_json(path: str | os.PathLike[str], payload: dict[str, Any], script: str, argv: list[str] | None) -> Path:
    """Write ``payload`` plus :func:`made_by` to ``path`` as indented JSON and return the path.

    The parent folder is made if missing. The file is written to a temporary file beside it and then
    renamed over it, so an interrupted run leaves the last complete file (or none), never half of one.
    """
    out = Path(path)
    _write_atomic(out, json.dumps({**payload, **made_by(script, argv)}, indent=2) + "\n")
    return out


def _write_atomic(out: Path, text: str) -> None:
    """``text`` to ``out`` through a temporary file beside it and a rename (the parent folder is made)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def portable_command(command: str, out: str) -> str:
    """``command`` as a user types it to remake the file at ``out``: the value of ``--out`` becomes ``out``,
    and every other absolute path (a scratch run folder, a plot written elsewhere) becomes
    ``runs/<its last component>``. Nothing that changes a figure is touched: the rewritten arguments name
    only where files go."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if i > 0 and words[i - 1] == "--out":
            words[i] = out
        elif word.startswith("--out="):
            words[i] = f"--out={out}"
        elif word.startswith("/") and i > 0 and words[i - 1].startswith("--"):
            words[i] = f"runs/{Path(word).name}"
    if words and words[0].startswith("benchmarks/"):
        words.insert(0, "python")
    return shlex.join(words)


def publish(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Copy a result made in a scratch folder into ``results/``: ``src`` to ``dest`` with its ``command``
    rewritten by :func:`portable_command` (its commit and figures unchanged), plus the files a benchmark
    writes beside it (``<stem>.meta.json``, ``<stem>_<dataset>_samples.png``) under ``dest``'s stem. Returns the
    written paths. ``src`` may be ``dest`` (rewrites the command in place)."""
    src_p, dest_p = Path(src), Path(dest)
    written: list[Path] = []
    for s, d in [(src_p, dest_p), (src_p.with_name(f"{src_p.stem}.meta.json"),
                                   dest_p.with_name(f"{dest_p.stem}.meta.json"))]:
        if not s.is_file():
            if s is src_p:
                raise FileNotFoundError(f"publish: no result file {s}")
            continue
        data = json.loads(s.read_text())
        if not isinstance(data, dict) or "command" not in data:
            raise ValueError(f"publish: {s} holds no 'command': only benchmark results can be published")
        data["command"] = portable_command(str(data["command"]), dest_p.as_posix())
        _write_atomic(d, json.dumps(data, indent=2) + "\n")
        written.append(d)
    for png in sorted(src_p.parent.glob(f"{src_p.stem}_*_samples.png")):
        if "_" in png.name[len(src_p.stem) + 1: -len("_samples.png")]:
            continue  # <stem>_<other>_<dataset>_samples.png: the grid of another result with this prefix
        target = dest_p.with_name(dest_p.stem + png.name[len(src_p.stem):])
        if png.resolve() != target.resolve():
            shutil.copyfile(png, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Copy a benchmark result into results/ with a command a user can rerun "
                                            "(--out names the published file; scratch folders become runs/NAME).")
    sub = p.add_subparsers(dest="verb", required=True)
    pub = sub.add_parser("publish", help="copy SRC to DEST, rewriting the stored command (DEST may be SRC)")
    pub.add_argument("src")
    pub.add_argument("dest")
    args = p.parse_args(argv)
    for path in publish(args.src, args.dest):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
