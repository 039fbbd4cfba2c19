"""Value functions V(x, t), t = 0..T-1 (V(., T) is the energy, which the algorithm supplies)."""

from dxmi.values.base import CostToGo, ValueFunction
from dxmi.values.returns import lambda_returns, monte_carlo_returns
from dxmi.values.shared import SharedEnergyValue
from dxmi.values.time_cost import SigmoidTimeCost, TimeCost, ZeroTimeCost
from dxmi.values.time_dependent import TimeDependentValue

__all__ = [
    "CostToGo",
    "SharedEnergyValue",
    "SigmoidTimeCost",
    "TimeCost",
    "TimeDependentValue",
    "ValueFunction",
    "ZeroTimeCost",
    "lambda_returns",
    "monte_carlo_returns",
]
