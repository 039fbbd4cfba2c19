"""EBM training by contrastive divergence with VGS samples instead of MCMC.

One :meth:`EBMVGS.update` on a data batch ``x (B, D)``:

1. negatives ``x^- ~`` VGS(E_theta) (``T`` steps, last step ``grad E_theta``);
2. energy step on ``L = mean E(x) - mean E(x^-) + gamma (mean m(x)^2 + mean m(x^-)^2)``, where
   ``m = Energy.magnitude`` is the energy less any fixed base term (the loss of
   :class:`~dxmi.algorithms.LangevinCD` and of DxMI's energy step, one function:
   :func:`~dxmi.algorithms.losses.contrastive_divergence`);
3. ``vgs_steps`` VGS TD iterations against the updated energy (:meth:`VGSNegatives.update`).

:class:`VGSNegatives` is the reusable part: "give me negatives for this energy, and keep adapting to
it". The anomaly-detection detector can use it wherever it would run MCMC:
``neg.update()`` after each energy step, ``neg.sample(n, generator)`` for negatives.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dxmi.algorithms.base import Algorithm, make_adam
from dxmi.algorithms.losses import contrastive_divergence
from dxmi.algorithms.vgs import VGS, VGSConfig
from dxmi.energies.base import Energy
from dxmi.nets.mlp import check_shape
from dxmi.records import Batch, Metrics
from dxmi.targets.base import Target


class EnergyTarget(Target):
    """A learnable :class:`Energy` ``E_theta (B, D) -> (B,)`` seen as a VGS target."""

    def __init__(self, energy_model: Energy, dim: int):
        super().__init__(dim)
        self.model = energy_model

    def energy(self, x: Tensor) -> Tensor:
        return self.model(x)


class VGSNegatives:
    """A VGS sampler that tracks a changing energy: ``update()`` runs ``steps`` VGS iterations,
    ``sample(n, generator)`` returns ``(n, D)`` negatives (detached). ``generator`` drives the VGS
    updates (default: one seeded from ``cfg.seed``)."""

    def __init__(self, energy_model: Energy, dim: int, cfg: VGSConfig, steps: int = 1,
                 generator: torch.Generator | None = None):
        if cfg.replay_chains:
            raise ValueError("replay_chains must be 0 for EBM training: the replay chains cache energies of a "
                             f"fixed target, and the EBM changes every step (got replay_chains={cfg.replay_chains})")
        self.target = EnergyTarget(energy_model, dim)
        self.vgs = VGS(self.target, cfg, generator=generator)
        self.steps = steps

    def update(self) -> Metrics:
        m = Metrics()
        for _ in range(self.steps):
            m = self.vgs.update(None)
        return m

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.vgs.sampler.sample(n, generator, noise_scale=self.vgs.cfg.sample_noise).detach()


class EBMVGS(Algorithm):
    """Contrastive divergence with VGS negatives. ``update(batch (B, D)) -> Metrics``.

    The inner VGS steps under this algorithm's hooks (loss scaler, DDP wrappers of its ``vgs_*``
    modules, cross-rank mean), so the energy and the sampler train alike under fp16 or torchrun.
    """

    supports_distributed = True

    def __init__(self, energy_model: Energy, dim: int, cfg: VGSConfig, energy_lr: float = 1e-3,
                 reg: float = 0.1, vgs_steps: int = 1, max_grad_norm: float | None = 1.0,
                 generator: torch.Generator | None = None):
        self.energy_model = energy_model.to(cfg.device)
        self.dim = dim
        self.negatives = VGSNegatives(self.energy_model, dim, cfg, steps=vgs_steps, generator=generator)
        self.reg = reg
        self.max_grad_norm = max_grad_norm
        self.generator = self.negatives.vgs.generator
        self.modules = {"energy": self.energy_model,
                        **{f"vgs_{k}": m for k, m in self.negatives.vgs.modules.items()}}
        self.optimizers = {"energy": make_adam(self.energy_model.parameters(), energy_lr, cfg.fused_adam),
                           **{f"vgs_{k}": o for k, o in self.negatives.vgs.optimizers.items()}}
        self.iteration = 0

    def extra_state(self) -> dict[str, Any]:
        return self.negatives.vgs.extra_state()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.negatives.vgs.load_extra_state(state)

    def _share_hooks(self) -> None:
        """Hand this algorithm's scaler, wrappers and cross-rank mean to the inner VGS."""
        vgs = self.negatives.vgs
        vgs.grad_scaler, vgs.reduce_mean = self.grad_scaler, self.reduce_mean
        vgs.wrappers = None if self.wrappers is None else {
            k.removeprefix("vgs_"): w for k, w in self.wrappers.items() if k.startswith("vgs_")}

    def update(self, batch: Batch) -> Metrics:
        batch = self.unlabelled(batch)
        check_shape("EBMVGS batch", batch, (None, self.dim))
        self._share_hooks()
        neg = self.negatives.sample(batch.shape[0], self.generator)
        energy = self.trained("energy")
        e_pos, e_neg = energy(batch), energy(neg)
        loss = contrastive_divergence(self.energy_model, batch, e_pos, neg, e_neg, self.reg)
        self.optimizer_step("energy", loss, self.max_grad_norm)
        self.energy_model.zero_grad(set_to_none=True)
        vm = self.negatives.update()
        self.energy_model.zero_grad(set_to_none=True)
        self.iteration += 1
        return Metrics.of(cd_loss=loss, e_pos=e_pos.mean(), e_neg=e_neg.mean()).merged(vm, prefix="vgs_")
