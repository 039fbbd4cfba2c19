"""Batched contextual tasks, by name."""

from __future__ import annotations

import inspect
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
    _check_types(TASKS[task], kwargs)
    try:
        return TASKS[task](num_envs=num_envs, **kwargs)
    except TypeError as err:
        raise ValueError(f"env: bad options for {task!r}: {kwargs} ({err})") from None
    except ValueError as err:  # a check of an option: named as the config key (env.length must be ...)
        first = str(err).split(" ", 1)[0]
        raise ValueError(f"env.{err}" if first in kwargs else f"env of {task!r}: {err}") from None


__all__ = ["TASKS", "AntDir", "BatchedContextualEnv", "BernoulliBandit", "CheetahVel",
           "FlipPendulum", "OrderRecall", "PassiveTMaze", "PointRobot", "make_env",
           "mujoco_available"]


def _check_types(cls: type, options: dict[str, Any]) -> None:
    """Options of the type of the task's defaults (an int for ``length``, not 2.0 or true): named as
    config keys (``env.length``)."""
    params = inspect.signature(cls).parameters
    for k, v in options.items():
        p = params.get(k)
        if p is None or p.default is inspect.Parameter.empty or p.default is None:
            continue
        want = type(p.default)
        ok = (isinstance(v, bool) if want is bool else
              isinstance(v, int) and not isinstance(v, bool) if want is int else
              isinstance(v, (int, float)) and not isinstance(v, bool) if want is float else isinstance(v, want))
        if not ok:
            raise ValueError(f"env.{k} must be {want.__name__}, got {v!r}")

