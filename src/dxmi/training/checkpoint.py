"""Checkpoints as one safetensors file: every tensor of a nested state under a flat key, every
other leaf (ints, floats, strings, lists, dicts of those) as JSON in the file's metadata.

Writes are atomic: the file is written to a temporary name in the same folder, fsynced and then
renamed over the target, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

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


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save a nested state (modules, optimisers, generator states, counters) atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, Tensor] = {}
    skeleton = _flatten(state, "", tensors)
    meta = {"dxmi_state": json.dumps(skeleton)}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    tensors: dict[str, Tensor] = {}
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    if "dxmi_state" not in meta:
        raise ValueError(f"{path} is a safetensors file but not a dxmi checkpoint (no 'dxmi_state' metadata)")
    return _unflatten(json.loads(meta["dxmi_state"]), tensors)


def write_text_atomic(path: str | Path, text: str) -> None:
    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    _atomic_write(Path(path), w)


class CheckpointManager:
    """``last.safetensors`` (overwritten atomically) plus optional numbered copies."""

    def __init__(self, folder: str | Path, keep_numbered: bool = False):
        self.folder = Path(folder)
        self.keep_numbered = keep_numbered

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
