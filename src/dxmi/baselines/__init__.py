"""Baselines run at equal energy evaluations: MALA, HMC and annealed importance sampling."""

from dxmi.baselines.ais import AISResult, ais
from dxmi.baselines.common import CountedEnergy, MCMCResult
from dxmi.baselines.hmc import hmc
from dxmi.baselines.mala import MALAChains, mala, mala_thinned

__all__ = ["AISResult", "CountedEnergy", "MCMCResult", "ais", "MALAChains", "hmc", "mala", "mala_thinned"]
