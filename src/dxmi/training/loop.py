"""The training loop: the only place that knows about steps, devices, logging and checkpoints.

``Trainer.fit`` draws a data batch with its own generator, calls ``algorithm.update(batch)``,
logs, checkpoints every ``ckpt_every`` steps (algorithm state + data-generator state + step), and
resumes from the last checkpoint when one exists, so an interrupted and resumed run produces the
same result as an uninterrupted one (seeded, CPU). A non-finite metric stops the run with a clear
message; the last good checkpoint is kept untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from dxmi.algorithms.base import Algorithm
from dxmi.records import Metrics
from dxmi.training.checkpoint import CheckpointManager
from dxmi.training.loggers import make_loggers

BatchSource = Callable[[int, torch.Generator], Tensor]


class NonFiniteLossError(RuntimeError):
    pass


@dataclass(frozen=True)
class FitResult:
    steps: int
    last_metrics: Metrics
    checkpoint: Path
    resumed_from: int


class Trainer:
    def __init__(self, algorithm: Algorithm, data: BatchSource, batch_size: int, steps: int,
                 out_dir: str | Path, seed: int = 0, device: str | torch.device = "cpu",
                 log_every: int = 50, ckpt_every: int = 500, progress: bool = True,
                 tensorboard: bool = True, desc: str = "train",
                 callback: Callable[[int, Algorithm], Metrics | None] | None = None,
                 callback_every: int = 0, max_steps_this_call: int | None = None):
        if steps < 0 or batch_size < 1:
            raise ValueError(f"steps must be >= 0 and batch_size >= 1 (got {steps}, {batch_size})")
        self.algorithm = algorithm
        self.data = data
        self.batch_size = batch_size
        self.steps = steps
        self.out_dir = Path(out_dir)
        self.device = torch.device(device)
        self.data_generator = torch.Generator().manual_seed(seed)
        self.log_every = max(1, log_every)
        self.ckpt_every = ckpt_every
        self.progress = progress
        self.tensorboard = tensorboard
        self.desc = desc
        self.callback = callback
        self.callback_every = callback_every
        self.max_steps_this_call = max_steps_this_call
        self.ckpt = CheckpointManager(self.out_dir / "checkpoints")

    def state_dict(self, step: int) -> dict:
        return {"algorithm": self.algorithm.state_dict(), "data_generator": self.data_generator.get_state(),
                "step": step}

    def _resume(self) -> int:
        if not self.ckpt.exists():
            return 0
        state = self.ckpt.load(self.device)
        self.algorithm.load_state_dict(state["algorithm"])
        self.data_generator.set_state(state["data_generator"].cpu())
        return int(state["step"])

    def fit(self, resume: bool = True) -> FitResult:
        start = self._resume() if resume else 0
        loggers = make_loggers(self.out_dir, tensorboard=self.tensorboard, truncate_after=start)
        last = Metrics()
        end = self.steps if self.max_steps_this_call is None else min(self.steps, start + self.max_steps_this_call)
        bar = tqdm(range(start, end), initial=start, total=self.steps, desc=self.desc,
                   disable=not self.progress, dynamic_ncols=True, leave=False)
        try:
            for step in bar:
                batch = self.data(self.batch_size, self.data_generator).to(self.device)
                metrics = self.algorithm.update(batch)
                if not metrics.all_finite():
                    bad = {k: v for k, v in metrics.items() if not torch.isfinite(torch.tensor(v))}
                    raise NonFiniteLossError(
                        f"non-finite metrics at step {step + 1}: {bad}; stopped. The last good checkpoint "
                        f"({self.ckpt.last if self.ckpt.exists() else 'none yet'}) is kept; lower the "
                        f"learning rates or tighten the gradient clips and resume.")
                if self.callback is not None and self.callback_every > 0 and (step + 1) % self.callback_every == 0:
                    extra = self.callback(step + 1, self.algorithm)
                    if extra is not None:
                        metrics = metrics.merged(extra)
                last = metrics
                if (step + 1) % self.log_every == 0 or step + 1 == self.steps:
                    loggers.log(step + 1, metrics)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(metrics.items())[:3]})
                if self.ckpt_every > 0 and (step + 1) % self.ckpt_every == 0:
                    self.ckpt.save(self.state_dict(step + 1), step + 1)
            if end > start or not self.ckpt.exists():
                self.ckpt.save(self.state_dict(end), end)
        finally:
            bar.close()
            loggers.close()
        return FitResult(steps=end, last_metrics=last, checkpoint=self.ckpt.last, resumed_from=start)
