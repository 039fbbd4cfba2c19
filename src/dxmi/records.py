"""Typed records passed between the parts: steps, trajectories, transition batches, metrics.

Shapes use ``B`` for batch, ``T`` for the number of sampler steps and ``*S`` for the shape of one
sample (``(D,)`` for vectors, ``(C, H, W)`` for images). Time follows the package convention:
``t = 0`` is noise, ``t = T`` is the sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Step:
    """One policy step ``x_t -> x_{t+1}``.

    Attributes:
        x: ``(B, *S)`` state ``x_t``.
        next_x: ``(B, *S)`` sampled ``x_{t+1} = mean + sigma * noise``.
        mean: ``(B, *S)`` policy mean ``mu_theta(x_t, t)``.
        sigma: ``()`` or ``(B,)`` step std ``sigma_t``.
        noise: ``(B, *S)`` the standard normal draw used.
        t: integer step index.
    """

    x: Tensor
    next_x: Tensor
    mean: Tensor
    sigma: Tensor
    noise: Tensor
    t: int


@dataclass(frozen=True)
class Trajectory:
    """A batch of whole rollouts.

    Attributes:
        states: ``(T + 1, B, *S)``; ``states[t]`` is ``x_t``, ``states[T]`` the samples.
        log_sigma: ``(T,)`` the step log-stds used.
        labels: ``(B,)`` long class labels the chains were conditioned on, or None (unconditional).
    """

    states: Tensor
    log_sigma: Tensor
    labels: Tensor | None = None

    @property
    def num_steps(self) -> int:
        return self.states.shape[0] - 1

    @property
    def samples(self) -> Tensor:
        return self.states[-1]


@dataclass(frozen=True)
class TransitionBatch:
    """Transitions drawn from a trajectory buffer (possibly from mixed steps).

    Attributes:
        x: ``(N, *S)`` states ``x_t``.
        next_x: ``(N, *S)`` the stored ``x_{t+1}``.
        t: ``(N,)`` long step indices.
        y: ``(N,)`` long class labels of the transitions' chains, or None (unconditional).
    """

    x: Tensor
    next_x: Tensor
    t: Tensor
    y: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass(frozen=True)
class LabelledBatch:
    """A data batch with class labels, for class-conditional training.

    Attributes:
        x: ``(B, *S)`` data.
        y: ``(B,)`` long labels in ``0..K-1``.
    """

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.y.shape != (self.x.shape[0],) or self.y.dtype != torch.long:
            raise ValueError(f"LabelledBatch: expected labels of shape ({self.x.shape[0]},) and dtype long, "
                             f"received {tuple(self.y.shape)} {self.y.dtype}")

    @property
    def shape(self) -> torch.Size:
        """The shape of ``x`` (so that shape checks read the same for plain and labelled batches)."""
        return self.x.shape

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, rows: slice) -> LabelledBatch:
        return LabelledBatch(self.x[rows], self.y[rows])

    def to(self, device: torch.device | str) -> LabelledBatch:
        return LabelledBatch(self.x.to(device), self.y.to(device))


#: what a Trainer's batch source returns and ``Algorithm.update`` receives
Batch = Tensor | LabelledBatch


def split_batch(batch: Batch) -> tuple[Tensor, Tensor | None]:
    """(data, labels or None) of a plain or labelled batch."""
    return (batch.x, batch.y) if isinstance(batch, LabelledBatch) else (batch, None)


class Metrics(Mapping[str, float]):
    """Scalar metrics of one update: an immutable mapping of name -> float.

    Algorithms return one per ``update``; the training loop logs them. Values are plain floats
    (tensors are converted with ``.item()`` when the record is made).
    """

    def __init__(self, data: Mapping[str, float] | None = None):
        self._data: dict[str, float] = {k: float(v) for k, v in (data or {}).items()}

    @classmethod
    def of(cls, **kwargs: float | Tensor) -> Metrics:
        return cls({k: float(v.detach().item()) if isinstance(v, Tensor) else float(v)
                    for k, v in kwargs.items()})

    def __getitem__(self, key: str) -> float:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Metrics({self._data})"

    def merged(self, other: Mapping[str, float], prefix: str = "") -> Metrics:
        out = dict(self._data)
        out.update({prefix + k: float(v) for k, v in other.items()})
        return Metrics(out)

    def all_finite(self) -> bool:
        return all(math.isfinite(v) for v in self._data.values())
