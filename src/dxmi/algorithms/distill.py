"""Warm start of a T-step policy from a training-free solver's path (optional, before DxMI).

A multistep solver (UniPC, DPM-Solver++) uses earlier network outputs, so it is not a Markov policy of
the form pi(x_{t+1} | x_t). Its path is still a function of x_t: the states x_0 (noise), ..., x_T of
the solver on T timesteps are deterministic given x_0, so a Markov mean can follow them. This
algorithm regresses the policy mean of a :class:`~dxmi.policies.DDPMSubsequencePolicy` on the same
timesteps onto the solver's next state, in units of the network output:

    L(theta) = mean_t mean_b || (mu_theta(x_t, t) - x_{t+1}^solver) / g_t ||^2,

g_t = |d mu / d eps| the policy's gain (:meth:`GaussianPolicy.mean_gain`), with fresh solver paths of
the frozen base model in every update (no data). DxMI then starts from a policy that already samples
about as well as the solver, instead of from the DDPM posterior on a subsequence.

Trained on the solver's states only (teacher forcing), the small one-step errors compound along the
policy's own chain (at T = 10 on the 2D presets the end of the chain drifts ~10x further from the
solver's than one step does). ``on_policy=True`` adds the policy's own deterministic states
x^_0 = x_0, x^_{t+1} = mu_theta(x^_t, t) (no gradient through the chain), each regressed onto the
solver's state from the same noise:

    L_on(theta) = mean_t mean_b || (mu_theta(x^_t, t) - x_{t+1}^solver) / g_t ||^2,

so the mean also learns to steer back to the solver's path from where it actually is (as in
DAgger, with the solver's path as the expert); the loss is (L + L_on) / 2.
"""

from __future__ import annotations

import torch
from torch import nn

from dxmi.algorithms.base import Algorithm, MethodAsForward, make_adam
from dxmi.diffusion.ddpm import EpsilonModel
from dxmi.policies.ddpm import DDPMSubsequencePolicy
from dxmi.records import Batch, Metrics, split_batch


class SolverDistillation(Algorithm):
    """``update(batch)`` ignores the batch's data (only its labels reach a class-conditional model)."""

    supports_distributed = True

    def __init__(self, policy: DDPMSubsequencePolicy, teacher: EpsilonModel, solver: str, spacing: str,
                 batch_size: int, lr: float = 1e-4, grad_clip: float | None = 1.0,
                 generator: torch.Generator | None = None, on_policy: bool = False):
        from dxmi.diffusion.solvers import solver_timesteps

        if not isinstance(policy, DDPMSubsequencePolicy):
            raise TypeError(f"solver warm start needs a DDPMSubsequencePolicy, got {type(policy).__name__}")
        ks = solver_timesteps(solver, teacher, policy.num_steps, spacing)
        ours = [round(float(k)) for k in policy.timesteps]
        if ks != ours:
            raise ValueError(f"the policy's timesteps {ours} differ from {solver} on {spacing!r} spacing {ks}: "
                             f"build the policy with subsequence={spacing!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.policy, self.teacher = policy, teacher.eval().requires_grad_(False)
        self.solver, self.spacing, self.batch_size, self.grad_clip = solver, spacing, batch_size, grad_clip
        self.on_policy = on_policy
        self.modules = {"policy": policy}
        self.mean_target = MethodAsForward(policy, "mean")  # what DDP wraps
        self.optimizers = {"policy": make_adam(policy.mean_parameters(), lr)}
        self.generator = generator or torch.Generator(device=policy.log_sigma_free.device)

    def train_targets(self) -> dict[str, nn.Module]:
        return {"policy": self.mean_target}

    def update(self, batch: Batch) -> Metrics:
        from dxmi.diffusion.solvers import solver_trajectory

        _, y = split_batch(batch)
        B, T = self.batch_size, self.policy.num_steps
        if y is not None:
            y = y[:B]
        path = solver_trajectory(self.teacher, self.solver, T, B, self.generator, self.spacing, y)
        states = path[:-1]  # (T, B, *S): the solver's x_0..x_{T-1}
        copies = 1
        if self.on_policy:
            states = torch.cat([states, self.own_states(path[0], y)], dim=1)  # (T, 2B, *S)
            copies = 2
        x = states.flatten(0, 1)  # step-major
        nxt = torch.cat([path[1:]] * copies, dim=1).flatten(0, 1)
        t = torch.arange(T, device=x.device).repeat_interleave(copies * B)
        yy = None if y is None else y.repeat(copies * T)
        mu = self.trained("policy")(x, t, yy)
        g = self.policy.mean_gain().to(x.device).clamp_min(1e-8)[t]
        per = ((mu - nxt) ** 2).flatten(1).mean(1) / g**2
        loss = per.mean()
        gnorm = self.optimizer_step("policy", loss, self.grad_clip)
        self.iteration += 1
        per = per.view(T, copies, B)
        metrics = {"loss_distill": loss, "loss_distill_last": per[-1, 0].mean(), "grad_norm": gnorm}
        if self.on_policy:
            metrics["loss_distill_own_last"] = per[-1, 1].mean()
        return Metrics.of(**metrics)

    @torch.no_grad()
    def own_states(self, x0: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The policy's deterministic chain x^_0 = x0, x^_{t+1} = mu(x^_t, t): its states x^_0..x^_{T-1},
        a (T, B, *S) tensor."""
        x, out = x0, []
        for t in range(self.policy.num_steps):
            out.append(x)
            x = self.policy.mean(x, torch.full((x.shape[0],), t, device=x.device), y)
        return torch.stack(out)
