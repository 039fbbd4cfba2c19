"""Reproduced defects, one test (or a few) each: interrupted pretraining, settings changed on resume,
data scale, one-line file errors, metrics rows on resume, stale temporary files, bad settings, code
imported from a run folder, the anomaly benchmark's data folders."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dxmi.cli.main import main
from dxmi.config import ConfigError, load_config
from dxmi.training import Trainer, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def tiny(run: Path, *extra: str) -> list[str]:
    """CLI options of a run of a few seconds (8gaussians)."""
    sets = ["pretrain.steps=20", "pretrain.batch_size=64", "pretrain.net.hidden=32", "train.iterations=5",
            "train.algo.batch_size=32", "sampler.value_net.hidden=16", "sampler.energy_net.hidden=16",
            "tensorboard=false", "ckpt_every=2", "log_every=1", "eval.n_samples=200"]
    return ["--out", str(run), "--no-progress", *[a for s in sets for a in ("--set", s)], *extra]


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("dxmi: error")]
    assert len(err) == 1, err
    assert len(err[0]) < 1000, len(err[0])
    return err[0]


def steps_in(csv_path: Path) -> list[int]:
    with open(csv_path) as f:
        return [int(float(r["step"])) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (pretrain + train); tests copy it before changing anything."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *tiny(run)]) == 0
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


# -- 1. an interrupted pretraining is finished, not skipped ---------------------------------------------------
def test_train_finishes_an_interrupted_pretraining(tmp_path, monkeypatch, capsys):
    import dxmi.experiment as ex
    import dxmi.experiment.pretraining as pretraining

    real = pretraining.data_source
    calls = {"n": 0}

    def interrupted(dataset, classes=0):
        source = real(dataset, classes)

        def draw(n, gen):
            calls["n"] += 1
            if calls["n"] > 7:
                raise KeyboardInterrupt
            return source(n, gen)
        return draw

    monkeypatch.setattr(pretraining, "data_source", interrupted)
    run = tmp_path / "run"
    assert main(["pretrain", *tiny(run)]) == 130  # killed at step 8: the checkpoint of step 6 is kept
    monkeypatch.undo()
    ckpt = run / "pretrain" / "checkpoints" / "last.safetensors"
    assert load_checkpoint(ckpt)["step"] == 6
    with pytest.raises(ConfigError, match="stopped at step 6 of 20"):  # the library does not use it either
        ex.load_pretrained(load_config("8gaussians", [f"out={run}", "pretrain.steps=20",
                                                      "pretrain.net.hidden=32"]), 2)
    assert main(["train", *tiny(run)]) == 0
    assert "stopped at step 6 of 20" in capsys.readouterr().err
    assert load_checkpoint(ckpt)["step"] == 20
    assert steps_in(run / "pretrain" / "metrics.csv") == list(range(1, 21))  # (5.) every row once


# -- 2. other settings on resume: refused in one line, config.yaml untouched -------------------------------
def test_resume_with_other_settings_is_refused_and_the_folder_kept(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    config = (run / "config.yaml").read_bytes()
    last = (run / "train" / "checkpoints" / "last.safetensors").read_bytes()
    for change, key in (("sampler.energy_net.hidden=64", "sampler.energy_net.hidden"),
                        ("train.algo.tau1=0.5", "train.algo.tau1"), ("pretrain.lr=0.001", "pretrain.lr")):
        assert main(["train", *tiny(run, "--set", change)]) == 2, change
        line = one_line(capsys)
        assert key in line and "--no-resume" in line, line
        assert (run / "config.yaml").read_bytes() == config
        assert (run / "train" / "checkpoints" / "last.safetensors").read_bytes() == last
    # settings that do not change what is resumed are free; train.iterations may grow
    assert main(["train", *tiny(run, "--set", "train.iterations=7", "--set", "log_every=3",
                                "--set", "eval.n_samples=100", "--device", "cpu")]) == 0
    assert load_checkpoint(run / "train" / "checkpoints" / "last.safetensors")["step"] == 7
    # --no-resume starts the fine-tuning over with the new sampler / training settings (not the pretraining's)
    assert main(["train", "--no-resume", *tiny(run, "--set", "train.algo.tau1=0.5")]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["algo"]["tau1"] == 0.5
    assert main(["train", "--no-resume", *tiny(run, "--set", "pretrain.lr=0.001")]) == 2
    assert "pretrain.lr" in one_line(capsys)


def test_pretrain_only_folder_accepts_new_sampler_settings(tmp_path):
    run = tmp_path / "run"
    assert main(["pretrain", *tiny(run)]) == 0
    # nothing of the fine-tuning exists yet: its settings are free (the documented workflow)
    assert main(["train", *tiny(run, "--set", "train.algo.tau1=0.0", "--set", "train.iterations=2")]) == 0


# -- 3. point clouds of any scale: standardised inside, samples in data units; Sinkhorn failure is NaN ---------
@pytest.mark.slow
def test_point_cloud_scale_does_not_matter(tmp_path, capsys):
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])
    cloud = centres[rng.integers(0, 3, 400)] + 0.3 * rng.normal(size=(400, 2)) + np.array([10.0, -5.0])
    samples, evals = {}, {}
    for scale in (1.0, 1e4, 1e-4):
        path = tmp_path / f"cloud_{scale:g}.npy"
        np.save(path, cloud * scale)
        run = tmp_path / f"run_{scale:g}"
        args = tiny(run, "--set", "data.name=file", "--set", f"data.path={path}", "--set", "pretrain.steps=300",
                    "--set", "pretrain.batch_size=128")
        assert main(["train", *args]) == 0
        assert main(["sample", "--out", str(run), "--n", "300", "--file", str(tmp_path / f"s_{scale:g}.npy")]) == 0
        assert main(["evaluate", "--out", str(run)]) == 0
        samples[scale] = np.load(tmp_path / f"s_{scale:g}.npy")
        evals[scale] = json.loads((run / "eval_dxmi.json").read_text())
        assert json.loads((run / "data_scale.json").read_text())["scale"] == pytest.approx(
            scale * np.sqrt(((cloud - cloud.mean(0)) ** 2).mean()), rel=1e-6)
    capsys.readouterr()
    ref = samples[1.0]
    assert abs(ref.mean(0) - cloud.mean(0)).max() < 3.0  # data units: around the cloud, not around 0
    for scale in (1e4, 1e-4):
        np.testing.assert_allclose(samples[scale] / scale, ref, rtol=1e-3, atol=1e-3)
        for k in ("sw", "mmd", "energy_distance", "sinkhorn"):
            assert evals[scale][k] == pytest.approx(evals[1.0][k], rel=1e-3, abs=1e-4), k
        assert evals[scale]["sinkhorn"] > 0


def test_a_failed_sinkhorn_is_nan_not_zero():
    pytest.importorskip("ot")
    from dxmi.metrics import sinkhorn

    g = torch.Generator().manual_seed(0)
    x, y = 1e4 * torch.randn(100, 2, generator=g), 1e4 * torch.randn(100, 2, generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(sinkhorn(x, y, reg=0.05, log_domain=False))
    assert sinkhorn(x / 1e4, y / 1e4, reg=0.05, log_domain=False) > 0


# -- 4. unreadable files: one line naming the file, no traceback --------------------------------------------
def test_unreadable_files_give_one_line_errors(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    for phase, sampler in (("pretrain", "base"), ("train", "dxmi")):
        ckpt = run / phase / "checkpoints" / "last.safetensors"
        data = ckpt.read_bytes()
        ckpt.write_bytes(data[: len(data) // 2])  # truncated
        assert main(["sample", "--out", str(run), "--sampler", sampler, "--n", "5"]) == 2
        line = one_line(capsys)
        assert str(ckpt) in line and "not a readable checkpoint" in line, line
        ckpt.write_bytes(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  steps: [1, 2\nseed: 0\n")
    assert main(["pretrain", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    line = one_line(capsys)
    assert str(bad) in line and "malformed YAML" in line, line
    (run / "config.yaml").write_text("seed: [0\n")  # a run folder's own settings
    assert main(["sample", "--out", str(run), "--n", "5"]) == 2
    assert "config.yaml" in one_line(capsys)
    assert main(["pretrain", "--out", str(tmp_path / "r"), "--set", "seed=[1,"]) == 2
    assert "seed=[1," in one_line(capsys)

    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    cplx = tmp_path / "complex.npy"
    np.save(cplx, np.ones((10, 2)) + 1j * np.ones((10, 2)))
    for path, words in ((empty, "empty"), (folder, "is a directory"), (cplx, "complex")):
        out = tmp_path / f"r_{path.stem}"
        assert main(["pretrain", *tiny(out, "--set", "data.name=file", "--set", f"data.path={path}")]) == 2
        line = one_line(capsys)
        assert str(path) in line and words in line, line


# -- 5. metrics.csv keeps every step's row once across resumes ---------------------------------------------
def test_metrics_rows_survive_resumes(tmp_path):
    from dxmi.algorithms import DxMI, DxMIConfig
    from dxmi.data import make_toy2d
    from dxmi.energies import MLPEnergy
    from dxmi.nets import TimeMLP
    from dxmi.values import TimeDependentValue
    from tests.helpers import AffinePolicy

    def _algo():
        torch.manual_seed(0)
        value = TimeDependentValue(TimeMLP(2, 1, hidden=8, depth=1), (2,), 3)
        return DxMI(AffinePolicy(T=3, D=2), value, MLPEnergy(2, hidden=8, depth=1), DxMIConfig(batch_size=16),
                    generator=torch.Generator().manual_seed(1))

    ds = make_toy2d("8gaussians")
    kw = dict(batch_size=16, steps=7, seed=0, ckpt_every=2, log_every=1, progress=False, tensorboard=False)
    for _ in range(3):  # 3 + 3 + 1 steps, each call resumes from the last one's checkpoint
        Trainer(_algo(), ds.sample, out_dir=tmp_path, max_steps_this_call=3, **kw).fit()
    Trainer(_algo(), ds.sample, out_dir=tmp_path, **kw).fit()  # a re-run of the finished run
    assert steps_in(tmp_path / "metrics.csv") == list(range(1, 8))


# -- 6. temporary files of a killed save are cleaned up ------------------------------------------------------
def test_stale_checkpoint_temp_files_are_removed(tmp_path):
    from dxmi.training import CheckpointManager

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = [folder / ".last.safetensors.k1ll3d.tmp", folder / ".best.safetensors.x.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    other = folder / "notes.tmp"
    other.write_text("not ours")
    manager = CheckpointManager(folder)  # opening the folder
    assert not stale[0].exists() and other.exists()
    manager.save({"step": 1, "w": torch.zeros(2)}, 1)
    from dxmi.training.checkpoint import save_checkpoint

    save_checkpoint(folder / "best.safetensors", {"step": 1})
    assert sorted(p.name for p in folder.iterdir()) == ["best.safetensors", "last.safetensors", "notes.tmp"]


# -- 7. bad settings: named, short, and a changed config.yaml says what does not fit ---------------------------
@pytest.mark.parametrize("override, key", [
    ("train.algo.sampler_lr=-1e-5", "train.algo.sampler_lr"), ("train.algo.sigma_lr=-1", "train.algo.sigma_lr"),
    ("train.algo.value_lr=.nan", "train.algo.value_lr"), ("train.algo.sampler_grad_clip=0", "sampler_grad_clip"),
    ("train.iterations=-5", "train.iterations"), ("pretrain.lr=-1", "pretrain.lr"),
    ("pretrain.steps=-1", "pretrain.steps"), ("sampler.num_steps=0", "sampler.num_steps"),
    ("sampler.warmstart.lr=-1", "sampler.warmstart.lr"), ("log_every=0", "log_every"),
])
def test_bad_settings_are_rejected_by_name(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("8gaussians", [override])


def test_other_configs_reject_negative_rates():
    from dxmi.algorithms import DxMIConfig
    from dxmi.algorithms.vgs import make_config
    from dxmi.anomaly import make_detector

    for bad in ({"sampler_lr": -1.0}, {"sigma_lr": -1e-3}, {"energy_lr": -1.0}, {"value_grad_clip": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            DxMIConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value_lr"):
        make_config("gmm", ["value_lr=-1"])
    with pytest.raises(ValueError, match="sampler_lr"):
        make_detector("dxmi", sampler_lr=-1.0)


def test_long_tables_do_not_flood_the_error(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    for sub in ("uniform", "fastdpm_quadratic"):
        assert main(["sample", "--out", str(run), "--sampler", "base", "--n", "5", "--set", "sampler.num_steps=1000",
                     "--set", f"sampler.subsequence={sub}"]) == 2
        line = one_line(capsys)
        assert len(line) < 400 and "1000" in line, line


def test_edited_num_steps_says_the_checkpoint_does_not_fit(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["sampler"]["num_steps"] = 6
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["sample", "--out", str(run), "--n", "5"]) == 2
    line = one_line(capsys)
    assert "does not fit" in line and "last.safetensors" in line and "config.yaml" in line, line


# -- 8. a run folder never imports code on its own -----------------------------------------------------------
def test_vgs_run_folder_imports_only_with_allow_import(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "mods"
    pkg.mkdir()
    marker = tmp_path / "imported"
    (pkg / "evil_energy.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "def energy(x):\n    return (x ** 2).sum(-1) / 2\n")
    monkeypatch.syspath_prepend(str(pkg))
    run = tmp_path / "vgs"
    run.mkdir()
    from dxmi.algorithms.vgs import make_config

    (run / "vgs.yaml").write_text(yaml.safe_dump({"target": "evil_energy:energy", "dim": 2,
                                                  "config": __import__("dataclasses").asdict(make_config("x"))}))
    assert main(["vgs", "sample", "--out", str(run), "--n", "5"]) == 2
    line = one_line(capsys)
    assert "--allow-import evil_energy" in line, line
    assert not marker.exists() and "evil_energy" not in sys.modules
    # with the flag the module is imported (then the missing checkpoint is the error)
    assert main(["vgs", "sample", "--out", str(run), "--n", "5", "--allow-import", "evil_energy"]) == 2
    assert "no trained sampler" in one_line(capsys) and marker.exists()
    sys.modules.pop("evil_energy", None)


# -- 9. the anomaly benchmark needs only the folders of the datasets it runs ------------------------------------
def test_anomaly_benchmark_needs_only_the_requested_collections(tmp_path, capsys, monkeypatch):
    root = tmp_path / "data"
    folder = root / "adbench" / "classical"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(60, 3)), rng.normal(4.0, 1.0, size=(10, 3))])
    y = np.r_[np.zeros(60), np.ones(10)]
    np.savez(folder / "38_thyroid.npz", X=x, y=y)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run: it imports benchmarks/provenance.py
    spec = importlib.util.spec_from_file_location("anomaly_bench", ROOT / "benchmarks" / "anomaly.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "res.json"
    assert bench.main(["--data-root", str(root), "--datasets", "thyroid", "--methods", "base_energy",
                       "--seeds", "0", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert "thyroid" in saved["datasets"] and saved["command"].startswith("python benchmarks/anomaly.py --data-root")
    with pytest.raises(SystemExit):  # an MVTec set does need its folder: named in the error
        bench.main(["--data-root", str(root), "--datasets", "mvtec_bottle", "--methods", "base_energy",
                    "--out", str(out)])
    assert "mvtec_resnet18" in capsys.readouterr().err
