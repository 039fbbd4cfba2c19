"""End-to-end: MATE learns the passive T-Maze; memoryless stays at chance."""

import pytest

from dxmi.mate.config import load_config
from dxmi.mate.train import MATETrainer

FAST = ["env.length=6", "iterations=40", "eval_every=40", "eval_episodes=64"]


@pytest.mark.slow
def test_mate_solves_short_tmaze(tmp_path) -> None:
    result = MATETrainer(load_config("tmaze", FAST), tmp_path, progress=False).run()
    assert result.success_rate >= 0.9


@pytest.mark.slow
def test_memoryless_is_at_chance_on_tmaze(tmp_path) -> None:
    cfg = load_config("tmaze", [*FAST, "memory=memoryless"])
    result = MATETrainer(cfg, tmp_path, progress=False).run()
    assert 0.3 <= result.success_rate <= 0.7
