"""Bernoulli multi-armed bandit with hidden arm means (the context)."""

from __future__ import annotations

import numpy as np

from dxmi.mate.envs.base import BatchedContextualEnv
from dxmi.mate.tokenizer import ActionSpec


class BernoulliBandit(BatchedContextualEnv):
    """``arms`` Bernoulli arms with means drawn uniformly in [0, 1] per episode; ``horizon``
    pulls. The observation is the constant ``(1,)``, so a transition is just ``(arm, reward)``
    and the Bayes posterior (a Beta per arm) is a function of the per-arm success and failure
    counts: sums over transitions. Context: the arm means ``(arms,)``. Return: total reward.
    """

    def __init__(self, num_envs: int = 8, arms: int = 3, horizon: int = 20) -> None:
        super().__init__(num_envs)
        if arms < 2 or horizon < 1:
            raise ValueError(f"need arms >= 2 and horizon >= 1; got {arms}, {horizon}")
        self.arms = arms
        self.obs_dim = 1
        self.context_dim = arms
        self.action = ActionSpec(discrete=True, n=arms)
        self.max_steps = horizon

    def _sample_context(self) -> np.ndarray:
        return self.rng.uniform(0.0, 1.0, size=(self.num_envs, self.arms))

    def _reset_state(self) -> np.ndarray:
        return np.ones((self.num_envs, 1))

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        p = self.context[np.arange(self.num_envs), actions]
        reward = (self.rng.uniform(size=self.num_envs) < p).astype(float)
        no = np.zeros(self.num_envs, dtype=bool)
        return np.ones((self.num_envs, 1)), reward, no, no
