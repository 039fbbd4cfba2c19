"""Holes the kill and fuzz suites found, one test each (in process, seconds): MATE checkpoints and logs
across a stop, metrics logs rewritten atomically, settings cut short, one-line errors that name the
setting or file, data files checked."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dxmi.cli.main import main
from dxmi.config import ConfigError, load_config


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(("dxmi: error", "error:"))]
    assert len(err) == 1, err
    return err[0]


def _sets(*items: str) -> list[str]:
    return [a for s in items for a in ("--set", s)]


MATE_TINY = ("num_envs=2", "batch_episodes=2", "width=8", "agent.hidden=8", "env.length=3", "warmup_iterations=0",
             "eval_episodes=2", "replay_capacity=16")
DXMI_TINY = ("pretrain.steps=4", "pretrain.batch_size=16", "pretrain.net.hidden=8", "pretrain.net.depth=1",
             "pretrain.net.time_dim=8", "train.iterations=2", "train.algo.batch_size=8", "sampler.value_net.hidden=8",
             "sampler.value_net.time_dim=8", "sampler.energy_net.hidden=8", "tensorboard=false", "log_every=1")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- MATE: one checkpoint file, log rows and the returns of the next row across a stop ------------------------
def test_mate_resume_after_a_stop_between_checkpoints(tmp_path, monkeypatch):
    """A run stopped after logging iteration 4 but before its checkpoint (the last one is of iteration 3)
    resumes to the same log: each row once, and row 4's mean return over iterations 3 and 4 as before."""
    from dxmi.mate.config import load_config as mate_config
    from dxmi.mate.train import MATETrainer

    cfg = mate_config("tmaze", [*MATE_TINY, "iterations=4", "eval_every=2", "checkpoint_every=1"])
    run, kept = tmp_path / "run", tmp_path / "at3"
    real_save = MATETrainer.save

    def save(self: MATETrainer) -> None:
        real_save(self)
        if self.iteration == 3:
            shutil.copytree(self.out, kept)

    monkeypatch.setattr(MATETrainer, "save", save)
    MATETrainer(cfg, run, progress=False).run()
    monkeypatch.undo()
    whole = _rows(run / "log.csv")
    weights = (run / "checkpoint.safetensors").read_bytes()
    shutil.copy(kept / "checkpoint.safetensors", run / "checkpoint.safetensors")  # back to iteration 3
    MATETrainer(cfg, run, progress=False).run(resume=True)
    again = _rows(run / "log.csv")
    assert [r["iteration"] for r in again] == ["2", "4"]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in whole]
    assert (run / "checkpoint.safetensors").read_bytes() == weights


def test_mate_counters_come_from_the_checkpoint_file(tmp_path):
    """One checkpoint file of the package's format holds the counters (no second record to disagree
    with it): a checkpoint.json left by an older version does not rewind the run."""
    from dxmi.mate.config import load_config as mate_config
    from dxmi.mate.train import MATETrainer
    from dxmi.training.checkpoint import load_checkpoint

    cfg = mate_config("tmaze", [*MATE_TINY, "iterations=2", "eval_every=1", "checkpoint_every=1"])
    run = tmp_path / "run"
    MATETrainer(cfg, run, progress=False).run()
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.safetensors", "config.yaml", "curve.png", "log.csv"]
    counters = load_checkpoint(run / "checkpoint.safetensors")["counters"]
    assert counters["iteration"] == 2
    (run / "checkpoint.json").write_text(json.dumps({"iteration": 1, "updates": 0}))
    t = MATETrainer(cfg, run, progress=False)
    t.load()
    assert (t.iteration, t.updates) == (2, counters["updates"])


