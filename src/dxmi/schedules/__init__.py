"""Noise schedules: coefficient tables of the base diffusion and of the T-step chains.

- :class:`DiscreteSchedule` -- the base model's N-step forward process (betas, alpha_bar).
- :class:`StepSchedule` -- the T-step sampler's table (continuous timesteps, alpha_bar per state,
  initial per-step std), built from a base schedule by a subsequence rule.
- :class:`VGSSchedule` -- the Value Gradient Sampler's tables (s_t^2, alpha_t, sigma_t).
"""

from dxmi.schedules.discrete import CosineSchedule, DiscreteSchedule, LinearBetaSchedule
from dxmi.schedules.subsequence import (
    SUBSEQUENCES,
    FastDPMQuadratic,
    IndexSubsequence,
    LeadingSubsequence,
    LinspaceSubsequence,
    StepSchedule,
    SubsequenceRule,
    TrailingSubsequence,
    UniformSubsequence,
    make_subsequence,
)
from dxmi.schedules.vgs import S2_SCHEDULES, VGSSchedule

__all__ = [
    "S2_SCHEDULES",
    "SUBSEQUENCES",
    "CosineSchedule",
    "DiscreteSchedule",
    "FastDPMQuadratic",
    "IndexSubsequence",
    "LeadingSubsequence",
    "LinearBetaSchedule",
    "LinspaceSubsequence",
    "StepSchedule",
    "SubsequenceRule",
    "TrailingSubsequence",
    "UniformSubsequence",
    "VGSSchedule",
    "make_subsequence",
]
