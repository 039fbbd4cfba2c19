"""Optional MuJoCo tasks of the paper (cheetah-vel, ant-dir), built on gymnasium's MuJoCo envs.

Needs ``gymnasium[mujoco]``; imported lazily, so the rest of the package never requires it. The
reward is replaced by the task's: velocity tracking (cheetah-vel, target speed in [0, 3]) or
forward progress along a hidden direction (ant-dir, +x or -x), minus the control cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dxmi.mate.envs.base import BatchedContextualEnv
from dxmi.mate.tokenizer import ActionSpec


def mujoco_available() -> bool:
    try:
        import gymnasium  # noqa: F401
        import mujoco  # noqa: F401
    except ImportError:
        return False
    return True


class _MujocoTask(BatchedContextualEnv):
    env_id: str

    def __init__(self, num_envs: int = 4, horizon: int = 200) -> None:
        super().__init__(num_envs)
        if not mujoco_available():
            raise RuntimeError(f"{type(self).__name__} needs gymnasium[mujoco]; "
                               "pip install 'gymnasium[mujoco]'")
        import gymnasium

        self.envs: list[Any] = [gymnasium.make(self.env_id) for _ in range(num_envs)]
        space = self.envs[0].action_space
        self.scale = np.asarray(space.high, dtype=np.float64)
        self.obs_dim = int(self.envs[0].observation_space.shape[0])
        self.action = ActionSpec(discrete=False, dim=int(space.shape[0]))
        self.max_steps = horizon

    def _reset_state(self) -> np.ndarray:
        seeds = self.rng.integers(0, 2**31 - 1, size=self.num_envs)
        return np.stack([e.reset(seed=int(s))[0] for e, s in zip(self.envs, seeds)])

    def _task_reward(self, i: int, info: dict[str, Any], ctrl: float) -> float:
        raise NotImplementedError

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        obs, rew, term = [], [], []
        for i, e in enumerate(self.envs):
            if self.done[i]:
                obs.append(self.obs[i])
                rew.append(0.0)
                term.append(False)
                continue
            o, _, te, _, info = e.step(actions[i] * self.scale)
            ctrl = 0.05 * float(np.sum(actions[i] ** 2))
            obs.append(o)
            rew.append(self._task_reward(i, info, ctrl))
            term.append(bool(te))
        no = np.zeros(self.num_envs, dtype=bool)
        return np.stack(obs), np.asarray(rew), np.asarray(term), no


class CheetahVel(_MujocoTask):
    """HalfCheetah tracking a hidden target speed in [0, 3]; context ``(1,)``."""

    env_id = "HalfCheetah-v5"
    context_dim = 1

    def _sample_context(self) -> np.ndarray:
        return self.rng.uniform(0.0, 3.0, size=(self.num_envs, 1))

    def _task_reward(self, i: int, info: dict[str, Any], ctrl: float) -> float:
        return -abs(float(info["x_velocity"]) - float(self.context[i, 0])) - ctrl


class AntDir(_MujocoTask):
    """Ant running along a hidden direction (+x or -x); context ``(1,)``."""

    env_id = "Ant-v5"
    context_dim = 1

    def _sample_context(self) -> np.ndarray:
        return self.rng.choice([-1.0, 1.0], size=(self.num_envs, 1))

    def _task_reward(self, i: int, info: dict[str, Any], ctrl: float) -> float:
        return float(self.context[i, 0]) * float(info["x_velocity"]) - ctrl + 1.0
