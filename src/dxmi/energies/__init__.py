"""Energies E_phi(x): low on data; the model density is q(x) proportional to exp(-E(x))."""

from dxmi.energies.base import Energy
from dxmi.energies.gaussian import GaussianEnergy
from dxmi.energies.mlp import MLPEnergy

__all__ = ["Energy", "GaussianEnergy", "MLPEnergy"]
