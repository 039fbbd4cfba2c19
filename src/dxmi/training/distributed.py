"""Scale-out under ``torchrun``: the process group, DistributedDataParallel and per-rank randomness.

One :class:`Distributed` value describes this process's place in the job (rank, world size,
device) and does every cross-process thing the training needs:

- :meth:`Distributed.from_env` reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and joins
  the process group (NCCL on GPU, gloo on CPU); without them it is the single-process no-op.
- :meth:`Distributed.wrap` puts every module the algorithm trains in a
  ``DistributedDataParallel`` wrapper, stored beside the module (``algorithm.wrappers``): losses
  that train module ``name`` call ``algorithm.trained(name)``, so their backward pass averages the
  gradient over ranks. Everything else (rollouts, TD targets, sampling, EMA, checkpoints) keeps
  using the plain module, which is why nothing ever has to unwrap ``.module``:
  :meth:`dxmi.algorithms.base.Algorithm.trained` is the one place where wrapper and module meet.
- Data: every rank draws the same *global* batch from the shared data generator and keeps its own
  contiguous shard (:meth:`shard`), so B global = world size x B per rank, and a run's data stream
  does not depend on the number of ranks.
- Randomness of the update (rollout noise, transition draws) is per rank: the algorithm's
  generator is seeded with :meth:`seed` (rank 0 keeps the single-process seed). Checkpoints hold
  every rank's generator state, so a resumed multi-process run continues each rank's stream.
- Statistics that must agree across ranks (DxMI's velocity scale s_t^2) go through
  :meth:`all_mean`; logging and checkpoint writes happen on rank 0 only (:attr:`is_main`).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from dxmi.algorithms.base import Algorithm
from dxmi.records import Batch

__all__ = ["Distributed", "shutdown"]

_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class Distributed:
    """This process's rank in the job; ``world_size == 1`` is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @classmethod
    def from_env(cls, device: str | torch.device = "cpu", backend: str | None = None) -> Distributed:
        """Join the torchrun job described by the environment (or return the single-process value).

        On CUDA each process takes GPU ``LOCAL_RANK`` (``cuda`` or ``cuda:N`` in ``device`` is
        replaced by it) and NCCL; on CPU gloo. Calling it again in the same process reuses the group.
        """
        dev = torch.device(device)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=dev)
        if "RANK" not in os.environ:
            raise RuntimeError("WORLD_SIZE > 1 but RANK is not set: start multi-process runs with torchrun")
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("device cuda requested under torchrun but CUDA is not available")
            if local >= torch.cuda.device_count():
                raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs are visible")
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        if not dist.is_initialized():
            kwargs: dict[str, Any] = {}
            if dev.type == "cuda" and "device_id" in inspect.signature(dist.init_process_group).parameters:
                kwargs["device_id"] = dev  # binds NCCL to this process's GPU (barriers, collectives)
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world, **kwargs)
        elif dist.get_world_size() != world or dist.get_rank() != rank:
            raise RuntimeError(f"a process group with rank {dist.get_rank()}/{dist.get_world_size()} exists, "
                               f"but the environment says {rank}/{world}")
        return cls(rank=rank, world_size=world, local_rank=local, device=dev, backend=backend)

    # -- where this process stands -------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def seed(self, base: int) -> int:
        """A per-rank seed: ``base`` on rank 0, disjoint streams on the others."""
        return base + _SEED_STRIDE * self.rank

    # -- data -------------------------------------------------------------------------------------
    def local_batch_size(self, global_batch_size: int) -> int:
        if global_batch_size % self.world_size:
            raise ValueError(f"the global batch size {global_batch_size} is not divisible by the "
                             f"{self.world_size} processes; choose a multiple of {self.world_size}")
        return global_batch_size // self.world_size

    def shard(self, batch: Batch) -> Batch:
        """This rank's contiguous rows of a global batch (B, ...) -> (B / world, ...)."""
        n = self.local_batch_size(batch.shape[0])
        return batch[self.rank * n: (self.rank + 1) * n]

    # -- collectives ------------------------------------------------------------------------------
    def all_mean(self, x: Tensor) -> Tensor:
        """The mean of ``x`` over ranks (identity on one process); same shape as ``x``."""
        if not self.enabled:
            return x
        out = x.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    # -- modules ----------------------------------------------------------------------------------
    def wrap(self, algorithm: Algorithm, find_unused_parameters: bool = False) -> Algorithm:
        """Give ``algorithm`` DDP wrappers of its train targets (:meth:`Algorithm.train_targets`:
        the modules it trains, or a :class:`MethodAsForward` of the method its loss runs) and the
        cross-rank mean. DDP broadcasts rank 0's parameters at construction; the modules it does not
        wrap (EMA copies, a VGS target value: no trainable parameter) are broadcast here, so all ranks
        start identical. No-op on one process.
        """
        if not self.enabled:
            return algorithm
        if not algorithm.supports_distributed:
            raise ValueError(f"{type(algorithm).__name__} does not route its losses through "
                             "Algorithm.trained(); it cannot run under torchrun")
        kwargs: dict[str, Any] = {"device_ids": [self.device.index] if self.device.type == "cuda" else None,
                                  "find_unused_parameters": find_unused_parameters}
        # buffers (coefficient tables) are equal on every rank: no per-forward buffer broadcast
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
            kwargs["forward_sync_buffers"] = False  # torch >= 2.13
        else:
            kwargs["broadcast_buffers"] = False
        algorithm.wrappers = {name: DistributedDataParallel(m, **kwargs)
                              for name, m in algorithm.train_targets().items()}
        synced = {id(t) for w in algorithm.wrappers.values() for t in (*w.parameters(), *w.buffers())}
        for m in algorithm.modules.values():
            for t in (*m.parameters(), *m.buffers()):
                if id(t) not in synced:
                    synced.add(id(t))
                    dist.broadcast(t.data, src=0)
        algorithm.reduce_mean = self.all_mean
        return algorithm


def shutdown(synchronise: bool = False) -> None:
    """Leave the process group if this process joined one.

    With ``synchronise`` (a normal exit) every rank first waits at a barrier, so that no rank closes
    its connections while another still talks to it; after an error the rank leaves at once (its
    peers may never reach the barrier).
    """
    if dist.is_available() and dist.is_initialized():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()
