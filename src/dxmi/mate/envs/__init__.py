"""Batched contextual tasks, by name."""

from __future__ import annotations

from typing import Any

from dxmi.mate.envs.bandit import BernoulliBandit
from dxmi.mate.envs.base import BatchedContextualEnv
from dxmi.mate.envs.control import FlipPendulum, PointRobot
from dxmi.mate.envs.mujoco import AntDir, CheetahVel, mujoco_available
from dxmi.mate.envs.tmaze import OrderRecall, PassiveTMaze

TASKS: dict[str, type[BatchedContextualEnv]] = {
    "tmaze": PassiveTMaze,
    "order": OrderRecall,
    "bandit": BernoulliBandit,
    "point": PointRobot,
    "pendulum": FlipPendulum,
    "cheetah_vel": CheetahVel,
    "ant_dir": AntDir,
}


def make_env(task: str, num_envs: int, **kwargs: Any) -> BatchedContextualEnv:
    """Build task ``task`` with ``num_envs`` parallel episodes; unknown options are an error."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    try:
        return TASKS[task](num_envs=num_envs, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad env options for {task!r}: {kwargs} ({err})") from None
    except ValueError as err:  # a check of an option: named as the config key (env.length must be ...)
        first = str(err).split(" ", 1)[0]
        raise ValueError(f"env.{err}" if first in kwargs else f"env of {task!r}: {err}") from None


__all__ = ["TASKS", "AntDir", "BatchedContextualEnv", "BernoulliBandit", "CheetahVel",
           "FlipPendulum", "OrderRecall", "PassiveTMaze", "PointRobot", "make_env",
           "mujoco_available"]
