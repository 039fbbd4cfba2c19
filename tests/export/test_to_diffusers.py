"""``dxmi export``: a tiny digits run's samplers as diffusers pipeline folders that draw, for the same
seed, the samples ``dxmi sample`` draws (the trained sampler, the untrained T-step policy, the
ancestral chain, DDIM; class-conditional; on a diffusers UNet2DModel base model)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (pip install 'dxmi[images]')")
pytest.importorskip("sklearn")

from dxmi.cli.main import main  # noqa: E402
from dxmi.config import ConfigError, load_config  # noqa: E402
from dxmi.experiment import draw_samples  # noqa: E402
from dxmi.export import export_diffusers  # noqa: E402

# a 50-step base DDPM keeps the ancestral export quick; T = 4
TINY = ["pretrain.net.channels=8", "pretrain.batch_size=16", "pretrain.steps=5", "pretrain.num_diffusion_steps=50",
        "train.iterations=2", "train.algo.batch_size=8", "train.algo.sampler_warmup=0", "sampler.num_steps=4",
        "sampler.energy_net.channels=8", "ckpt_every=0", "progress=false", "tensorboard=false", "seed=3"]
SEED = 3 + 100  # dxmi sample draws with the run's seed + 100


def _args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def _train(out: Path, extra: tuple[str, ...] = ()) -> list[str]:
    sets = [*TINY, *extra]
    assert main(["train", "--config", "digits", "--out", str(out), "--no-progress", *_args(sets)]) == 0
    return sets


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("export") / "run"
    return out, _train(out)


def _pipeline(folder: Path):
    pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder), trust_remote_code=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _draw(pipe, n: int, **kw) -> torch.Tensor:
    return pipe(batch_size=n, generator=torch.Generator().manual_seed(SEED), output_type="pt", **kw).images


def test_exported_sampler_draws_what_dxmi_sample_draws(run, tmp_path, capsys):
    out, _ = run
    folder = tmp_path / "dxmi_digits"
    assert main(["export", "--out", str(out), "--to", str(folder)]) == 0
    assert "trust_remote_code=True" in capsys.readouterr().out
    assert main(["sample", "--out", str(out), "--n", "6", "--file", str(tmp_path / "s.npy")]) == 0
    want = torch.from_numpy(np.load(tmp_path / "s.npy"))
    pipe = _pipeline(folder)
    assert type(pipe).__name__ == "DxMIPipeline" and type(pipe.scheduler).__name__ == "DxMIScheduler"
    got = _draw(pipe, 6)
    assert got.shape == (6, 1, 8, 8)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    # the scheduler carries the trained policy's T timesteps and learned sigmas
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert sched["mode"] == "policy" and len(sched["timesteps"]) == len(sched["sigmas"]) == 4
    assert sched["timesteps"] == sorted(sched["timesteps"], reverse=True)
    # images in [0, 1] for the other output types; a new chain starts at every call
    img = pipe(batch_size=2, generator=torch.Generator().manual_seed(SEED), output_type="np").images
    assert img.shape == (2, 8, 8, 1) and img.min() >= 0 and img.max() <= 1
    pt = _draw(pipe, 2)  # (the noise of every step depends on the batch size: compare equal batches)
    np.testing.assert_allclose(img, ((pt / 2 + 0.5).clamp(0, 1)).permute(0, 2, 3, 1).numpy(), atol=1e-6)
    assert len(pipe(batch_size=2, generator=torch.Generator().manual_seed(0)).images) == 2  # PIL images
    # the folder's code imports torch and diffusers, never dxmi
    for code in (folder / "pipeline.py", folder / "unet" / "dxmi_unet.py", folder / "scheduler" / "dxmi_scheduler.py"):
        assert not re.search(r"^\s*(from|import)\s+dxmi\b", code.read_text(), flags=re.MULTILINE), code
    assert "manual_seed(103)" in (folder / "README.md").read_text()


def test_exported_folder_loads_without_dxmi(run, tmp_path):
    """A fresh interpreter in which ``import dxmi`` fails loads and samples the folder."""
    out, _ = run
    folder = export_diffusers(load_config(str(out / "config.yaml")), tmp_path / "exp")
    want = draw_samples(load_config(str(out / "config.yaml")), "dxmi", 3, SEED)
    code = ("import sys; sys.modules['dxmi'] = None\n"
            "import torch, diffusers\n"
            f"pipe = diffusers.DiffusionPipeline.from_pretrained({str(folder)!r}, trust_remote_code=True)\n"
            f"x = pipe(batch_size=3, generator=torch.Generator().manual_seed({SEED}), output_type='pt').images\n"
            f"torch.save(x, {str(tmp_path / 'x.pt')!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home())})
    assert proc.returncode == 0, proc.stderr[-2000:]
    torch.testing.assert_close(torch.load(tmp_path / "x.pt"), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("which,steps", [("base", None), ("ddim", 5), ("ddpm", None)])
def test_base_model_exports_match(run, tmp_path, which, steps):
    out, _ = run
    cfg = load_config(str(out / "config.yaml"))
    folder = export_diffusers(cfg, tmp_path / which, which, steps=steps)
    want = draw_samples(cfg, which, 4, SEED, steps=steps)
    torch.testing.assert_close(_draw(_pipeline(folder), 4), want, rtol=0, atol=1e-5)
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert len(sched["timesteps"]) == {"base": 4, "ddim": 5, "ddpm": 50}[which]
    if which == "ddpm":  # the exported UNet also runs in diffusers' own pipelines and schedulers
        pipe = _pipeline(folder)
        solver = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=50, trained_betas=sched["betas"])
        img = diffusers.DDPMPipeline(unet=pipe.unet, scheduler=solver)(batch_size=2, num_inference_steps=3,
                                                                       output_type="np").images
        assert img.shape == (2, 8, 8, 1) and np.isfinite(img).all()


def test_export_refusals_and_force(run, tmp_path, capsys):
    out, _ = run
    folder = tmp_path / "exp"
    base = ["export", "--out", str(out), "--to", str(folder)]
    assert main([*base, "--sampler", "dxmi", "--steps", "3"]) == 2
    assert "--steps applies to the ddim export" in capsys.readouterr().err
    assert main(base) == 0
    assert main(base) == 2  # an existing export is kept ...
    assert "--force" in capsys.readouterr().err
    assert main([*base, "--sampler", "base", "--force"]) == 0  # ... unless --force replaces it
    assert json.loads((folder / "scheduler" / "scheduler_config.json").read_text())["source"].startswith(
        "dxmi export --sampler base")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["export", "--out", str(out), "--to", str(other), "--force"]) == 2  # not an export: never replaced
    assert (other / "notes.txt").read_text() == "mine"
    assert main([*base, "--force", "--set", "eval.guidance_scale=0.5"]) == 2
    assert "value guidance" in capsys.readouterr().err
    assert not list(tmp_path.glob(".exp.tmp-*"))  # nothing left behind
    with pytest.raises(ConfigError, match="image samplers"):
        export_diffusers(load_config("8gaussians", [f"out={tmp_path / 'toy'}"]), tmp_path / "toy_exp")


def test_class_conditional_export(tmp_path):
    out = tmp_path / "run"
    sets = _train(out, ("pretrain.net.num_classes=10", "sampler.energy_net.num_classes=10"))
    cfg = load_config("digits", [*sets, f"out={out}"])
    pipe = _pipeline(export_diffusers(cfg, tmp_path / "exp"))
    assert pipe.num_classes == 10
    torch.testing.assert_close(_draw(pipe, 12), draw_samples(cfg, "dxmi", 12, SEED), rtol=0, atol=1e-5)
    torch.testing.assert_close(_draw(pipe, 4, class_labels=3), draw_samples(cfg, "dxmi", 4, SEED, label=3),
                               rtol=0, atol=1e-5)


def test_diffusers_base_model_exports_its_unet2dmodel(tmp_path):
    """A run on pretrain.diffusers_path: the fine-tuned UNet2DModel is exported as one."""
    torch.manual_seed(3)
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    base = tmp_path / "base"
    unet.save_pretrained(str(base / "unet"))
    diffusers.DDPMScheduler(num_train_timesteps=50).save_config(str(base / "scheduler"))
    (base / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    out = tmp_path / "run"
    sets = _train(out, (f"pretrain.diffusers_path={base}", "train.iterations=1"))
    cfg = load_config("digits", [*sets, f"out={out}"])
    folder = export_diffusers(cfg, tmp_path / "exp")
    assert json.loads((folder / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DModel"]
    assert not (folder / "unet" / "dxmi_unet.py").exists()
    torch.testing.assert_close(_draw(_pipeline(folder), 4), draw_samples(cfg, "dxmi", 4, SEED), rtol=0, atol=1e-5)