def test_mate_resume_refuses_other_settings(tmp_path, capsys):
    """Like `dxmi train`: a resume with settings other than the checkpoint's is a one-line error naming the
    keys, and leaves the folder as it was; the free settings and a longer run are accepted."""
    out = tmp_path / "run"
    base = ["mate", "train", "--config", "tmaze", "--out", str(out), "--quiet", "--resume"]
    assert main([*base, *_sets(*MATE_TINY, "iterations=1", "eval_every=1")]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main([*base, *_sets(*MATE_TINY, "iterations=1", "eval_every=1", "agent.lr=0.01", "width=16")]) == 2
    err = one_line(capsys)
    assert "trained with other settings" in err and "agent.lr (run: 0.0003, now: 0.01)" in err and "width" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main([*base, *_sets(*MATE_TINY, "iterations=2", "eval_every=2", "eval_episodes=4",
                               "checkpoint_every=2")]) == 0
    assert main([*base, *_sets(*MATE_TINY, "iterations=1", "eval_every=2")]) == 2
    assert "iterations (run: 2, now: 1)" in one_line(capsys)


def test_mate_resume_of_a_finished_run_reports_its_evaluation(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["mate", "train", "--config", "tmaze", "--out", str(out), "--quiet", "--resume",
            *_sets(*MATE_TINY, "iterations=1", "eval_every=1")]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["mean_return"] == first["mean_return"]  # not NaN


# -- metrics logs: rewritten atomically, a cut-off last row dropped ---------------------------------------------
def test_metrics_log_survives_a_stop_while_it_is_rewritten(tmp_path, monkeypatch):
    from dxmi.training.loggers import CSVLogger

    path = tmp_path / "metrics.csv"
    log = CSVLogger(path)
    for step in (1, 2, 3):
        log.log(step, {"loss": 0.5 * step})
    before = path.read_text()

    def stop(self, rows):  # a stop in the middle of the rewrite on resume
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", stop)
    with pytest.raises(KeyboardInterrupt):
        CSVLogger(path, truncate_after=2)
    monkeypatch.undo()
    assert path.read_text() == before and not list(tmp_path.glob("*.tmp"))
    path.write_text(before + "4,0.")  # a row cut off while it was appended
    assert [r["step"] for r in CSVLogger(path, truncate_after=3).rows] == ["1", "2", "3"]


# -- settings files of a run folder cut short, and errors naming them ---------------------------------------------
@pytest.fixture(scope="module")
def dxmi_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("found") / "run"
    assert main(["train", "--out", str(run), "--no-progress", *_sets(*DXMI_TINY)]) == 0
    return run


def test_a_run_settings_file_cut_short_is_an_error(dxmi_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(dxmi_run, run)
    text = (run / "config.yaml").read_text()
    assert text.startswith("# dxmi settings") and text.rstrip().endswith("# end")
    assert load_config(str(run / "config.yaml")) == load_config(str(dxmi_run / "config.yaml"))
    for cut in (len(text) // 3, len(text) - 8, 10, 0):
        (run / "config.yaml").write_text(text[:cut])
        assert main(["sample", "--out", str(run), "--n", "3"]) == 2
        line = one_line(capsys)
        assert str(run / "config.yaml") in line, line
    (run / "config.yaml").write_text(text.replace("hidden: 8", "hidden: [8"))
    assert main(["sample", "--out", str(run), "--n", "3"]) == 2
    assert "config.yaml" in one_line(capsys)


def test_an_error_in_a_settings_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("pretrain:\n  net:\n    hidden: many\n")
    with pytest.raises(ConfigError, match=f"{path}: pretrain.net.hidden"):
        load_config(str(path))
    ok = tmp_path / "ok.yaml"
    ok.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match=r"^pretrain\.lr"):  # an override's own error is not the file's
        load_config(str(ok), ["pretrain.lr=-1"])


def test_vgs_settings_file_cut_short_or_bad_names_the_file(tmp_path, capsys):
    run = tmp_path / "vgs"
    assert main(["vgs", "train", "--target", "gmm", "--out", str(run), "--no-progress", "--ckpt-every", "1",
                 *_sets("iterations=2", "num_steps=3", "batch_size=8", "net.hidden=8", "net.depth=1",
                        "net.time_dim=8")]) == 0
    text = (run / "vgs.yaml").read_text()
    for bad in (text[: len(text) // 2], text.replace("s2_start: 0.2", "s2_start: nul")):
        (run / "vgs.yaml").write_text(bad)
        assert main(["vgs", "sample", "--out", str(run), "--n", "3"]) == 2
        assert str(run / "vgs.yaml") in one_line(capsys)
    assert main(["vgs", "train", "--target", "gmm", "--out", str(tmp_path / "v2"), "--ckpt-every", "-1"]) == 2
    assert "--ckpt-every" in one_line(capsys)


# -- settings: checked and named ---------------------------------------------------------------------------
@pytest.mark.parametrize("override, key", [
    ("seed=-1", "seed"), ("seed=18446744073709551616", "seed"), ("pretrain.net.time_dim=7", "pretrain.net.time_dim"),
    ("sampler.energy_net.activation=swish", "sampler.energy_net.activation"),
    ("pretrain.beta_end=1", "pretrain.beta_end"), ("pretrain.beta_start=0", "pretrain.beta_start"),
    ("pretrain.num_diffusion_steps=3", "pretrain.num_diffusion_steps"),
])
def test_run_settings_are_checked(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("8gaussians", [override])


@pytest.mark.parametrize("override, key", [
    ("net.time_dim=1", "net.time_dim"), ("s2_end=0", "s2_end"), ("s2_start=1.5", "s2_start"),
    ("schedule=cubic", "schedule"), ("variant=xx", "variant"), ("seed=-3", "seed"),
])
def test_vgs_settings_are_checked(override, key):
    from dxmi.algorithms.vgs import make_config

    with pytest.raises(ConfigError, match=key):
        make_config("gmm", [override])


@pytest.mark.parametrize("override, key", [
    ("agent.grad_clip=null", "agent.grad_clip"), ("agent.lr=true", "agent.lr"), ("iterations=true", "iterations"),
    ("eval_every=0", "eval_every"), ("checkpoint_every=0", "checkpoint_every"), ("agent.lrr=1", "agent.lrr"),
    ("seed=4294967296", "seed"), ("width=[1,", "width=[1,"),
])
def test_mate_settings_are_checked(override, key):
    from dxmi.mate.config import load_config as mate_config

    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[")):
        mate_config("tmaze", [override])


def test_mate_env_option_errors_name_the_key(tmp_path, capsys):
    assert main(["mate", "train", "--config", "tmaze", "--out", str(tmp_path / "m"), "--quiet",
                 *_sets(*MATE_TINY, "iterations=1", "env.length=-2")]) == 2
    assert "env.length" in one_line(capsys)
    for bad in ("env.length=2.0", "env.length=null"):
        assert main(["mate", "train", "--config", "tmaze", "--out", str(tmp_path / "m"), "--quiet",
                     *_sets(*MATE_TINY, "iterations=1", bad)]) == 2
        assert "env" in one_line(capsys)


@pytest.fixture(scope="module")
def normal_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("anomaly") / "normal.npy"
    np.save(path, np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32))
    return path


@pytest.mark.parametrize("method, override, key", [
    ("dxmi", "last_sigma=0", "last_sigma"), ("dxmi", "init_sigma=-1", "init_sigma"),
    ("dxmi", "hidden=[1,", "hidden=[1,"),
    ("dxmi", "seed=-1", "seed"), ("dxmi", "sampler_hidden=-1", "sampler_hidden"),
    ("langevin_ebm", "langevin_steps=0", "langevin_steps"), ("vgs_ebm", "value_hidden=0", "value_hidden"),
])
def test_anomaly_settings_are_checked(method, override, key, normal_file, tmp_path, capsys):
    assert main(["anomaly", "fit", "--method", method, "--data", str(normal_file), "--out", str(tmp_path / "a"),
                 "--no-progress", "--set", "iterations=1", "--set", override]) == 2
    assert key in one_line(capsys)


# -- data files: checked, and errors name the file --------------------------------------------------------------
def test_a_point_cloud_without_spread_names_the_file(tmp_path, capsys):
    path = tmp_path / "flat.csv"
    np.savetxt(path, np.ones((10, 2)), delimiter=",")
    assert main(["pretrain", "--out", str(tmp_path / "r"), *_sets(*DXMI_TINY, "data.name=file",
                                                                  f"data.path={path}")]) == 2
    line = one_line(capsys)
    assert str(path) in line and "no spread" in line


@pytest.mark.parametrize("name, arrays, words", [
    ("nan.npy", {"X": np.r_[np.ones((3, 2)), [[np.nan, 1.0]]]}, "NaN"),
    ("big.npy", {"X": np.full((4, 2), 1e39)}, "float32"),
    ("flat.npy", {"X": np.ones(5)}, "2-D"),
    ("none.npy", {"X": np.ones((0, 3))}, "2-D"),
    ("labels.npz", {"X": np.ones((4, 2)), "y": np.array([0, 1, 2, 0])}, "labels"),
    ("nanlabels.npz", {"X": np.ones((4, 2)), "y": np.array([0, np.nan, 1, 0])}, "labels"),
    ("anomalies.npz", {"X": np.ones((4, 2)), "y": np.array([1, 1, 1, 1])}, "labelled normal"),
])
def test_anomaly_data_files_are_checked_by_name(name, arrays, words, tmp_path, capsys):
    path = tmp_path / name
    if path.suffix == ".npy":
        np.save(path, arrays["X"])
    else:
        np.savez(path, **arrays)
    assert main(["anomaly", "fit", "--data", str(path), "--out", str(tmp_path / "a"), "--no-progress",
                 "--set", "iterations=1"]) == 2
    line = one_line(capsys)
    assert str(path) in line and words in line, line


def test_scoring_other_features_names_the_data(normal_file, tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["anomaly", "fit", "--data", str(normal_file), "--out", str(out), "--no-progress",
                 *_sets("iterations=1", "hidden=8", "depth=1", "sampler_hidden=8")]) == 0
    other = tmp_path / "other.npy"
    np.save(other, np.ones((5, 4), dtype=np.float32))
    assert main(["anomaly", "score", "--out", str(out), "--data", str(other)]) == 2
    assert str(other) in one_line(capsys)


@pytest.mark.parametrize("overrides, key", [
    (["train.algo=5", "train.algo.tau1=0.1"], "train.algo"), (["train.algo.tau1=0.1", "train.algo=5"], "train.algo"),
])
def test_a_section_set_to_a_value_is_an_error(overrides, key):
    from dxmi.algorithms.vgs import make_config

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("8gaussians", overrides)
    with pytest.raises(ConfigError, match="net"):
        make_config("gmm", ["net=5", "net.hidden=8"])
