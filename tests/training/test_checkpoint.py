"""dxmi.training.checkpoint: checkpoints round-trip nested state; missing and foreign files are refused."""

import os

import pytest
import torch

from dxmi.data import make_toy2d
from dxmi.training import load_checkpoint, save_checkpoint
from tests.helpers import affine_dxmi


def test_checkpoint_roundtrip_nested_state(tmp_path):
    algo = affine_dxmi()
    data = make_toy2d("8gaussians").sample(32, torch.Generator().manual_seed(0))
    algo.update(data)  # populates Adam state (int keys, step tensors)
    state = {"algorithm": algo.state_dict(), "note": "x", "list": [1, 2.5, None]}
    path = save_checkpoint(tmp_path / "c.safetensors", state)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    back = load_checkpoint(path)
    assert back["note"] == "x" and back["list"] == [1, 2.5, None]
    fresh = affine_dxmi(seed=5)
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
