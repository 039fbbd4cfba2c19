"""Checkpoints as one safetensors file: every tensor of a nested state under a flat key, every
other leaf (ints, floats, strings, lists, dicts of those) as JSON in the file's metadata.

Writes are atomic: the file is written to a temporary name in the same folder, fsynced and then
renamed over the target, so an interrupted save never leaves a half-written checkpoint. The
temporary file a killed save leaves behind is removed by the next save of the same file (and when
a :class:`CheckpointManager` opens the folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dxmi.io import (  # noqa: F401 - the atomic writes live in dxmi.io; re-exported
    FileFormatError,
    atomic_write,
    load_safetensors,
    reading,
    remove_stale_tmp,
    safetensors_metadata,
    shorten,
    write_text_atomic,
)

_TENSOR = "__tensor__"


def _flatten(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Replace tensors by references ``{"__tensor__": key}``; return the JSON-able skeleton."""
    if isinstance(obj, Tensor):
        key = prefix or "root"
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            ks = str(k)
            if "/" in ks:
                raise ValueError(f"checkpoint keys may not contain '/': {ks!r}")
            out[ks] = _flatten(v, f"{prefix}/{ks}" if prefix else ks, tensors)
        # remember non-string keys (optimizer state uses ints)
        if any(not isinstance(k, str) for k in obj):
            out["__int_keys__"] = [str(k) for k in obj if isinstance(k, int)]
        return out
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def _unflatten(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        int_keys = set(obj.get("__int_keys__", []))
        return {(int(k) if k in int_keys else k): _unflatten(v, tensors)
                for k, v in obj.items() if k != "__int_keys__"}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save a nested state (modules, optimisers, generator states, counters) atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, Tensor] = {}
    skeleton = _flatten(state, "", tensors)
    meta = {"dxmi_state": json.dumps(skeleton)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The nested state saved by :func:`save_checkpoint`. A missing file is ``FileNotFoundError``; a
    directory, an empty, truncated or corrupt file, or a safetensors file that is not a dxmi checkpoint
    is a one-line :class:`~dxmi.io.FileFormatError` naming the file."""
    path = Path(path)
    tensors, meta = load_safetensors(path, "checkpoint", device=str(device))
    if "dxmi_state" not in meta:
        raise FileFormatError(f"{path} is a safetensors file but not a dxmi checkpoint (no 'dxmi_state' metadata)")
    with reading(path, "checkpoint"):
        return _unflatten(json.loads(meta["dxmi_state"]), tensors)


def checkpoint_step(path: str | Path) -> int | None:
    """The ``step`` a Trainer checkpoint was written at, read from its metadata alone (None when the
    file holds no step)."""
    path = Path(path)
    meta = safetensors_metadata(path, "checkpoint")
    with reading(path, "checkpoint"):
        step = json.loads(meta.get("dxmi_state", "{}")).get("step")
    return int(step) if isinstance(step, int) else None


class CheckpointMismatchError(ValueError):
    """A checkpoint's state does not fit the model built from the current settings."""


def _mismatch_detail(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if isinstance(e, KeyError):
        return f"no entry {e}"
    # torch: "Error(s) in loading state_dict for X:" then one line per problem; the first says what
    detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else (lines[0] if lines else "")
    return shorten(detail.replace("torch.Size(", "(").rstrip("."), 200) or type(e).__name__


def restore_state(target: Any, state: Any, path: str | Path, what: str = "checkpoint") -> None:
    """``target.load_state_dict(state)`` for a state read from ``path``; a state that does not fit
    (other sizes, missing or extra entries: the settings changed since it was written, e.g. a
    ``config.yaml`` edited to another ``sampler.num_steps``) is a one-line
    :class:`CheckpointMismatchError` naming the file and the first difference."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, IndexError, TypeError) as e:
        raise CheckpointMismatchError(
            f"{path}: the {what} does not fit the model built from the current settings ({_mismatch_detail(e)}); "
            f"were the settings (config.yaml or --set) changed after it was written? Use the settings it was "
            f"written with, or start over (--no-resume, or a new run folder)") from None


class CheckpointManager:
    """``last.safetensors`` (overwritten atomically) plus optional numbered copies."""

    def __init__(self, folder: str | Path, keep_numbered: bool = False):
        self.folder = Path(folder)
        self.keep_numbered = keep_numbered
        remove_stale_tmp(self.last)  # left by a run killed while saving (each save cleans up too)

    @property
    def last(self) -> Path:
        return self.folder / "last.safetensors"

    def save(self, state: dict[str, Any], step: int) -> Path:
        p = save_checkpoint(self.last, state)
        if self.keep_numbered:
            save_checkpoint(self.folder / f"step_{step:08d}.safetensors", state)
        return p

    def exists(self) -> bool:
        return self.last.is_file()

    def load(self, device: str | torch.device = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.last, device)


def load_module_from_checkpoint(module: torch.nn.Module, path: str | Path,
                                key: str = "algorithm/modules/model") -> torch.nn.Module:
    """Load one module's weights out of a dxmi checkpoint into ``module`` (same architecture).

    ``key`` is the '/'-separated path of the module's state inside the checkpoint: the default is
    the base model of a ``dxmi pretrain`` run; ``algorithm/modules/policy`` is a trained sampler;
    ``""`` takes the whole file as the state dict (a file written by
    ``save_checkpoint(path, module.state_dict())``).
    """
    state: Any = load_checkpoint(path)
    walked: list[str] = []
    for part in [p for p in key.split("/") if p]:
        if not isinstance(state, dict) or part not in state:
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{path}: no entry {part!r} under {'/'.join(walked) or 'the root'} (has {have})")
        state = state[part]
        walked.append(part)
    module.load_state_dict(state)
    return module
