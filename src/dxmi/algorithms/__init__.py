"""Algorithms: each is one ``update(batch) -> Metrics`` step over parts passed in at construction.

- :class:`DDPMTraining` -- pretrain the base epsilon-network.
- :class:`DxMI` -- max-ent IRL: EBM step + DxDP (TD value + one-step reparameterised policy step).
- :class:`GCD` -- the same machinery with the policy-gradient sampler update DxDP replaces.
- :class:`SolverDistillation` -- optional warm start of the T-step policy from a diffusers solver's path.
- :class:`LangevinCD` -- an EBM trained by short-run Langevin contrastive divergence (the MCMC baseline).
"""

from dxmi.algorithms.base import Algorithm
from dxmi.algorithms.ddpm import DDPMTraining
from dxmi.algorithms.distill import SolverDistillation
from dxmi.algorithms.dxmi import DxMI, DxMIConfig
from dxmi.algorithms.gcd import GCD
from dxmi.algorithms.langevin_cd import LangevinCD, LangevinCDConfig

SAMPLER_UPDATES: dict[str, type[DxMI]] = {"dxdp": DxMI, "gcd": GCD}

__all__ = ["SAMPLER_UPDATES", "GCD", "Algorithm", "DDPMTraining", "DxMI", "DxMIConfig", "LangevinCD",
           "LangevinCDConfig", "SolverDistillation"]
