"""``dxmi anomaly fit|score|evaluate`` end to end (built-in breast-cancer data and a CSV file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dxmi.cli.main import main

pytest.importorskip("sklearn")


def test_cli_builtin_breast_cancer(tmp_path, capsys):
    out = tmp_path / "bc"
    assert main(["anomaly", "fit", "--out", str(out), "--no-progress", "--set", "iterations=150",
                 "--set", "hidden=32", "--set", "sampler_hidden=32"]) == 0
    assert (out / "model.safetensors").is_file() and not (out / "config.json").exists()  # one checkpoint file
    assert main(["anomaly", "evaluate", "--out", str(out)]) == 0
    res = json.loads((out / "eval.json").read_text())
    assert res["auroc"] > 0.9 and res["n_anomalies"] == 212  # all malignant cases are in the test split
    assert (out / "score_hist_eval.png").stat().st_size > 1000
    rows = (out / "scores_eval.csv").read_text().splitlines()
    assert rows[0] == "index,score,label" and len(rows) == res["n"] + 1


def test_cli_csv_score_and_errors(tmp_path, capsys):
    g = np.random.default_rng(0)
    x = g.normal(size=(200, 3))
    labelled = np.c_[np.r_[x[:150], x[150:] + 6], np.r_[np.zeros(150), np.ones(50)]]
    path = tmp_path / "d.csv"
    np.savetxt(path, labelled, delimiter=",", header="a,b,c,label", comments="")
    out = tmp_path / "m"
    assert main(["anomaly", "fit", "--data", str(path), "--out", str(out), "--no-progress",
                 "--method", "langevin_ebm", "--set", "iterations=30", "--set", "langevin_steps=5"]) == 0
    assert "150 rows labelled normal" in capsys.readouterr().out
    assert main(["anomaly", "score", "--data", str(path), "--out", str(out), "--csv", str(tmp_path / "s.csv")]) == 0
    scores = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)[:, 2 - 1]
    assert scores.shape == (200,) and scores[150:].mean() > scores[:150].mean()
    assert main(["anomaly", "evaluate", "--data", str(path), "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["auroc"] > 0.95
    assert main(["anomaly", "fit", "--out", str(tmp_path / "x"), "--set", "nope=1"]) == 2
    assert "unknown dxmi option" in capsys.readouterr().err
    assert main(["anomaly", "fit", "--out", str(tmp_path / "x"), "--set", "iterations=abc"]) == 2
    assert "dxmi.iterations: expected an integer, got 'abc'" in capsys.readouterr().err
    assert main(["anomaly", "fit", "--out", str(tmp_path / "x"), "--top-k", "3"]) == 2
    assert "--top-k applies to feature maps only" in capsys.readouterr().err
    assert main(["anomaly", "score", "--out", str(tmp_path / "missing"), "--data", str(path)]) == 2


def test_cli_fit_resume_trains_on_and_refuses_other_settings(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["anomaly", "fit", "--out", str(out), "--no-progress", "--method", "langevin_ebm",
            "--set", "langevin_steps=5", "--set", "hidden=16"]
    assert main(args + ["--set", "iterations=10"]) == 0
    assert main(args + ["--set", "iterations=20", "--resume"]) == 0
    assert "resuming the fit" in capsys.readouterr().out
    steps = [int(r.split(",")[0]) for r in (out / "train" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps[-1] == 20  # trained on from the 10-iteration checkpoint
    assert main(args + ["--set", "iterations=30", "--set", "gamma=1.0", "--resume"]) == 2
    assert "different gamma" in capsys.readouterr().err
