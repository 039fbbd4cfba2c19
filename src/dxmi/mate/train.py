"""The outer loop: collect episodes, replay whole episodes, update, evaluate, log, checkpoint.

Outputs in ``out_dir``: ``config.yaml``, ``log.csv`` (one row per evaluation, written by the
package's :class:`~dxmi.training.loggers.CSVLogger`), ``curve.png`` (learning curve) and
``checkpoint.safetensors``: a checkpoint of the package's format
(:func:`~dxmi.training.checkpoint.save_checkpoint`, one file written atomically, so a run killed at
any moment resumes from a consistent state) holding the agent, the replay, the optimisers, the
generators, the counters, what the next log row needs and the config. A resume refuses settings
other than the checkpoint's (except :data:`RESUME_FREE`; ``iterations`` may grow).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from dxmi.io import FileFormatError, atomic_write, safetensors_metadata, settings_yaml, write_text_atomic
from dxmi.mate.agents import Agent, Encoder, build_agent
from dxmi.mate.config import ConfigError, MATEConfig, config_from_dict
from dxmi.mate.envs import BatchedContextualEnv, make_env
from dxmi.mate.replay import EpisodeReplay
from dxmi.mate.rollout import run_episodes
from dxmi.settings import changed_settings
from dxmi.training.checkpoint import load_checkpoint, restore_state, save_checkpoint
from dxmi.training.loggers import CSVLogger

EVAL_SEED = 10**6
#: the checkpoint of a run folder
CHECKPOINT = "checkpoint.safetensors"
#: settings that may differ when a run is resumed (how often it saves and evaluates, and on how many
#: episodes); ``iterations`` may grow (train longer)
RESUME_FREE = ("checkpoint_every", "eval_every", "eval_episodes")


@dataclass(frozen=True)
class EvalResult:
    """Greedy evaluation over fixed seeds: mean return and success rate."""

    mean_return: float
    success_rate: float
    episodes: int


@dataclass(frozen=True)
class LogRow:
    """One row of ``log.csv``."""

    iteration: int
    env_steps: int
    updates: int
    train_return: float
    eval_return: float
    eval_success: float
    loss: float
    seconds: float


def build(cfg: MATEConfig, num_envs: int | None = None,
          device: torch.device | str = "cpu") -> tuple[BatchedContextualEnv, Agent]:
    """The task's batched env (numpy, CPU) and a fresh agent for ``cfg`` on ``device``.

    The agent's optimizers hold its parameters by reference, so moving it after construction
    keeps them valid (their state is still empty).
    """
    env = make_env(cfg.task, num_envs or cfg.num_envs, **cfg.env)
    encoder = Encoder(env.obs_dim, env.action, env.context_dim, cfg.memory, cfg.width,
                      cfg.embed_blocks, cfg.dropout, cfg.memory_kwargs)
    return env, build_agent(encoder, cfg.agent).to(torch.device(device))


def evaluate(cfg: MATEConfig, agent: Agent, episodes: int) -> EvalResult:
    """Greedy policy on ``episodes`` episodes with fixed seeds (same contexts for every run)."""
    env = make_env(cfg.task, min(episodes, 64), **cfg.env)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    returns, success = [], []
    done, k = 0, 0
    while done < episodes:
        _, stats = run_episodes(env, agent, explore=False, seed=EVAL_SEED + k, generator=gen)
        returns.append(stats.returns)
        success.append(stats.success)
        done += env.num_envs
        k += 1
    r = np.concatenate(returns)[:episodes]
    s = np.concatenate(success)[:episodes]
    return EvalResult(float(r.mean()), float(s.mean()), int(r.size))


def _optimizers(agent: Agent) -> dict[str, torch.optim.Optimizer]:
    return {k: v for k, v in vars(agent).items() if isinstance(v, torch.optim.Optimizer)}


def _cpu_copy(state: Any) -> Any:
    """``state`` with every tensor copied to the CPU (no storage shared with the live run or between
    entries: safetensors refuses shared storage)."""
    if isinstance(state, Tensor):
        return state.detach().to("cpu", copy=True).contiguous()
    if isinstance(state, dict):
        return {k: _cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_copy(v) for v in state)
    return state


def _parse_row(row: dict[str, str]) -> LogRow:
    ints = ("iteration", "env_steps", "updates")
    values: dict[str, Any] = {f.name: int(float(row[f.name])) if f.name in ints else float(row[f.name])
                              for f in dataclasses.fields(LogRow)}
    return LogRow(**values)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state of a run's ``checkpoint.safetensors`` (:func:`~dxmi.training.checkpoint.load_checkpoint`,
    on the CPU). A checkpoint of the format before the shared one (counters in a ``mate_state``
    metadata entry, beside ``checkpoint.json``) is a one-line :class:`~dxmi.io.FileFormatError`."""
    path = Path(path)
    try:
        state = load_checkpoint(path)
    except FileFormatError:
        if path.is_file() and "mate_state" in safetensors_metadata(path, "checkpoint"):
            raise FileFormatError(f"{path}: a MATE checkpoint of an earlier dxmi version (before the shared "
                                  f"checkpoint format); this version cannot read it: retrain the run into a "
                                  f"new --out") from None
        raise
    missing = [k for k in ("agent", "replay", "optimisers", "rng", "counters", "log", "config") if k not in state]
    if missing:
        raise FileFormatError(f"{path}: not a MATE checkpoint (no {', '.join(missing)})")
    return state


