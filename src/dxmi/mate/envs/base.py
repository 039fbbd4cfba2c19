"""Batched contextual environments following the gymnasium conventions.

One ``step`` advances ``B = num_envs`` episodes. ``reset(seed=)`` returns ``(obs, info)`` and
``step(actions)`` returns ``(obs, reward, terminated, truncated, info)`` as numpy arrays with a
leading ``B``; ``info["context"]`` ``(B, c)`` is the true hidden context and ``info["success"]``
``(B,)`` whether the episode has succeeded so far. Episodes in a batch run in lockstep: a row that
is done stays frozen (reward 0, same observation) until the next ``reset``; every episode ends
(terminated or truncated) by ``max_steps``. gymnasium itself is not needed; ``spaces()`` builds
gymnasium space objects on request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from dxmi.mate.tokenizer import ActionSpec

Info = dict[str, np.ndarray]


class BatchedContextualEnv(ABC):
    """Base class: subclasses implement ``_sample_context``, ``_reset_state``, ``_transition``.

    Attributes (set by subclasses): ``obs_dim``, ``context_dim``, ``action`` (:class:`ActionSpec`),
    ``max_steps``; ``success_is_return`` says whether the benchmark reports success rate.
    """

    obs_dim: int
    context_dim: int
    action: ActionSpec
    max_steps: int
    reports_success: bool = False

    def __init__(self, num_envs: int) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1; got {num_envs}")
        self.num_envs = num_envs
        self.rng = np.random.default_rng()
        self.t = 0
        self.done = np.zeros(num_envs, dtype=bool)
        self.success = np.zeros(num_envs, dtype=bool)
        self.context = np.zeros((num_envs, 0), dtype=np.float32)
        self.obs = np.zeros((num_envs, 0), dtype=np.float32)

    @abstractmethod
    def _sample_context(self) -> np.ndarray:
        """``(B, c)`` contexts for new episodes (use ``self.rng``)."""

    @abstractmethod
    def _reset_state(self) -> np.ndarray:
        """Start all episodes (``self.context`` is set); return the first obs ``(B, o)``."""

    @abstractmethod
    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        """Advance every row: ``(next_obs, reward, terminated, success)``, each with leading B."""

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, Info]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.success = np.zeros(self.num_envs, dtype=bool)
        self.context = self._sample_context().astype(np.float32)
        self.obs = self._reset_state().astype(np.float32)
        return self.obs.copy(), self._info()

    def _info(self) -> Info:
        return {"context": self.context.copy(), "success": self.success.copy()}

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if self.action.discrete:
            if actions.shape != (self.num_envs,):
                raise ValueError(f"discrete actions must be ({self.num_envs},); "
                                 f"got {actions.shape}")
            if actions.min() < 0 or actions.max() >= self.action.n:
                raise ValueError(f"actions must lie in [0, {self.action.n}); got {actions}")
            return actions.astype(np.int64)
        if actions.shape != (self.num_envs, self.action.dim):
            raise ValueError(f"actions must be ({self.num_envs}, {self.action.dim}); "
                             f"got {actions.shape}")
        return np.clip(actions, -1.0, 1.0).astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 Info]:
        actions = self.check_actions(actions)
        if self.done.all():
            raise RuntimeError("all episodes are done; call reset()")
        next_obs, reward, terminated, success = self._transition(actions)
        self.t += 1
        live = ~self.done
        truncated = live & ~terminated & (self.t >= self.max_steps)
        terminated = live & terminated
        self.obs = np.where(live[:, None], next_obs, self.obs).astype(np.float32)
        reward = np.where(live, reward, 0.0).astype(np.float32)
        self.success = self.success | (live & success)
        self.done = self.done | terminated | truncated
        return self.obs.copy(), reward, terminated, truncated, self._info()

    def spaces(self) -> tuple[Any, Any]:
        """gymnasium ``(observation_space, action_space)`` of one episode (needs gymnasium)."""
        import gymnasium

        obs = gymnasium.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        if self.action.discrete:
            return obs, gymnasium.spaces.Discrete(self.action.n)
        return obs, gymnasium.spaces.Box(-1.0, 1.0, (self.action.dim,), np.float32)
