"""Passive T-Maze and the order-recall task: pure memory tests with a binary answer."""

from __future__ import annotations

import numpy as np

from dxmi.mate.envs.base import BatchedContextualEnv
from dxmi.mate.tokenizer import ActionSpec


class PassiveTMaze(BatchedContextualEnv):
    """Passive T-Maze: a cue (+1 up, -1 down) is shown at ``t = 0`` only; the agent walks a
    corridor of ``length`` cells and must turn the cued way at the junction.

    Observation ``(position / length, cue (only at t = 0), at_junction)``. Actions: 0 up, 1 down,
    2 right. Right moves along the corridor; up/down in the corridor stay put with reward
    ``-1 / length``; at the junction up/down ends the episode with reward 1 if it matches the cue
    (success) else 0. ``max_steps = 2 * length + 2``. A memoryless agent succeeds half the time.
    Context: the cue ``(1,)``.
    """

    reports_success = True

    def __init__(self, num_envs: int = 8, length: int = 10) -> None:
        super().__init__(num_envs)
        if length < 1:
            raise ValueError(f"length must be >= 1; got {length}")
        self.length = length
        self.obs_dim = 3
        self.context_dim = 1
        self.action = ActionSpec(discrete=True, n=3)
        self.max_steps = 2 * length + 2
        self.pos = np.zeros(num_envs, dtype=np.int64)

    def _sample_context(self) -> np.ndarray:
        return self.rng.choice([-1.0, 1.0], size=(self.num_envs, 1))

    def _observe(self, show_cue: bool) -> np.ndarray:
        cue = self.context[:, 0] if show_cue else np.zeros(self.num_envs)
        return np.stack([self.pos / self.length, cue, (self.pos == self.length).astype(float)], 1)

    def _reset_state(self) -> np.ndarray:
        self.pos = np.zeros(self.num_envs, dtype=np.int64)
        return self._observe(show_cue=True)

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        at_junction = self.pos == self.length
        turn = actions < 2
        choice = np.where(actions == 0, 1.0, -1.0)
        correct = at_junction & turn & (choice == self.context[:, 0])
        reward = np.where(at_junction, correct.astype(float), np.where(turn, -1.0 / self.length,
                                                                       0.0))
        terminated = at_junction & turn
        self.pos = np.where(~at_junction & ~turn & ~self.done, self.pos + 1, self.pos)
        return self._observe(show_cue=False), reward, terminated, correct


class OrderRecall(BatchedContextualEnv):
    """Which cue came first? Two cues, A and B, each appear once at separate random times
    inside an episode of ``length`` steps; at the last step a query flag is shown and the agent
    answers 0 (A first) or 1 (B first): reward 1 if right (success), else 0.

    Observation ``(cue_A, cue_B, query)``: there is no clock, cues never touch each other, the
    start or the query, so the *multiset* of transitions is the same for both orders and any
    order-blind memory (MATE) is at chance, while a recurrent memory can solve it. Context:
    ``(1,)`` = 1 if B came first. Needs ``length >= 6``.

    Actions before the query do not move anything, but they are part of the transition tokens, so
    an agent could write the order into its own history (act 1 at the second cue only when it
    remembers a first one) and an order-blind memory would then read it back from the multiset.
    A gated MATE found that trick in 80 rollouts. Each action 1 before the query therefore costs
    ``action_cost``: one such bit in half the episodes costs ``action_cost / 2`` and gains at
    most 0.5 success, so with ``action_cost > 1`` the cheapest self-written record of the order
    loses return and the optimal order-blind agent stays at chance. Action 0 is free.
    """

    reports_success = True

    def __init__(self, num_envs: int = 8, length: int = 8, action_cost: float = 2.0) -> None:
        super().__init__(num_envs)
        if length < 6:
            raise ValueError(f"length must be >= 6; got {length}")
        if action_cost < 0:
            raise ValueError(f"action_cost must be >= 0; got {action_cost}")
        self.length = length
        self.action_cost = action_cost
        self.obs_dim = 3
        self.context_dim = 1
        self.action = ActionSpec(discrete=True, n=2)
        self.max_steps = length
        self.cue_times = np.zeros((num_envs, 2), dtype=np.int64)

    def _sample_context(self) -> np.ndarray:
        # cue times t1 < t2 in [1, length - 3] with t2 - t1 >= 2 (never adjacent)
        first = self.rng.integers(1, self.length - 4, size=self.num_envs)
        second = np.array([self.rng.integers(f + 2, self.length - 2) for f in first])
        b_first = self.rng.integers(0, 2, size=self.num_envs)
        self.cue_times = np.where(b_first[:, None] == 1, np.stack([second, first], 1),
                                  np.stack([first, second], 1))
        return b_first[:, None].astype(float)

    def _observe(self) -> np.ndarray:
        t = self.t
        return np.stack([(self.cue_times[:, 0] == t).astype(float),
                         (self.cue_times[:, 1] == t).astype(float),
                         np.full(self.num_envs, float(t == self.length - 1))], 1)

    def _reset_state(self) -> np.ndarray:
        return self._observe()

    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
        query = self.t == self.length - 1
        correct = np.full(self.num_envs, query) & (actions == self.context[:, 0])
        charged = np.zeros(self.num_envs) if query else self.action_cost * (actions != 0)
        reward = correct.astype(float) - charged
        terminated = np.full(self.num_envs, query)
        self.t += 1
        obs = self._observe()
        self.t -= 1
        return obs, reward, terminated, correct
