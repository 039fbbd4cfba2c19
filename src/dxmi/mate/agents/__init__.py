"""RL agents: Double DQN for discrete actions, SAC for continuous ones."""

from __future__ import annotations

from dxmi.mate.agents.base import Agent, AgentConfig
from dxmi.mate.agents.dqn import DoubleDQN
from dxmi.mate.agents.encoder import Encoder
from dxmi.mate.agents.sac import SAC


def build_agent(encoder: Encoder, config: AgentConfig) -> Agent:
    """Double DQN when the tokenizer's action space is discrete, SAC otherwise."""
    action = encoder.tokenizer.action
    if action.discrete:
        return DoubleDQN(encoder, config, action.n)
    return SAC(encoder, config, action.dim)


__all__ = ["SAC", "Agent", "AgentConfig", "DoubleDQN", "Encoder", "build_agent"]
