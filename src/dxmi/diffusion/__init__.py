"""The base diffusion model: an epsilon-network on a discrete schedule, its training loss and its
classical samplers (1000-step ancestral DDPM, DDIM at any step count)."""

from dxmi.diffusion.ddpm import EpsilonModel

__all__ = ["EpsilonModel"]
