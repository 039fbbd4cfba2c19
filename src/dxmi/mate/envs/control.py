"""Continuous-control tasks with a hidden context: point robot and sign-flipped pendulum."""

from __future__ import annotations

import numpy as np

from dxmi.mate.envs.base import BatchedContextualEnv
from dxmi.mate.tokenizer import ActionSpec


class PointRobot(BatchedContextualEnv):
    """A point starts at the origin and moves by ``0.1 * a`` (``a in [-1, 1]^2``) per step
    towards a hidden goal on the upper half of the unit circle (angle uniform in [0, pi]).
    Reward ``-||x - goal||``; ``horizon`` steps. Observation: the position ``(2,)``; context:
    the goal ``(2,)``. The goal is only revealed through the rewards.
    """

    def __init__(self, num_envs: int = 8, horizon: int = 20, step_size: float = 0.1) -> None:
        super().__init__(num_envs)
        self.obs_dim = 2
        self.context_dim = 2
        self.action = ActionSpec(discrete=False, dim=2)
        self.max_steps = horizon
        self.step_size = step_size
        self.pos = np.zeros((num_envs, 2))

    def _sample_context(self) -> np.ndarray:
        angle = self.rng.uniform(0.0, np.pi, size=self.num_envs)
        return np.stack([np.cos(angle), np.sin(angle)], 1)

    def _reset_state(self) -> np.ndarray:
        self.pos = np.zeros((self.num_envs, 2))
        return self.pos.copy()

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        self.pos = np.where(self.done[:, None], self.pos, self.pos + self.step_size * actions)
        dist = np.linalg.norm(self.pos - self.context, axis=1)
        no = np.zeros(self.num_envs, dtype=bool)
        return self.pos.copy(), -dist, no, dist < 0.2


class FlipPendulum(BatchedContextualEnv):
    """Keep a pendulum upright when the hidden context flips the sign of the torque.

    Dynamics of gymnasium's Pendulum (``m = l = 1``, ``dt = 0.05``, speed clipped to 8, gravity
    ``g``, 10 there) with torque ``u = sign * max_torque * a``, ``sign in {-1, +1}`` drawn per
    episode. Starts near upright (``|theta| < 0.3``).
    Reward ``exp(-c)`` with gymnasium's cost ``c = theta^2 + 0.1 thetadot^2 + 0.001 u^2``: one per
    step when balanced and still, ~0.37 at ``theta = 1``, ~0 when hanging. Bounded per-step
    rewards in [0, 1] (DeepMind Control's convention) make the return a count of balanced steps,
    so "within 10 % of the best" compares agents, not evaluation noise: with ``-c`` converged
    agents scored -0.3 to -2 and one agent's evaluations jumped by 2x between checkpoints.
    Observation ``(cos theta, sin theta, thetadot / 8)``; context: ``(sign,)``.
    """

    def __init__(self, num_envs: int = 8, horizon: int = 30, max_torque: float = 3.0,
                 gravity: float = 10.0) -> None:
        super().__init__(num_envs)
        self.obs_dim = 3
        self.context_dim = 1
        self.action = ActionSpec(discrete=False, dim=1)
        self.max_steps = horizon
        self.max_torque = max_torque
        self.gravity = gravity
        self.theta = np.zeros(num_envs)
        self.omega = np.zeros(num_envs)

    def _sample_context(self) -> np.ndarray:
        return self.rng.choice([-1.0, 1.0], size=(self.num_envs, 1))

    def _observe(self) -> np.ndarray:
        return np.stack([np.cos(self.theta), np.sin(self.theta), self.omega / 8.0], 1)

    def _reset_state(self) -> np.ndarray:
        self.theta = self.rng.uniform(-0.3, 0.3, size=self.num_envs)
        self.omega = self.rng.uniform(-0.3, 0.3, size=self.num_envs)
        return self._observe()

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        u = self.context[:, 0] * self.max_torque * actions[:, 0]
        th = (self.theta + np.pi) % (2 * np.pi) - np.pi
        cost = th**2 + 0.1 * self.omega**2 + 0.001 * u**2
        accel = 1.5 * self.gravity * np.sin(self.theta) + 3.0 * u
        omega = np.clip(self.omega + accel * 0.05, -8.0, 8.0)
        live = ~self.done
        self.omega = np.where(live, omega, self.omega)
        self.theta = np.where(live, self.theta + self.omega * 0.05, self.theta)
        no = np.zeros(self.num_envs, dtype=bool)
        return self._observe(), np.exp(-cost), no, no
