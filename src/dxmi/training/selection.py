"""Checkpoint selection on a held-out proxy: the trained sampler is the best state seen, not the last.

A minimax game such as DxMI's can drift past its best sampler (the energy keeps moving after the
policy is good). :class:`BestCheckpoint` scores the algorithm every ``every`` iterations (and once
before the first update, so a start that training only degrades is kept) with a *validation* score
(lower is better: samples from a validation seed against a held-out reference, never the data of a
reported figure) and keeps the best state in ``best.safetensors`` beside the loop's
``last.safetensors``, in the same checkpoint format::

    {"algorithm": Algorithm.state_dict(), "step": int, "score": float}

It is the Trainer's ``callback``; a resumed run reads the best score so far back from the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from dxmi.algorithms.base import Algorithm
from dxmi.records import Metrics
from dxmi.training.checkpoint import load_checkpoint, restore_state, save_checkpoint

BEST_NAME = "best.safetensors"


class BestCheckpoint:
    """``score(algorithm) -> float`` (lower is better) at each call; the best state is saved.

    ``is_main``: only this process writes (under torchrun every rank scores the same, synchronised
    policy, so every rank takes the same decision)."""

    def __init__(self, folder: str | Path, score: Callable[[Algorithm], float], is_main: bool = True):
        self.path = Path(folder) / BEST_NAME
        self.score = score
        self.is_main = is_main
        self.best = math.inf
        self.best_step = -1
        if self.path.is_file():
            state = load_checkpoint(self.path)
            self.best, self.best_step = float(state["score"]), int(state["step"])

    def exists(self) -> bool:
        return self.path.is_file()

    def clear(self) -> None:
        """Forget the best state of an earlier run in the same folder."""
        if self.is_main:
            self.path.unlink(missing_ok=True)
        self.best, self.best_step = math.inf, -1

    def __call__(self, step: int, algorithm: Algorithm) -> Metrics:
        s = float(self.score(algorithm))
        if math.isfinite(s) and s < self.best:  # a non-finite score (diverged samples) never wins
            self.best, self.best_step = s, step
            if self.is_main:
                save_checkpoint(self.path, {"algorithm": algorithm.state_dict(), "step": step, "score": s})
        m = {"val_score": s}
        if math.isfinite(self.best):
            m.update(val_best=self.best, val_best_step=float(self.best_step))
        return Metrics(m)

    def restore(self, algorithm: Algorithm, device: str = "cpu") -> None:
        """Load the best state into ``algorithm`` (nothing when no state was kept)."""
        if self.path.is_file():
            restore_state(algorithm, load_checkpoint(self.path, device)["algorithm"], self.path)
