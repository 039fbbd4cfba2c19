"""A preallocated on-policy buffer of B trajectories of T steps: a (T + 1, B, *S) tensor (and the
(B,) class labels of class-conditional chains)."""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.records import Trajectory, TransitionBatch


class TrajectoryBuffer:
    """Holds the current iteration's rollouts; ``store`` overwrites in place."""

    def __init__(self, num_steps: int, capacity: int, sample_shape: tuple[int, ...],
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.num_steps = num_steps
        self.capacity = capacity
        self.sample_shape = tuple(sample_shape)
        self.states = torch.empty((num_steps + 1, capacity, *self.sample_shape), device=device, dtype=dtype)
        self.labels = torch.zeros(capacity, dtype=torch.long, device=device)
        self.labelled = False
        self.size = 0

    def store(self, traj: Trajectory) -> None:
        s = traj.states
        if s.shape[0] != self.num_steps + 1 or tuple(s.shape[2:]) != self.sample_shape:
            raise ValueError(f"trajectory of shape {tuple(s.shape)} does not fit buffer "
                             f"(T + 1 = {self.num_steps + 1}, B <= {self.capacity}, S = {self.sample_shape})")
        n = s.shape[1]
        if n > self.capacity:
            raise ValueError(f"{n} trajectories exceed the buffer capacity {self.capacity}")
        if traj.labels is not None and traj.labels.shape != (n,):
            raise ValueError(f"trajectory labels of shape {tuple(traj.labels.shape)} do not match its {n} chains")
        if not _same_storage(s, self.states[:, :n]):  # a rollout written into the buffer needs no copy
            self.states[:, :n].copy_(s)
        self.labelled = traj.labels is not None
        if traj.labels is not None:
            self.labels[:n].copy_(traj.labels)
        self.size = n

    def slots(self, n: int) -> Tensor:
        """The (T + 1, n, *S) storage of the next n trajectories, to roll out into in place (then
        :meth:`store` the trajectory, which skips the copy)."""
        if n > self.capacity:
            raise ValueError(f"{n} trajectories exceed the buffer capacity {self.capacity}")
        return self.states[:, :n]

    def clear(self) -> None:
        self.size = 0

    def _check(self) -> None:
        if self.size == 0:
            raise RuntimeError("the trajectory buffer is empty: store a rollout first")

    @property
    def samples(self) -> Tensor:
        self._check()
        return self.states[self.num_steps, : self.size]

    @property
    def sample_labels(self) -> Tensor | None:
        """(B,) labels of the stored chains, or None for unconditional ones."""
        self._check()
        return self.labels[: self.size] if self.labelled else None

    def at(self, t: int) -> TransitionBatch:
        """All B transitions x_t -> x_{t+1} of step t."""
        self._check()
        n = self.size
        tt = torch.full((n,), t, dtype=torch.long, device=self.states.device)
        return TransitionBatch(x=self.states[t, :n], next_x=self.states[t + 1, :n], t=tt, y=self.sample_labels)

    def transitions(self) -> TransitionBatch:
        """All T * B stored transitions in one batch, step by step (t = 0 first)."""
        self._check()
        n, T = self.size, self.num_steps
        dev = self.states.device
        t = torch.arange(T, device=dev).repeat_interleave(n)
        y = self.sample_labels
        return TransitionBatch(x=self.states[:T, :n].reshape(T * n, *self.sample_shape),
                               next_x=self.states[1:, :n].reshape(T * n, *self.sample_shape), t=t,
                               y=None if y is None else y.repeat(T))

    def sample(self, n: int, generator: torch.Generator | None = None) -> TransitionBatch:
        """n transitions drawn uniformly (with replacement) from all T * B stored ones."""
        self._check()
        dev = self.states.device
        flat = torch.randint(0, self.num_steps * self.size, (n,), generator=generator, device=dev)
        t = flat // self.size
        b = flat % self.size
        y = self.labels[b] if self.labelled else None
        return TransitionBatch(x=self.states[t, b], next_x=self.states[t + 1, b], t=t, y=y)


def _same_storage(a: Tensor, b: Tensor) -> bool:
    """``a`` is ``b`` (the same memory, shape and strides)."""
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
