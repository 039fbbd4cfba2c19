"""dxmi.training.loop: resume equals an uninterrupted run, non-finite stops, runs are reproducible."""

import pytest
import torch

from dxmi.algorithms.base import Algorithm
from dxmi.data import make_toy2d
from dxmi.records import Metrics
from dxmi.training import NonFiniteLossError, Trainer, load_checkpoint
from tests.helpers import affine_dxmi


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    ds = make_toy2d("8gaussians")
    kw = dict(batch_size=32, steps=8, seed=3, ckpt_every=2, progress=False, tensorboard=False)
    full = affine_dxmi()
    Trainer(full, ds.sample, out_dir=tmp_path / "full", **kw).fit()
    part = affine_dxmi()
    Trainer(part, ds.sample, out_dir=tmp_path / "part", max_steps_this_call=5, **kw).fit()  # interrupted
    resumed = affine_dxmi(seed=9)  # a new process: fresh objects, state only from the checkpoint
    r = Trainer(resumed, ds.sample, out_dir=tmp_path / "part", **kw).fit()
    assert r.resumed_from == 5
    for a, b in zip(full.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(full.energy.parameters(), resumed.energy.parameters()):
        assert torch.equal(a, b)
    rows = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(set(steps))  # no duplicated rows after the resume


class _Exploding(Algorithm):
    def __init__(self):
        self.w = torch.nn.Linear(1, 1)
        self.modules = {"w": self.w}
        self.optimizers = {}
        self.generator = torch.Generator()

    def update(self, batch):
        self.iteration += 1
        return Metrics.of(loss=float("nan") if self.iteration == 5 else 1.0)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    ds = make_toy2d("moons")
    t = Trainer(_Exploding(), ds.sample, batch_size=4, steps=10, out_dir=tmp_path, ckpt_every=2,
                progress=False, tensorboard=False)
    with pytest.raises(NonFiniteLossError, match="non-finite metrics at step 5"):
        t.fit()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")["step"] == 4


def test_runs_are_reproducible_whatever_ran_before(tmp_path):
    """Network initialisation is seeded by the run's config, not by the global RNG's history."""
    from dxmi.config import load_config
    from dxmi.experiment import pretrain

    params = []
    for i, global_seed in enumerate((123, 999)):
        torch.manual_seed(global_seed)
        cfg = load_config("moons", [f"out={tmp_path / str(i)}", "pretrain.steps=5", "progress=false",
                                    "tensorboard=false", "pretrain.net.hidden=16"])
        params.append([p.detach().clone() for p in pretrain(cfg).model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params))