class MATETrainer:
    """Runs ``cfg`` into ``out_dir``; ``resume=True`` continues from its checkpoint.

    ``device`` holds the agent and the replay; the environments stay numpy on the CPU. The
    seeded draws (exploration noise, replay indices) come from a CPU generator on every device;
    the checkpoint is device-free, so a run may resume on another device.
    """

    def __init__(self, cfg: MATEConfig, out_dir: str | Path, progress: bool = True,
                 device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.env, self.agent = build(cfg, device=self.device)
        self.replay = EpisodeReplay(cfg.replay_capacity, self.env.max_steps, self.env.obs_dim,
                                    self.env.action, self.env.context_dim, self.device)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.iteration = 0
        self.env_steps = 0
        self.updates = 0
        self.rows: list[LogRow] = []
        self.train_returns: list[float] = []
        self.loss = float("nan")

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, device-free: the agent, the replay, the optimisers, the
        generators, the counters, what the next log row needs and the config."""
        rng = {"generator": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return _cpu_copy({
            "agent": self.agent.state_dict(),
            "replay": self.replay.state_dict(),
            "optimisers": {name: opt.state_dict() for name, opt in _optimizers(self.agent).items()},
            "rng": rng,
            "counters": {"iteration": self.iteration, "env_steps": self.env_steps, "updates": self.updates},
            # what the next log row needs: the returns since the last evaluation and the last loss
            "log": {"train_returns": torch.tensor(self.train_returns[-max(1, self.cfg.eval_every):],
                                                  dtype=torch.float64),
                    "loss": torch.tensor([self.loss], dtype=torch.float64)},
            "config": self.cfg.to_dict(),
        })

    def save(self) -> None:
        """Write ``checkpoint.safetensors`` (:func:`~dxmi.training.checkpoint.save_checkpoint`: one
        file, atomically)."""
        save_checkpoint(self.checkpoint, self.state_dict())

    def load(self, state: dict[str, Any] | None = None) -> None:
        """Restore the run from ``state`` (default: read from the checkpoint)."""
        path = self.checkpoint
        state = read_checkpoint(path) if state is None else state
        restore_state(self.agent, state["agent"], path, "agent")
        restore_state(self.replay, state["replay"], path, "replay")
        for name, opt in _optimizers(self.agent).items():
            restore_state(opt, state["optimisers"].get(name), path, f"optimiser {name!r}")
        rng = state["rng"]
        self.gen.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        counters = state["counters"]
        self.iteration, self.env_steps = int(counters["iteration"]), int(counters["env_steps"])
        self.updates = int(counters["updates"])
        self.train_returns = [float(v) for v in state["log"]["train_returns"].tolist()]
        self.loss = float(state["log"]["loss"].reshape(-1)[0])

    def check_settings(self, saved: Any) -> None:
        """Refuse (a one-line :class:`~dxmi.settings.ConfigError` naming the keys) settings that
        differ from ``saved`` (the checkpoint's), except :data:`RESUME_FREE`; ``iterations`` may grow."""
        if not isinstance(saved, dict):
            raise FileFormatError(f"{self.checkpoint}: the checkpoint's config is not a mapping")
        diff = changed_settings(saved, self.cfg.to_dict(), RESUME_FREE, ("iterations",))
        if diff:
            raise ConfigError(
                f"{self.out} was trained with other settings: {'; '.join(diff)}. Resume with the run's settings "
                f"({self.out / 'config.yaml'}), train it afresh without --resume, or use a new --out. Free to "
                f"change on resume: {', '.join(RESUME_FREE)}; iterations may grow")

    # -- logging -----------------------------------------------------------------------------
    def _open_log(self) -> CSVLogger:
        """``log.csv`` through the package's CSV logger: the rows after the checkpoint's iteration
        (written by a run that was stopped) are dropped, the resumed run writes them again."""
        path = self.out / "log.csv"
        try:
            log = CSVLogger(path, truncate_after=self.iteration, step_key="iteration")
            self.rows = [_parse_row(r) for r in log.rows]
        except FileFormatError:
            raise
        except (KeyError, ValueError, TypeError) as e:
            raise FileFormatError(f"{path}: not a MATE training log (bad or missing column {e})") from None
        return log

    def _log(self, log: CSVLogger, row: LogRow) -> None:
        self.rows.append(row)
        log.log(row.iteration, {k: v for k, v in dataclasses.asdict(row).items() if k != "iteration"})
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r.env_steps for r in self.rows]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        if self.env.reports_success:
            ax.plot(steps, [r.eval_success for r in self.rows], marker="o")
            ax.set_ylabel("eval success rate")
        else:
            ax.plot(steps, [r.eval_return for r in self.rows], marker="o")
            ax.set_ylabel("eval return")
        ax.set_xlabel("environment steps")
        ax.set_title(f"{self.cfg.task} / {self.cfg.memory}")
        fig.tight_layout()
        atomic_write(self.out / "curve.png", lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        plt.close(fig)

    # -- main loop ---------------------------------------------------------------------------
    def epsilon(self) -> float:
        cfg = self.cfg
        frac = min(1.0, self.iteration / max(1.0, cfg.eps_decay_frac * cfg.iterations))
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    def run(self, resume: bool = False) -> EvalResult:
        """Train until ``cfg.iterations`` rollouts; returns the final evaluation."""
        cfg = self.cfg
        if resume and self.checkpoint.exists():
            state = read_checkpoint(self.checkpoint)
            self.check_settings(state["config"])  # before anything in the folder changes
            self.load(state)
        self.out.mkdir(parents=True, exist_ok=True)
        log = self._open_log()
        write_text_atomic(self.out / "config.yaml", settings_yaml(cfg.to_dict()))
        start = time.perf_counter() - (self.rows[-1].seconds if self.rows else 0.0)
        bar = tqdm(total=cfg.iterations, initial=self.iteration, disable=not self.progress,
                   desc=f"{cfg.task}/{cfg.memory}")
        train_returns = self.train_returns
        result = EvalResult(float("nan"), float("nan"), 0)
        while self.iteration < cfg.iterations:
            self.agent.epsilon = self.epsilon()
            batch, stats = run_episodes(self.env, self.agent, explore=True,
                                        seed=cfg.seed * 1_000_003 + self.iteration,
                                        generator=self.gen)
            self.replay.add(batch)
            self.env_steps += stats.steps
            train_returns.append(float(stats.returns.mean()))
            self.iteration += 1
            if self.iteration > cfg.warmup_iterations:
                n = max(1, math.ceil(stats.steps * cfg.updates_per_step))
                for _ in range(n):
                    m = self.agent.update(self.replay.sample(cfg.batch_episodes, self.gen))
                    self.updates += 1
                self.loss = next(iter(m.values()))
            done = self.iteration >= cfg.iterations
            if self.iteration % cfg.eval_every == 0 or done:
                result = evaluate(cfg, self.agent, cfg.eval_episodes)
                self._log(log, LogRow(self.iteration, self.env_steps, self.updates,
                                      float(np.mean(train_returns[-cfg.eval_every:])),
                                      result.mean_return, result.success_rate, self.loss,
                                      time.perf_counter() - start))
                bar.set_postfix(ret=f"{result.mean_return:.3f}",
                                succ=f"{result.success_rate:.2f}")
            if self.iteration % cfg.checkpoint_every == 0 or done:
                self.save()
            bar.update(1)
        bar.close()
        if result.episodes == 0:  # no evaluation in this call (a finished run resumed): evaluate now
            result = evaluate(cfg, self.agent, cfg.eval_episodes)
        return result


def load_trained(run_dir: str | Path,
                 device: torch.device | str = "cpu") -> tuple[MATEConfig, Agent]:
    """Config and agent (on ``device``) of a finished (or checkpointed) run."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint in {run_dir} (expected {CHECKPOINT})")
    state = read_checkpoint(path)
    try:
        cfg = config_from_dict(state["config"])
    except ConfigError as e:
        raise ConfigError(f"{path}: the checkpoint's settings do not load ({e})") from None
    _, agent = build(cfg, num_envs=1, device=device)
    restore_state(agent, state["agent"], path, "agent")
    return cfg, agent
