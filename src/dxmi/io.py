"""Reading and writing files: the one place where a file the package reads (a config, a checkpoint, a data array,
a run's metadata) is opened and parsed.

Every reader here checks the path first (missing: ``FileNotFoundError``; a directory, an empty
file, not a regular file: :class:`FileFormatError`) and turns whatever the parser raises (a truncated
safetensors file, malformed YAML or JSON, a 0-byte or corrupt ``.npy``, bad text encoding) into a
:class:`FileFormatError` whose message is one line naming the file and the problem. Arrays must be
real: a complex array is an error rather than silently losing its imaginary part.

The CLI prints these errors as one line (``dxmi: error: ...``), without a traceback.

Writes are atomic (:func:`atomic_write`, :func:`write_text_atomic`): a file the package writes is
either complete or absent, never half-written. The settings files of a run folder (``config.yaml``,
``vgs.yaml``) are written by :func:`settings_yaml` between a first and a last comment line, so that one
cut short later (a copy that stopped, a full disk) is an error when read, not other settings.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FileFormatError",
    "atomic_write",
    "check_file",
    "load_npy",
    "load_npz",
    "load_safetensors",
    "load_torch",
    "read_json",
    "read_text",
    "read_yaml",
    "reading",
    "remove_stale_tmp",
    "safetensors_metadata",
    "settings_yaml",
    "shorten",
    "summarise_values",
    "write_text_atomic",
]

#: the longest problem text quoted from a parser in one error message
MAX_PROBLEM = 240


class FileFormatError(ValueError):
    """A file exists but cannot be used: a directory, empty, truncated, malformed or of the wrong kind."""


def shorten(text: str, limit: int = MAX_PROBLEM) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with '...'."""
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: max(limit - 3, 0)] + "..."


def summarise_values(values: Sequence[Any] | np.ndarray | Any, head: int = 4, tail: int = 2) -> str:
    """A list of numbers for an error message: all of them when short, else the first ``head``, the
    last ``tail`` and the count (a 1000-step table must not make a 20 KB message)."""
    try:
        items = np.asarray(values).reshape(-1).tolist()
    except (TypeError, ValueError):
        return shorten(repr(values))
    fmt = [f"{v:.6g}" if isinstance(v, float) else repr(v) for v in items]
    if len(fmt) <= head + tail + 1:
        return "[" + ", ".join(fmt) + "]"
    return "[" + ", ".join(fmt[:head]) + ", ..., " + ", ".join(fmt[-tail:]) + f"] ({len(fmt)} values)"


def _problem(e: BaseException) -> str:
    mark = getattr(e, "problem_mark", None)
    if mark is not None and getattr(e, "problem", None):  # a YAML syntax error: say where
        return f"malformed YAML: {e.problem} (line {mark.line + 1}, column {mark.column + 1})"  # type: ignore[attr-defined]
    if isinstance(e, json.JSONDecodeError):
        return f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})"
    if isinstance(e, EOFError):
        return f"the file ends too early (truncated?): {shorten(str(e)) or 'no data'}"
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text (byte {e.start})"
    return shorten(str(e)) or type(e).__name__


