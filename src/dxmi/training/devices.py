"""One device check for every entry point: a ``torch.device`` or a one-line ``ValueError``."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device, label: str = "device") -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``) as a ``torch.device`` this machine can use.

    Raises ``ValueError`` (one line, starting ``{label} {name!r}``) for a name torch does not parse,
    a type other than cpu / cuda, CUDA on a machine without it, or a CUDA index past the last GPU.
    """
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{label} {str(name)!r} is not a device (try cpu, cuda, cuda:1)") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{label} {str(name)!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{label} {str(name)!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ValueError(f"{label} {str(name)!r}: only cpu and cuda are supported")
    return device
