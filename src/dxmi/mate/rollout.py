"""Run batched episodes with an agent: O(1) memory work per step for MATE."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from dxmi.mate.agents import Agent
from dxmi.mate.envs import BatchedContextualEnv
from dxmi.mate.replay import EpisodeBatch


@dataclass(frozen=True)
class EpisodeStats:
    """Per-episode outcome: ``returns`` ``(B,)``, ``success`` ``(B,)`` bool, ``steps`` taken."""

    returns: np.ndarray
    success: np.ndarray
    steps: int


@torch.no_grad()
def run_episodes(env: BatchedContextualEnv, agent: Agent, explore: bool, seed: int,
                 generator: torch.Generator) -> tuple[EpisodeBatch, EpisodeStats]:
    """Play ``env.num_envs`` episodes to the end; return them padded to ``env.max_steps``.

    The memory is advanced one transition per step (``Encoder.absorb``), never re-run over the
    history. Buffers are allocated once per call, on the agent's device; per step only the
    observation goes to the device and the action comes back to the (numpy) environment.
    """
    was_training = agent.training
    agent.eval()
    device = agent.device
    zeros = functools.partial(torch.zeros, device=device)
    b, t_max = env.num_envs, env.max_steps
    obs_np, info = env.reset(seed=seed)
    obs = zeros(b, t_max + 1, env.obs_dim)
    actions = (zeros(b, t_max, dtype=torch.long) if env.action.discrete
               else zeros(b, t_max, env.action.dim))
    rewards = zeros(b, t_max)
    terminated = zeros(b, t_max)
    valid = zeros(b, t_max)
    context = torch.as_tensor(info["context"], dtype=torch.float32).to(device)
    obs[:, 0] = torch.as_tensor(obs_np)
    mem_out, state = agent.encoder.begin(b, context)
    returns = np.zeros(b)
    steps = 0
    t = 0
    for t in range(t_max):
        live = torch.as_tensor(~env.done)
        f = agent.encoder.features(obs[:, t], mem_out)
        a = agent.act(f, explore, generator)
        next_np, r_np, term_np, _, info = env.step(a.cpu().numpy())
        r = torch.as_tensor(r_np, dtype=torch.float32).to(device)
        obs[:, t + 1] = torch.as_tensor(next_np)
        actions[:, t] = a
        rewards[:, t] = r
        terminated[:, t] = torch.as_tensor(term_np, dtype=torch.float32)
        valid[:, t] = live
        returns += r_np
        steps += int(live.sum())
        if env.done.all():
            break
        mem_out, state = agent.encoder.absorb(state, obs[:, t], a, r, obs[:, t + 1])
    obs[:, t + 2:] = obs[:, t + 1: t + 2]
    agent.train(was_training)
    batch = EpisodeBatch(obs, actions, rewards, terminated, valid, context)
    return batch, EpisodeStats(returns, info["success"].copy(), steps)
