"""Samplers of known (unnormalised) targets: the Value Gradient Sampler policy."""

from dxmi.samplers.vgs import (
    S2_SCHEDULES,
    ValueGradientSampler,
    VGSRollout,
    VGSSchedule,
    VGSValue,
)

__all__ = ["S2_SCHEDULES", "VGSRollout", "VGSSchedule", "VGSValue", "ValueGradientSampler"]
