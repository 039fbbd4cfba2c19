"""The outer loop: collect episodes, replay whole episodes, update, evaluate, log, checkpoint.

Outputs in ``out_dir``: ``config.yaml``, ``log.csv`` (one row per evaluation), ``curve.png``
(learning curve), ``checkpoint.safetensors`` (model, optimizers, replay, generators, and the
counters and config in its metadata: one file written atomically, so a run killed at any moment
resumes from a consistent state) and ``checkpoint.json`` (the counters and config again, for
reading; the resume takes them from the checkpoint itself).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor
from tqdm import tqdm

from dxmi.io import (
    FileFormatError,
    atomic_write,
    load_safetensors,
    read_json,
    reading,
    safetensors_metadata,
    settings_yaml,
    write_text_atomic,
)
from dxmi.mate.agents import Agent, Encoder, build_agent
from dxmi.mate.config import TrainConfig, config_from_dict
from dxmi.mate.envs import BatchedContextualEnv, make_env
from dxmi.mate.replay import EpisodeReplay
from dxmi.mate.rollout import run_episodes

EVAL_SEED = 10**6


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


def build(cfg: TrainConfig, num_envs: int | None = None,
          device: torch.device | str = "cpu") -> tuple[BatchedContextualEnv, Agent]:
    """The task's batched env (numpy, CPU) and a fresh agent for ``cfg`` on ``device``.

    The agent's optimizers hold its parameters by reference, so moving it after construction
    keeps them valid (their state is still empty).
    """
    env = make_env(cfg.task, num_envs or cfg.num_envs, **cfg.env)
    encoder = Encoder(env.obs_dim, env.action, env.context_dim, cfg.memory, cfg.width,
                      cfg.embed_blocks, cfg.dropout, cfg.memory_kwargs)
    return env, build_agent(encoder, cfg.agent).to(torch.device(device))


def evaluate(cfg: TrainConfig, agent: Agent, episodes: int) -> EvalResult:
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


def _flat_optimizer_state(agent: Agent) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for name, opt in _optimizers(agent).items():
        for idx, st in opt.state_dict()["state"].items():
            for key, val in st.items():
                out[f"opt.{name}.{idx}.{key}"] = torch.as_tensor(val).clone()
    return out


def _load_optimizer_state(agent: Agent, tensors: dict[str, Tensor]) -> None:
    for name, opt in _optimizers(agent).items():
        sd = opt.state_dict()
        state: dict[int, dict[str, Tensor]] = {}
        prefix = f"opt.{name}."
        for key, val in tensors.items():
            if key.startswith(prefix):
                idx, field_name = key[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[field_name] = val
        sd["state"] = state
        opt.load_state_dict(sd)


def _parse_row(row: dict[str, str]) -> LogRow:
    ints = ("iteration", "env_steps", "updates")
    values: dict[str, Any] = {k: int(float(v)) if k in ints else float(v)
                              for k, v in row.items()}
    return LogRow(**values)


class Trainer:
    """Runs ``cfg`` into ``out_dir``; ``resume=True`` continues from its checkpoint.

    ``device`` holds the agent and the replay; the environments stay numpy on the CPU. The
    seeded draws (exploration noise, replay indices) come from a CPU generator on every device;
    the checkpoint is device-free, so a run may resume on another device.
    """

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: bool = True,
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
    def save(self) -> None:
        """Write ``checkpoint.safetensors`` (every tensor, and the counters and config as metadata)
        atomically, then ``checkpoint.json``: a kill between the two leaves a consistent checkpoint."""
        self.out.mkdir(parents=True, exist_ok=True)
        tensors = {f"agent.{k}": v for k, v in self.agent.state_dict().items()}
        tensors.update(self.replay.state_dict())
        tensors.update(_flat_optimizer_state(self.agent))
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        tensors["rng.generator"] = self.gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        # what the next log row needs: the returns since the last evaluation and the last loss
        tensors["log.train_returns"] = torch.tensor(self.train_returns[-max(1, self.cfg.eval_every):],
                                                    dtype=torch.float64)
        tensors["log.loss"] = torch.tensor([self.loss], dtype=torch.float64)
        meta = {"iteration": self.iteration, "env_steps": self.env_steps,
                "updates": self.updates, "config": self.cfg.to_dict()}
        atomic_write(self.out / "checkpoint.safetensors",
                     lambda tmp: save_file(tensors, tmp, metadata={"mate_state": json.dumps(meta)}))
        write_text_atomic(self.out / "checkpoint.json", json.dumps(meta, indent=1))

    def load(self) -> None:
        path = self.out / "checkpoint.safetensors"
        tensors = load_safetensors(path, "checkpoint")[0]
        meta = _checkpoint_meta(self.out)
        agent_sd = {k[len("agent."):]: v for k, v in tensors.items() if k.startswith("agent.")}
        self.agent.load_state_dict(agent_sd)
        self.replay.load_state_dict(tensors)
        _load_optimizer_state(self.agent, tensors)
        self.gen.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch"])
        if self.device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.iteration, self.env_steps = meta["iteration"], meta["env_steps"]
        self.updates = meta["updates"]
        if "log.train_returns" in tensors:
            self.train_returns = [float(v) for v in tensors["log.train_returns"].tolist()]
            self.loss = float(tensors["log.loss"].reshape(-1)[0])
        if (self.out / "log.csv").exists():
            with reading(self.out / "log.csv", "training log", allow_empty=True) as log, open(log) as fh:
                # rows written after the checkpoint (by the run that was stopped) are written again
                self.rows = [r for r in (_parse_row(row) for row in csv.DictReader(fh))
                             if r.iteration <= self.iteration]

    # -- logging -----------------------------------------------------------------------------
    def _write_log(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        names = [f.name for f in dataclasses.fields(LogRow)]

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(names)
                for row in self.rows:
                    w.writerow([getattr(row, n) for n in names])

        atomic_write(self.out / "log.csv", write)  # a kill while writing keeps the previous rows
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
        if resume and (self.out / "checkpoint.safetensors").exists():
            self.load()
        self.out.mkdir(parents=True, exist_ok=True)
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
                self.rows.append(LogRow(self.iteration, self.env_steps, self.updates,
                                        float(np.mean(train_returns[-cfg.eval_every:])),
                                        result.mean_return, result.success_rate, self.loss,
                                        time.perf_counter() - start))
                self._write_log()
                bar.set_postfix(ret=f"{result.mean_return:.3f}",
                                succ=f"{result.success_rate:.2f}")
            if self.iteration % cfg.checkpoint_every == 0 or done:
                self.save()
            bar.update(1)
        bar.close()
        if result.episodes == 0:  # no evaluation in this call (a finished run resumed): evaluate now
            result = evaluate(cfg, self.agent, cfg.eval_episodes)
        return result


def _checkpoint_meta(run_dir: Path) -> dict[str, Any]:
    """The counters and config of a run's checkpoint: from ``checkpoint.safetensors`` itself (written
    in one piece with the tensors), else from ``checkpoint.json`` (checkpoints of earlier versions)."""
    path = run_dir / "checkpoint.safetensors"
    if path.is_file():
        text = safetensors_metadata(path, "checkpoint").get("mate_state")
        if text is not None:
            with reading(path, "checkpoint"):
                meta = json.loads(text)
            if isinstance(meta, dict) and "config" in meta:
                return meta
    meta_path = run_dir / "checkpoint.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"no checkpoint in {run_dir} (expected checkpoint.json)")
    meta = read_json(meta_path, "checkpoint record")
    if not isinstance(meta, dict) or "config" not in meta:
        raise FileFormatError(f"{meta_path}: expected a JSON object with a 'config'")
    return meta


def load_trained(run_dir: str | Path,
                 device: torch.device | str = "cpu") -> tuple[TrainConfig, Agent]:
    """Config and agent (on ``device``) of a finished (or checkpointed) run."""
    run_dir = Path(run_dir)
    cfg = config_from_dict(_checkpoint_meta(run_dir)["config"])
    _, agent = build(cfg, num_envs=1, device=device)
    tensors = load_safetensors(run_dir / "checkpoint.safetensors", "checkpoint")[0]
    agent.load_state_dict({k[len("agent."):]: v for k, v in tensors.items()
                           if k.startswith("agent.")})
    return cfg, agent
