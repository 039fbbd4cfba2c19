"""Old command spellings, kept working as hidden aliases of the ``dxmi <app> <verb>`` grammar.

An alias is rewritten in ``argv`` before parsing (so ``dxmi --help`` never lists it): the old
first command is replaced by its new tokens and one note naming the new spelling goes to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

#: old ``dxmi`` command -> the tokens that replace it
RENAMED: dict[str, tuple[str, ...]] = {
    "vgs-train": ("vgs", "train"),
    "vgs-sample": ("vgs", "sample"),
    "vgs-evaluate": ("vgs", "evaluate"),
    "vgs-plot": ("vgs", "plot"),
    "mate-train": ("mate", "train"),
    "mate-evaluate": ("mate", "evaluate"),
}


def _command_index(argv: Sequence[str], valued: Sequence[str]) -> int | None:
    """Position of the first command token: skips options before it (and the value of each option in
    ``valued``, e.g. ``--threads 2``)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return None
        if token in valued:
            i += 2
            continue
        if not token.startswith("-"):
            return i
        i += 1
    return None


def rewrite(argv: Sequence[str], prog: str = "dxmi", renamed: Mapping[str, tuple[str, ...]] = RENAMED,
            valued: Sequence[str] = ("--threads",)) -> list[str]:
    """``argv`` with an old command spelling replaced by the new one; prints one line to stderr when
    it does (e.g. ``dxmi: `vgs-train` is now `dxmi vgs train```)."""
    argv = list(argv)
    i = _command_index(argv, valued)
    if i is None or argv[i] not in renamed:
        return argv
    new = renamed[argv[i]]
    print(f"{prog}: `{argv[i]}` is now `{' '.join((prog, *new))}`", file=sys.stderr)
    return [*argv[:i], *new, *argv[i + 1:]]
