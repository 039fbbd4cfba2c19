"""Baselines run at equal energy evaluations: MALA, HMC, parallel tempering and annealed importance sampling.

Each is a :class:`Sampler` (``MALA``, ``HMC``, ``ParallelTempering``, ``AIS``: settings at construction,
``sample(n, generator)``); the function forms ``mala``, ``mala_thinned``, ``hmc``, ``parallel_tempering``,
``ais`` draw the same states.
"""

from dxmi.baselines.ais import AIS, AISResult, ais
from dxmi.baselines.common import CountedEnergy, MCMCResult, Sampler
from dxmi.baselines.hmc import HMC, hmc
from dxmi.baselines.mala import MALA, MALAChains, mala, mala_thinned
from dxmi.baselines.tempering import ParallelTempering, TemperingResult, parallel_tempering

__all__ = ["AIS", "AISResult", "CountedEnergy", "HMC", "MALA", "MALAChains", "MCMCResult", "ParallelTempering",
           "Sampler", "TemperingResult", "ais", "hmc", "mala", "mala_thinned", "parallel_tempering"]
