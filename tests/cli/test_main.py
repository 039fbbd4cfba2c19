"""dxmi.cli.main: one-line errors for bad input, help, and the pipeline end to end on a tiny run."""

import json

import numpy as np
import pytest
import torch

from dxmi.cli.main import main


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_bad_input_gives_one_line_errors(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path / "r"), "--set", "pretrain.bogus=1"]) == 2
    assert "pretrain.bogus" in _err(capsys)
    assert main(["evaluate", "--out", str(tmp_path / "missing")]) == 2
    assert "not found" in _err(capsys)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]))
    assert main(["pretrain", "--out", str(tmp_path / "r2"), "--set", "data.name=file",
                 "--set", f"data.path={bad}"]) == 2
    assert "NaN" in _err(capsys) or "non-finite" in _err(capsys).lower()
    if not torch.cuda.is_available():
        assert main(["pretrain", "--out", str(tmp_path / "r3"), "--device", "cuda"]) == 2
        assert "CUDA is not available" in _err(capsys)


def test_cli_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "pretrain" in out and "time convention" in out


def test_presets_lists_every_app_in_groups(capsys):
    from dxmi.algorithms.vgs import preset_names as vgs_presets
    from dxmi.config import preset_names
    from dxmi.mate.config import preset_names as mate_presets

    assert main(["presets"]) == 0
    groups = {block.splitlines()[0].split(" ", 1)[0]: [n.strip() for n in block.splitlines()[1:]]
              for block in capsys.readouterr().out.strip().split("\n\n")}
    assert groups == {"dxmi": preset_names(), "vgs": vgs_presets(), "mate": mate_presets()}
    assert {"8gaussians", "digits"} <= set(groups["dxmi"]) and "tmaze" in groups["mate"]
    assert groups["vgs"] == ["default", "dw4", "funnel", "gmm", "lj13"]
    with pytest.raises(SystemExit):
        main(["vgs", "train", "--help"])
    assert "dw4, funnel, gmm, lj13" in " ".join(capsys.readouterr().out.split())


def test_cli_pipeline_on_a_user_point_cloud(tmp_path, capsys):
    pts = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    np.savetxt(tmp_path / "cloud.csv", pts, delimiter=",")
    run = str(tmp_path / "run")
    common = ["--out", run, "--no-progress", "--set", "data.name=file", "--set", f"data.path={tmp_path / 'cloud.csv'}",
              "--set", "pretrain.steps=30", "--set", "train.iterations=4", "--set", "train.algo.batch_size=32",
              "--set", "pretrain.net.hidden=32", "--set", "sampler.value_net.hidden=16",
              "--set", "sampler.energy_net.hidden=16", "--set", "tensorboard=false", "--set", "ckpt_every=2",
              "--set", "eval.n_samples=200"]
    assert main(["pretrain", *common]) == 0
    assert main(["train", *common]) == 0
    assert main(["sample", "--out", run, "--n", "50", "--file", str(tmp_path / "s.csv")]) == 0
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",").shape == (50, 3)
    assert main(["evaluate", "--out", run, "--sampler", "ddim", "--steps", "5"]) == 0
    res = json.loads((tmp_path / "run" / "eval_ddim_5.json").read_text())
    assert np.isfinite(res["sw"]) and res["n_samples"] == 200
    pytest.importorskip("diffusers")
    for solver in ("dpmsolver++", "unipc"):
        assert main(["evaluate", "--out", run, "--sampler", solver, "--steps", "4", "--spacing", "trailing"]) == 0
        res = json.loads((tmp_path / "run" / f"eval_{solver}_4_trailing.json").read_text())
        assert np.isfinite(res["sw"]) and res["n_samples"] == 200
    assert main(["evaluate", "--out", run, "--sampler", "dxmi", "--spacing", "leading"]) == 2  # spacing is for solvers
    assert "--spacing applies" in capsys.readouterr().err
    assert (tmp_path / "run" / "train" / "checkpoints" / "last.safetensors").is_file()
    assert (tmp_path / "run" / "config.yaml").is_file()
