"""Preallocated replay of whole episodes.

Episodes are stored padded to ``max_len`` steps with a validity mask, so a sampled batch is a set
of complete, aligned sequences the memory can run over in one pass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.mate.tokenizer import ActionSpec


@dataclass(frozen=True)
class EpisodeBatch:
    """``B`` whole episodes padded to ``T`` steps.

    Attributes:
        obs: ``(B, T + 1, o)``; ``obs[:, t]`` is ``o_t`` (after the end: the last observation).
        actions: ``(B, T)`` long (discrete) or ``(B, T, A)`` float.
        rewards: ``(B, T)``.
        terminated: ``(B, T)`` float, 1 where ``t`` ended the episode by termination
            (no bootstrap); truncation does not set it.
        valid: ``(B, T)`` float, 1 for steps that happened.
        context: ``(B, c)`` the true context (used only by the ``true_context`` upper bound).
    """

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    terminated: Tensor
    valid: Tensor
    context: Tensor

    @property
    def batch_size(self) -> int:
        return self.obs.shape[0]

    @property
    def length(self) -> int:
        return self.rewards.shape[1]

    def to(self, device: torch.device | str) -> EpisodeBatch:
        return EpisodeBatch(*(t.to(device) for t in (self.obs, self.actions, self.rewards,
                                                    self.terminated, self.valid, self.context)))


class EpisodeReplay:
    """Ring buffer of ``capacity`` episodes, all tensors allocated once.

    Args:
        capacity: number of episodes kept.
        max_len: the longest episode (``T``).
        obs_dim, action, context_dim: task sizes.
        device: where the episodes are stored (the learner's device, so a sampled batch needs
            no copy); indices are drawn with a CPU generator on any device.
    """

    def __init__(self, capacity: int, max_len: int, obs_dim: int, action: ActionSpec,
                 context_dim: int, device: torch.device | str = "cpu") -> None:
        if capacity < 1 or max_len < 1:
            raise ValueError(f"capacity and max_len must be >= 1; got {capacity}, {max_len}")
        self.capacity = capacity
        self.max_len = max_len
        self.action = action
        self.device = torch.device(device)
        zeros = functools.partial(torch.zeros, device=self.device)
        self.obs = zeros(capacity, max_len + 1, obs_dim)
        self.actions = (zeros(capacity, max_len, dtype=torch.long) if action.discrete
                        else zeros(capacity, max_len, action.dim))
        self.rewards = zeros(capacity, max_len)
        self.terminated = zeros(capacity, max_len)
        self.valid = zeros(capacity, max_len)
        self.context = zeros(capacity, context_dim)
        self.cursor = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _fields(self) -> tuple[Tensor, ...]:
        return (self.obs, self.actions, self.rewards, self.terminated, self.valid, self.context)

    def add(self, batch: EpisodeBatch) -> None:
        """Write the ``B`` episodes of ``batch`` (padded to ``max_len``) over the oldest ones."""
        if batch.length != self.max_len or batch.obs.shape[-1] != self.obs.shape[-1]:
            raise ValueError(f"episodes must be padded to T={self.max_len} with obs "
                             f"{self.obs.shape[-1]}; got obs {tuple(batch.obs.shape)}")
        idx = (self.cursor + torch.arange(batch.batch_size, device=self.device)) % self.capacity
        src = (batch.obs, batch.actions, batch.rewards, batch.terminated, batch.valid,
               batch.context)
        for dst, s in zip(self._fields(), src):
            dst[idx] = s.to(self.device, dst.dtype)
        self.cursor = int((self.cursor + batch.batch_size) % self.capacity)
        self.size = min(self.size + batch.batch_size, self.capacity)

    def sample(self, n: int, generator: torch.Generator) -> EpisodeBatch:
        """``n`` episodes drawn uniformly with replacement."""
        if self.size == 0:
            raise RuntimeError("replay is empty")
        idx = torch.randint(self.size, (n,), generator=generator, device=generator.device)
        idx = idx.to(self.device)
        return EpisodeBatch(*(f[idx] for f in self._fields()))

    def state_dict(self) -> dict[str, Tensor]:
        """The stored episodes (on the replay's device) and the cursor, keys ``replay.*``."""
        names = ("obs", "actions", "rewards", "terminated", "valid", "context")
        out = {f"replay.{k}": v for k, v in zip(names, self._fields())}
        out["replay.cursor_size"] = torch.tensor([self.cursor, self.size])
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in ("obs", "actions", "rewards", "terminated", "valid", "context"):
            getattr(self, name).copy_(state[f"replay.{name}"])
        self.cursor, self.size = (int(v) for v in state["replay.cursor_size"].tolist())
