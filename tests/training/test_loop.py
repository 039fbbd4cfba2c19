"""Outer loop: checkpoints round-trip, resume equals an uninterrupted run, non-finite stops."""

import os

import pytest
import torch

from dxmi.algorithms import DxMI, DxMIConfig
from dxmi.algorithms.base import Algorithm
from dxmi.data import make_toy2d
from dxmi.energies import MLPEnergy
from dxmi.nets import TimeMLP
from dxmi.records import Metrics
from dxmi.training import CSVLogger, NonFiniteLossError, Trainer, load_checkpoint, save_checkpoint
from dxmi.values import TimeDependentValue
from helpers import AffinePolicy


def _algo(seed=0):
    torch.manual_seed(seed)
    pol = AffinePolicy(T=3, D=2)
    val = TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 3)
    en = MLPEnergy(2, hidden=16, depth=2)
    cfg = DxMIConfig(batch_size=32, sampler_lr=1e-3, value_resample=True)
    return DxMI(pol, val, en, cfg, generator=torch.Generator().manual_seed(1))


def test_checkpoint_roundtrip_nested_state(tmp_path):
    algo = _algo()
    data = make_toy2d("8gaussians").sample(32, torch.Generator().manual_seed(0))
    algo.update(data)  # populates Adam state (int keys, step tensors)
    state = {"algorithm": algo.state_dict(), "note": "x", "list": [1, 2.5, None]}
    path = save_checkpoint(tmp_path / "c.safetensors", state)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    back = load_checkpoint(path)
    assert back["note"] == "x" and back["list"] == [1, 2.5, None]
    fresh = _algo(seed=5)
    fresh.load_state_dict(back["algorithm"])
    for a, b in zip(algo.policy.parameters(), fresh.policy.parameters()):
        assert torch.equal(a, b)
    keys = fresh.optimizers["sampler"].state_dict()["state"].keys()
    assert keys == algo.optimizers["sampler"].state_dict()["state"].keys()
    assert torch.equal(fresh.s2, algo.s2)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(tmp_path / "f.safetensors"))
    with pytest.raises(ValueError, match="not a dxmi checkpoint"):
        load_checkpoint(tmp_path / "f.safetensors")


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    ds = make_toy2d("8gaussians")
    kw = dict(batch_size=32, steps=8, seed=3, ckpt_every=2, progress=False, tensorboard=False)
    full = _algo()
    Trainer(full, ds.sample, out_dir=tmp_path / "full", **kw).fit()
    part = _algo()
    Trainer(part, ds.sample, out_dir=tmp_path / "part", max_steps_this_call=5, **kw).fit()  # interrupted
    resumed = _algo(seed=9)  # a new process: fresh objects, state only from the checkpoint
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


def test_csv_logger_adds_columns(tmp_path):
    lg = CSVLogger(tmp_path / "m.csv")
    lg.log(1, {"a": 1.0})
    lg.log(2, {"a": 2.0, "b": 3.0})
    text = (tmp_path / "m.csv").read_text().splitlines()
    assert text[0] == "step,a,b" and text[2].startswith("2,2,3")


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
