"""The training loop: the only place that knows about steps, devices, logging and checkpoints.

``Trainer.fit`` draws a data batch with its own generator, calls ``algorithm.update(batch)``,
logs, checkpoints every ``ckpt_every`` steps (algorithm state + data-generator state + step), and
resumes from the last checkpoint when one exists, so an interrupted and resumed run produces the
same result as an uninterrupted one (seeded, CPU). A non-finite metric stops the run with a clear
message; the last good checkpoint is kept untouched.

Under torchrun (``distributed``, see :mod:`dxmi.training.distributed`) every rank draws the same
global batch of ``batch_size`` rows and trains on its shard; rank 0 alone logs (metrics averaged over
ranks), shows progress and writes checkpoints (which carry every rank's update generator).
``precision`` runs each update under autocast (bf16 / fp16 with a loss scaler, see
:mod:`dxmi.training.precision`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dxmi.algorithms.base import Algorithm
from dxmi.records import Batch, Metrics
from dxmi.training.checkpoint import CheckpointManager, restore_state
from dxmi.training.distributed import Distributed
from dxmi.training.loggers import Logger, NullLogger, make_loggers
from dxmi.training.precision import Precision

#: ``source(n, generator)``: n rows of data (a tensor, or a LabelledBatch for class-conditional training)
BatchSource = Callable[[int, torch.Generator], Batch]


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
                 callback_every: int = 0, max_steps_this_call: int | None = None,
                 distributed: Distributed | None = None, precision: Precision | None = None,
                 extra_modules: dict[str, torch.nn.Module] | None = None):
        """``extra_modules``: modules the loop's ``callback`` owns (e.g. an EMA copy of a network),
        saved in and restored from the checkpoint with the algorithm, so that a resumed run continues
        them too."""
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
        self.extra_modules = dict(extra_modules or {})
        self.ckpt = CheckpointManager(self.out_dir / "checkpoints")
        self.dist = distributed or Distributed(device=self.device)
        self.dist.local_batch_size(batch_size)  # fail early when the batch does not split over ranks
        self.precision = precision or Precision("fp32", self.device.type)
        if self.precision.name == "fp16" and algorithm.grad_scaler is None:
            algorithm.grad_scaler = self.precision.make_scaler()

    def state_dict(self, step: int) -> dict:
        """The checkpoint (a collective under torchrun: every rank must call it)."""
        state = {"algorithm": self.algorithm.state_dict(), "data_generator": self.data_generator.get_state(),
                 "step": step}
        if self.extra_modules:
            state["extra_modules"] = {k: m.state_dict() for k, m in self.extra_modules.items()}
        if self.dist.enabled:
            state["rank_generators"] = self.dist.gather(self.algorithm.generator.get_state())
        if self.algorithm.grad_scaler is not None:
            state["grad_scaler"] = {k: float(v) if isinstance(v, float) else int(v)
                                    for k, v in self.algorithm.grad_scaler.state_dict().items()}
        return state

    def _resume(self) -> int:
        if not self.ckpt.exists():
            return 0
        state = self.ckpt.load(self.device)
        restore_state(self.algorithm, state.get("algorithm"), self.ckpt.last)
        self.data_generator.set_state(state["data_generator"].cpu())
        saved = state.get("extra_modules", {})
        missing = sorted(set(self.extra_modules) - set(saved))
        if missing:
            raise RuntimeError(f"checkpoint {self.ckpt.last} holds no state for {missing}: it was written by a "
                               f"different kind of run; start a new run folder")
        for k, m in self.extra_modules.items():
            restore_state(m, saved[k], self.ckpt.last)
        gens = state.get("rank_generators")
        if self.dist.enabled:
            if gens is None or len(gens) != self.dist.world_size:
                raise RuntimeError(f"checkpoint {self.ckpt.last} was written by "
                                   f"{1 if gens is None else len(gens)} process(es); resume it with the same number "
                                   f"(now {self.dist.world_size}) or start a new run folder")
            self.algorithm.generator.set_state(gens[self.dist.rank].cpu())
        if self.algorithm.grad_scaler is not None and "grad_scaler" in state:
            self.algorithm.grad_scaler.load_state_dict(state["grad_scaler"])
        return int(state["step"])

    def _all_ranks_finite(self, metrics: Metrics) -> bool:
        """Every rank's metrics are finite (one tiny all-reduce under torchrun, so that all ranks stop
        at the same step instead of one waiting forever for the others)."""
        ok = metrics.all_finite()
        if not self.dist.enabled:
            return ok
        return bool(self.dist.all_mean(torch.tensor([float(ok)], device=self.device)).item() == 1.0)

    def _mean_over_ranks(self, metrics: Metrics) -> Metrics:
        """Logged metrics are means over ranks (each rank's are from its own shard and rollouts)."""
        if not self.dist.enabled:
            return metrics
        keys = list(metrics.keys())  # the same order on every rank (same code path)
        mean = self.dist.all_mean(torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=self.device))
        return Metrics(dict(zip(keys, mean.tolist())))

    def _save(self, step: int) -> None:
        state = self.state_dict(step)
        if self.dist.is_main:
            self.ckpt.save(state, step)

    def fit(self, resume: bool = True) -> FitResult:
        had_checkpoint = self.ckpt.exists()  # read before any rank writes: every rank takes the same branch
        start = self._resume() if resume else 0
        main = self.dist.is_main
        loggers: Logger = (make_loggers(self.out_dir, tensorboard=self.tensorboard, truncate_after=start)
                           if main else NullLogger())
        last = Metrics()
        end = self.steps if self.max_steps_this_call is None else min(self.steps, start + self.max_steps_this_call)
        bar = tqdm(range(start, end), initial=start, total=self.steps, desc=self.desc,
                   disable=not (self.progress and main), dynamic_ncols=True, leave=False)
        try:
            for step in bar:
                batch = self.dist.shard(self.data(self.batch_size, self.data_generator)).to(self.device)
                with self.precision.autocast():
                    metrics = self.algorithm.update(batch)
                if self.algorithm.grad_scaler is not None:
                    metrics = metrics.merged({"amp_scale": float(self.algorithm.grad_scaler.get_scale())})
                if not self._all_ranks_finite(metrics):
                    bad = {k: v for k, v in metrics.items() if not torch.isfinite(torch.tensor(v))}
                    where = f" on rank {self.dist.rank}" if self.dist.enabled and bad else ""
                    raise NonFiniteLossError(
                        f"non-finite metrics at step {step + 1}{where}: {bad or 'on another rank'}; stopped. "
                        f"The last good checkpoint "
                        f"({self.ckpt.last if self.ckpt.exists() else 'none yet'}) is kept; lower the "
                        f"learning rates or tighten the gradient clips and resume.")
                if self.callback is not None and self.callback_every > 0 and (step + 1) % self.callback_every == 0:
                    extra = self.callback(step + 1, self.algorithm)
                    if extra is not None:
                        metrics = metrics.merged(extra)
                if (step + 1) % self.log_every == 0 or step + 1 == self.steps:
                    metrics = self._mean_over_ranks(metrics)
                    loggers.log(step + 1, metrics)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(metrics.items())[:3]})
                last = metrics
                if self.ckpt_every > 0 and (step + 1) % self.ckpt_every == 0:
                    self._save(step + 1)
            if end > start or not had_checkpoint:
                self._save(end)
            self.dist.barrier()  # the other ranks may read the checkpoint next
        finally:
            bar.close()
            loggers.close()
        return FitResult(steps=end, last_metrics=last, checkpoint=self.ckpt.last, resumed_from=start)
