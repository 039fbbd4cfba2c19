"""EBM training with VGS negatives (contrastive divergence) on 2D data, and the VGS CLI."""

import sys
import types

import torch

from dxmi.algorithms.ebm_vgs import EBMVGS
from dxmi.algorithms.vgs import make_config
from dxmi.cli.main import main
from dxmi.energies.mlp import MLPEnergy


def test_vgs_ebm_learns_a_2d_blob():
    torch.manual_seed(0)
    centre = torch.tensor([1.5, 1.5])
    g = torch.Generator().manual_seed(0)
    cfg = make_config("ebm", ["num_steps=5", "s2_start=0.5", "s2_end=0.05", "variant=ve", "batch_size=128",
                              "iterations=1", "value_lr=3e-3", "s_init_lr=1e-2", "net.hidden=32", "net.depth=2",
                              "net.time_dim=16", "td_batch=640", "energy_clip=50.0"])
    algo = EBMVGS(MLPEnergy(2, hidden=32, depth=2), 2, cfg, energy_lr=3e-3, reg=0.01, vgs_steps=2)
    neg0 = algo.negatives.sample(1000, torch.Generator().manual_seed(1))
    for _ in range(100):
        batch = centre + 0.4 * torch.randn(128, 2, generator=g)
        m = algo.update(batch)
        assert m.all_finite()
    with torch.no_grad():
        e_data, e_far = algo.energy_model(centre[None]), algo.energy_model(-centre[None])
    assert e_data.item() < e_far.item()
    neg = algo.negatives.sample(1000, torch.Generator().manual_seed(1))
    assert (neg.mean(0) - centre).norm() < 0.7 * (neg0.mean(0) - centre).norm()


def test_cli_train_sample_evaluate_with_a_user_energy(tmp_path, monkeypatch, capsys):
    mod = types.ModuleType("user_energies_cli")
    mod.bowl = lambda x: 0.5 * ((x - 1.0) ** 2).sum(1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "user_energies_cli", mod)
    out = str(tmp_path / "run")
    small = ["--set", "iterations=5", "--set", "num_steps=3", "--set", "batch_size=32", "--set", "net.hidden=16",
             "--set", "net.time_dim=8"]
    assert main(["vgs", "train", "--target", "user_energies_cli:bowl", "--dim", "2", "--out", out, "--no-progress",
                 *small]) == 0
    assert main(["vgs", "sample", "--out", out, "--n", "50"]) == 2  # the folder alone imports no code
    assert "--allow-import user_energies_cli" in capsys.readouterr().err
    assert main(["vgs", "sample", "--out", out, "--n", "50", "--allow-import", "user_energies_cli"]) == 0
    assert main(["vgs", "evaluate", "--out", out, "--n", "50", "--target", "user_energies_cli:bowl"]) == 0
    assert (tmp_path / "run" / "samples.npy").is_file() and (tmp_path / "run" / "eval.json").is_file()
    assert main(["vgs", "train", "--target", "nope", "--out", out]) == 2
    assert "unknown target" in capsys.readouterr().err
