"""Policies: T-step Gaussian samplers pi_theta(x_{t+1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I)."""

from dxmi.policies.base import GaussianPolicy
from dxmi.policies.ddpm import DDPMSubsequencePolicy
from dxmi.policies.guided import ValueGuidedPolicy
from dxmi.policies.residual import ResidualMLPPolicy

__all__ = ["DDPMSubsequencePolicy", "GaussianPolicy", "ResidualMLPPolicy", "ValueGuidedPolicy"]