def check_file(path: str | os.PathLike[str], what: str = "file", allow_empty: bool = False) -> Path:
    """``path`` as a Path after checking that it is a regular, (by default) non-empty file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, expected a {what} file")
    if not p.is_file():
        raise FileFormatError(f"{p}: not a regular file (expected a {what} file)")
    if not allow_empty and p.stat().st_size == 0:
        raise FileFormatError(f"{p}: the {what} file is empty (0 bytes)")
    return p


@contextmanager
def reading(path: str | os.PathLike[str], what: str = "file", allow_empty: bool = False) -> Iterator[Path]:
    """``with reading(path, "checkpoint") as p: <parse p>``: checks the path, and any exception the
    parsing raises becomes a one-line :class:`FileFormatError` naming the file (keep the block to
    the parsing itself)."""
    p = check_file(path, what, allow_empty)
    try:
        yield p
    except (FileFormatError, FileNotFoundError):
        raise
    except Exception as e:  # the parsers' errors are of many types (SafetensorError, YAMLError, EOFError...)
        raise FileFormatError(f"{p}: not a readable {what} ({_problem(e)})") from e


def read_text(path: str | os.PathLike[str], what: str = "text", allow_empty: bool = True) -> str:
    with reading(path, what, allow_empty) as p:
        return p.read_text(encoding="utf-8")


#: the first and last lines of a settings file written by :func:`settings_yaml`
SETTINGS_HEADER = "# dxmi settings; the last line, '# end', shows that the file is complete\n"
SETTINGS_END = "# end"


def settings_yaml(data: Any) -> str:
    """``data`` as the YAML text of a settings file: the header line, the settings, the end line."""
    import yaml

    return SETTINGS_HEADER + yaml.safe_dump(data, sort_keys=False) + SETTINGS_END + "\n"


def read_yaml(path: str | os.PathLike[str], what: str = "YAML") -> Any:
    """The parsed YAML document (None for an empty file). A settings file written by
    :func:`settings_yaml` must hold its last line: one cut short is a :class:`FileFormatError`."""
    import yaml

    text = read_text(path, what)
    if text and (text.startswith(SETTINGS_HEADER) or SETTINGS_HEADER.startswith(text)):
        lines = text.rstrip().splitlines()
        if len(lines) < 2 or lines[-1] != SETTINGS_END:
            raise FileFormatError(f"{path}: the {what} file is cut short (its last line {SETTINGS_END!r} is missing)")
    with reading(path, what, allow_empty=True):
        return yaml.safe_load(text)


def read_json(path: str | os.PathLike[str], what: str = "JSON") -> Any:
    text = read_text(path, what, allow_empty=False)
    with reading(path, what):
        return json.loads(text)


def _real(arr: np.ndarray, p: Path, what: str, key: str | None = None) -> np.ndarray:
    where = f"{p}[{key}]" if key else str(p)
    if np.iscomplexobj(arr):
        raise FileFormatError(f"{where}: the {what} holds complex values (dtype {arr.dtype}); the data must be "
                              f"real (save np.real(...) or the real and imaginary parts as columns)")
    if arr.dtype.kind not in "biuf":
        raise FileFormatError(f"{where}: the {what} must be numeric, got dtype {arr.dtype}")
    return arr


def load_npy(path: str | os.PathLike[str], what: str = "array") -> np.ndarray:
    """A real numeric array from a ``.npy`` file (no pickles)."""
    with reading(path, what) as p:
        arr = np.asarray(np.load(p, allow_pickle=False))
    return _real(arr, p, what)


def load_npz(path: str | os.PathLike[str], what: str = "archive") -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` archive, read now (real numeric arrays; no pickles)."""
    with reading(path, what) as p, np.load(p, allow_pickle=False) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    return {k: _real(a, p, what, k) for k, a in arrays.items()}


def load_safetensors(path: str | os.PathLike[str], what: str = "safetensors file",
                     device: str = "cpu") -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of a safetensors file."""
    from safetensors import safe_open

    with reading(path, what) as p, safe_open(str(p), framework="pt", device=str(device)) as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, meta


def safetensors_metadata(path: str | os.PathLike[str], what: str = "safetensors file") -> dict[str, str]:
    """The metadata of a safetensors file (its tensors are not read)."""
    from safetensors import safe_open

    with reading(path, what) as p, safe_open(str(p), framework="pt", device="cpu") as f:
        return dict(f.metadata() or {})


def load_torch(path: str | os.PathLike[str], what: str = "torch file") -> Any:
    """``torch.load`` of tensors and plain containers only (``weights_only``: no code runs)."""
    import torch

    with reading(path, what) as p:
        return torch.load(p, map_location="cpu", weights_only=True)


# -- writing -----------------------------------------------------------------------------------------
def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_tmp(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files ``.<name>.*.tmp`` that an interrupted atomic write of ``path`` left
    in its folder (a kill between the write and the rename); returns what was removed. Writes of one
    target are sequential (one process saves a run's checkpoints), so any such file is stale."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for tmp in path.parent.glob(f"{glob.escape(_tmp_prefix(path))}*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Write ``path`` all or nothing: ``write(tmp)`` fills a temporary file in the same folder, which
    is synced and renamed over ``path`` (a kill mid-write leaves the old file, or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path), suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """``path`` holds ``text``, written atomically (:func:`atomic_write`)."""
    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(Path(path), w)
