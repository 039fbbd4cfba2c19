"""The fixed step tables of a DxMI sampler as a diffusers scheduler (written by ``dxmi export``).

Needs torch and diffusers only. Each step t = 0..T-1 (noise to data) calls the network at
``timesteps[t]`` and updates the sample with the arithmetic of the sampler it was exported from, so
that the same generator draws the same images as ``dxmi sample``:

- ``mode="policy"``: a T-step Gaussian policy (a trained DxMI sampler, or the untrained T-step
  policy): ``x <- coef_scale[t] * (x - coef_eps[t] * eps) + sigmas[t] * z``, z ~ N(0, I) drawn at
  every step, including the last (its learned sigma is small, not 0);
- ``mode="ancestral"``: the full DDPM ancestral chain on ``betas`` / ``alphas_cumprod``;
- ``mode="ddim"``: deterministic DDIM (eta = 0) on the listed diffusion indices.

The initial sample is ``init_noise_sigma * N(0, I)``. The tables are stored in float32 exactly as
the sampler held them.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin, SchedulerOutput

MODES = ("policy", "ancestral", "ddim")


class DxMIScheduler(SchedulerMixin, ConfigMixin):  # type: ignore[misc]
    """A fixed-step sampler; ``set_timesteps`` takes no other step count than the exported one."""

    order = 1
    config_name = "scheduler_config.json"  # type: ignore[assignment]

    @register_to_config
    def __init__(self, mode: str = "policy", timesteps: list[float] | None = None,
                 coef_scale: list[float] | None = None, coef_eps: list[float] | None = None,
                 sigmas: list[float] | None = None, betas: list[float] | None = None,
                 alphas_cumprod: list[float] | None = None, init_noise_sigma: float = 1.0,
                 num_train_timesteps: int = 1000, source: str = ""):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not timesteps:
            raise ValueError("the scheduler config lists no timesteps")
        n = len(timesteps)
        if mode == "policy":
            for name, table in (("coef_scale", coef_scale), ("coef_eps", coef_eps), ("sigmas", sigmas)):
                if table is None or len(table) != n:
                    raise ValueError(f"mode 'policy' needs {name} with one entry per timestep ({n})")
        elif betas is None or alphas_cumprod is None or len(betas) != len(alphas_cumprod):
            raise ValueError(f"mode {mode!r} needs betas and alphas_cumprod of equal length")
        self.init_noise_sigma = float(init_noise_sigma)
        self._tables = {k: torch.tensor(v, dtype=torch.float32) for k, v in
                        (("coef_scale", coef_scale), ("coef_eps", coef_eps), ("sigmas", sigmas),
                         ("betas", betas), ("alphas_cumprod", alphas_cumprod)) if v is not None}
        self.timesteps = torch.tensor(timesteps, dtype=torch.float32)
        self.num_inference_steps = n
        self._step_index = 0

    def __len__(self) -> int:
        return int(self.config["num_train_timesteps"])

    def set_timesteps(self, num_inference_steps: int | None = None, device: str | torch.device | None = None) -> None:
        """Reset to the first step; the step count is the exported one."""
        n = len(self.config["timesteps"])
        if num_inference_steps is not None and num_inference_steps != n:
            raise ValueError(f"this scheduler runs the exported {n} steps; num_inference_steps={num_inference_steps} "
                             "is not available (export another step count with `dxmi export --steps`)")
        self.timesteps = torch.tensor(self.config["timesteps"], dtype=torch.float32, device=device)
        self._tables = {k: v.to(device) for k, v in self._tables.items()}
        self._step_index = 0

    def scale_model_input(self, sample: torch.Tensor, timestep: torch.Tensor | float | None = None) -> torch.Tensor:
        return sample

    def _noise(self, sample: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else sample.device
        z = torch.randn(sample.shape, generator=generator, device=device, dtype=sample.dtype)
        return z.to(sample.device)

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | float, sample: torch.Tensor,
             generator: torch.Generator | None = None, return_dict: bool = True) -> SchedulerOutput | tuple:
        """One step of the chain from ``sample`` with the network's output ``model_output`` (eps)."""
        i = self._step_index
        if i >= len(self.timesteps):
            raise ValueError("all steps have been taken: call set_timesteps() to start a new chain")
        if float(timestep) != float(self.timesteps[i]):
            raise ValueError(f"step {i} runs at timestep {float(self.timesteps[i])}, received {float(timestep)}")
        eps, x, mode, tab = model_output, sample, self.config["mode"], self._tables
        if mode == "policy":
            mu = tab["coef_scale"][i] * (x - tab["coef_eps"][i] * eps)
            prev = mu + tab["sigmas"][i] * self._noise(x, generator)
        elif mode == "ancestral":
            k = int(self.timesteps[i])
            beta, ab = tab["betas"][k], tab["alphas_cumprod"][k]
            ab_prev = tab["alphas_cumprod"][k - 1] if k > 0 else torch.ones((), device=x.device)
            prev = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
            if k > 0:
                var = beta * (1 - ab_prev) / (1 - ab)
                prev = prev + var.sqrt() * self._noise(x, generator)
        else:  # ddim
            ab = tab["alphas_cumprod"][int(self.timesteps[i])]
            ab_next = (tab["alphas_cumprod"][int(self.timesteps[i + 1])] if i + 1 < len(self.timesteps)
                       else torch.ones((), device=x.device))
            x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            prev = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps
        self._step_index = i + 1
        if not return_dict:
            return (prev,)
        return SchedulerOutput(prev_sample=prev)
