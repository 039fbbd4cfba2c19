import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _one_thread_and_seed() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def tiny() -> list[str]:
    """Config overrides for a training run of seconds (4 rollouts of 4 episodes, width 16)."""
    return ["iterations=4", "eval_every=2", "warmup_iterations=1", "eval_episodes=8",
            "num_envs=4", "batch_episodes=4", "width=16", "agent.hidden=32"]
