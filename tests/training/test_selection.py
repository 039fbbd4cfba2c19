"""Checkpoint selection on a validation proxy (dxmi.training.BestCheckpoint) and its wiring in train."""

import math

import pytest
import torch
from torch import nn

from dxmi.algorithms.base import Algorithm
from dxmi.records import Metrics
from dxmi.training import BestCheckpoint, load_checkpoint


class Counter(Algorithm):
    """One parameter w; each update adds 1 to it; the score of a state is scores[w]."""

    def __init__(self) -> None:
        self.w = nn.Parameter(torch.zeros(()))
        self.modules = {"m": nn.ParameterList([self.w])}
        self.optimizers = {}
        self.generator = torch.Generator().manual_seed(0)

    def update(self, batch):
        with torch.no_grad():
            self.w += 1
        self.iteration += 1
        return Metrics({"w": float(self.w.detach())})


def test_keeps_the_lowest_finite_score_and_restores_it(tmp_path):
    scores = [3.0, 1.0, 2.0, math.nan, 0.5, math.inf, 0.7]
    algo = Counter()
    sel = BestCheckpoint(tmp_path, lambda a: scores[int(a.w.detach())])
    seen = []
    for step in range(len(scores)):
        seen.append(sel(step, algo))
        algo.update(None)
    assert (sel.best, sel.best_step) == (0.5, 4)
    state = load_checkpoint(tmp_path / "best.safetensors")
    assert state["step"] == 4 and state["score"] == 0.5
    assert seen[3]["val_score"] != seen[3]["val_score"] and seen[3]["val_best"] == 1.0  # NaN never wins
    sel.restore(algo)
    assert float(algo.w) == 4.0 and algo.iteration == 4
    again = BestCheckpoint(tmp_path, lambda a: 0.6)  # a resumed run reads the best so far back
    assert (again.best, again.best_step) == (0.5, 4)
    again(9, algo)
    assert again.best_step == 4
    again.clear()
    assert not again.exists() and again.best == math.inf


def test_no_best_state_without_a_finite_score(tmp_path):
    algo = Counter()
    sel = BestCheckpoint(tmp_path, lambda a: math.nan)
    m = sel(0, algo)
    assert not sel.exists() and set(m) == {"val_score"}
    sel.restore(algo)  # nothing to restore: the algorithm is untouched
    assert float(algo.w) == 0.0


def test_a_non_main_rank_scores_but_does_not_write(tmp_path):
    sel = BestCheckpoint(tmp_path, lambda a: 1.0, is_main=False)
    sel(0, Counter())
    assert sel.best == 1.0 and not sel.exists()


@pytest.mark.slow
def test_train_keeps_the_best_state_and_sampling_uses_it(tmp_path):
    """A short DxMI run with selection: the start (step 0) and every 10th iteration are scored, the
    result and ``load_trained`` are the kept state, and a run without selection removes it."""
    from dxmi.config import load_config
    from dxmi.experiment import load_trained, pretrain, train

    over = [f"out={tmp_path}", "progress=false", "tensorboard=false", "pretrain.steps=200", "ckpt_every=0",
            "train.iterations=30", "train.algo.batch_size=128", "train.select.every=10",
            "train.select.n_samples=500", "log_every=10", "train.algo.sampler_lr=1e-3"]
    cfg = load_config("8gaussians", over)
    pretrain(cfg)
    res = train(cfg)
    assert res.best_step in (0, 10, 20, 30) and math.isfinite(res.best_score)
    best = load_checkpoint(tmp_path / "train" / "checkpoints" / "best.safetensors")
    assert best["step"] == res.best_step and best["score"] == pytest.approx(res.best_score)
    log = (tmp_path / "train" / "metrics.csv").read_text().splitlines()
    assert "val_score" in log[0] and len(log) == 4  # header + steps 10, 20, 30
    loaded = load_trained(cfg).sampling_policy.state_dict()
    for k, v in res.algorithm.sampling_policy.state_dict().items():
        torch.testing.assert_close(loaded[k], v)
    if res.best_step != 30:  # the kept state is not the last one
        last = load_checkpoint(tmp_path / "train" / "checkpoints" / "last.safetensors")
        assert last["algorithm"]["iteration"] == 30 and res.algorithm.iteration == res.best_step
    train(load_config("8gaussians", [*over, "train.select.every=0"]), resume=False)
    assert not (tmp_path / "train" / "checkpoints" / "best.safetensors").exists()
