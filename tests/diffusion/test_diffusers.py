"""Pretrained diffusers UNets as our epsilon-network; scheduler betas; our own checkpoints.

Every model here is a tiny randomly initialised UNet2DModel that the test saves itself.
"""

from __future__ import annotations

import json

import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (pip install 'dxmi[images]')")

from dxmi.algorithms import DDPMTraining  # noqa: E402
from dxmi.diffusion import EpsilonModel  # noqa: E402
from dxmi.diffusion.diffusers import (  # noqa: E402
    DiffusersEpsNet,
    load_diffusers_eps_model,
    save_diffusers_eps_model,
    schedule_from_scheduler_config,
)
from dxmi.policies import DDPMSubsequencePolicy  # noqa: E402
from dxmi.schedules import LinearBetaSchedule, make_subsequence  # noqa: E402
from dxmi.training.checkpoint import load_module_from_checkpoint  # noqa: E402
from dxmi.training.loop import Trainer  # noqa: E402


def tiny_unet(channels: int = 1, size: int = 8, classes: int | None = None, out: int | None = None):
    torch.manual_seed(3)
    return diffusers.UNet2DModel(
        sample_size=size, in_channels=channels, out_channels=out or channels, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=4,
        num_class_embeds=classes).eval()


def save_pipeline(tmp_path, unet, **sched_kwargs):
    folder = tmp_path / "pipe"
    unet.save_pretrained(str(folder / "unet"))
    diffusers.DDPMScheduler(**sched_kwargs).save_config(str(folder / "scheduler"))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    return folder


def test_loaded_unet_matches_original_module(tmp_path):
    unet = tiny_unet(channels=3)
    folder = save_pipeline(tmp_path, unet, num_train_timesteps=1000)
    model = load_diffusers_eps_model(folder)
    assert isinstance(model, EpsilonModel) and model.sample_shape == (3, 8, 8)
    x = torch.randn(4, 3, 8, 8)
    k = torch.tensor([0.0, 17.5, 500.25, 999.0])  # continuous indices as the T-step policies pass them
    with torch.no_grad():
        ref = unet(x, k).sample
        got = model.eps_net(x, k)
    assert torch.equal(got, ref)
    # the loaded weights are not the initialisation of a fresh module: the test would see a bad load
    with torch.no_grad():
        assert not torch.allclose(tiny_unet_fresh(3)(x, k).sample, ref)


def tiny_unet_fresh(channels):
    torch.manual_seed(99)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=channels, out_channels=channels, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=4).eval()


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"])
def test_scheduler_betas_round_trip(tmp_path, beta_schedule):
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=beta_schedule,
                                    beta_start=1e-4, beta_end=0.02)
    sched.save_config(str(tmp_path))
    cfg = json.loads((tmp_path / "scheduler_config.json").read_text())
    ours = schedule_from_scheduler_config(cfg)
    assert ours.num_steps == 1000
    torch.testing.assert_close(ours.betas.float(), sched.betas, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.alpha_bar.float(), sched.alphas_cumprod, rtol=1e-4, atol=1e-7)


def test_linear_config_gives_the_closed_form_schedule(tmp_path):
    cfg = {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}
    ours = schedule_from_scheduler_config(cfg)
    assert isinstance(ours, LinearBetaSchedule)
    torch.testing.assert_close(ours.betas, LinearBetaSchedule(1000, 1e-4, 0.02).betas, rtol=0, atol=0)


def test_trained_betas_and_export_round_trip(tmp_path):
    unet = tiny_unet()
    betas = torch.linspace(1e-4, 0.05, 50, dtype=torch.float64) ** 1.5
    folder = tmp_path / "unet_only"
    unet.save_pretrained(str(folder))
    (folder / "scheduler_config.json").write_text(json.dumps({"trained_betas": betas.tolist()}))
    model = load_diffusers_eps_model(folder)
    torch.testing.assert_close(model.schedule.betas, betas, rtol=0, atol=0)
    # export (e.g. after fine-tuning) and load again: same betas, same network output
    out = save_diffusers_eps_model(model, tmp_path / "export")
    again = load_diffusers_eps_model(out)
    torch.testing.assert_close(again.schedule.betas, betas, rtol=0, atol=1e-15)
    x, k = torch.randn(2, 1, 8, 8), torch.tensor([3.0, 40.0])
    with torch.no_grad():
        assert torch.equal(again.eps_net(x, k), model.eps_net(x, k))


def test_policy_from_loaded_model_and_class_labels(tmp_path):
    unet = tiny_unet(classes=10)
    folder = save_pipeline(tmp_path, unet, num_train_timesteps=1000)
    model = load_diffusers_eps_model(folder)
    x, k, y = torch.randn(3, 1, 8, 8), torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 4, 9])
    with torch.no_grad():
        assert torch.equal(model.eps_net(x, k, y), unet(x, k, class_labels=y).sample)
    with pytest.raises(ValueError, match="class-conditional"):
        model.eps_net(x, k)


def test_variance_head_and_ddpm_policy(tmp_path):
    unet = tiny_unet(out=2)  # learned-variance UNet: eps is the first half of the channels
    folder = save_pipeline(tmp_path, unet, num_train_timesteps=1000)
    model = load_diffusers_eps_model(folder)
    x, k = torch.randn(2, 1, 8, 8), torch.tensor([5.0, 6.0])
    with torch.no_grad():
        assert torch.equal(model.eps_net(x, k), unet(x, k).sample[:, :1])
    steps = make_subsequence("fastdpm_quadratic").build(model.schedule, 4)
    policy = DDPMSubsequencePolicy(model.eps_net, steps, model.sample_shape)
    s = policy.sample(5, torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 8, 8) and bool(torch.isfinite(s).all())


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_diffusers_eps_model(tmp_path / "nope")
    unet = tiny_unet()
    unet.save_pretrained(str(tmp_path / "u"))
    with pytest.raises(FileNotFoundError, match="no scheduler_config.json"):
        load_diffusers_eps_model(tmp_path / "u")
    with pytest.raises(ValueError, match="prediction_type"):
        schedule_from_scheduler_config({"prediction_type": "v_prediction"})
    with pytest.raises(ValueError, match="beta_schedule"):
        schedule_from_scheduler_config({"beta_schedule": "exotic", "num_train_timesteps": 10})
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    with pytest.raises(ValueError, match="UNet2DModel"):
        load_diffusers_eps_model(tmp_path / "v")
    with pytest.raises(ValueError, match="expected x of shape"):
        DiffusersEpsNet(unet)(torch.randn(2, 3, 8, 8), torch.zeros(2))


def test_our_checkpoint_of_a_diffusers_model_loads_back(tmp_path):
    """Pretrain (a few DDPM steps) through our Trainer, then load the safetensors checkpoint into a
    freshly built model: the outputs equal the trained model's, not the fresh initialisation's."""
    folder = save_pipeline(tmp_path, tiny_unet(), num_train_timesteps=100)
    model = load_diffusers_eps_model(folder)
    algo = DDPMTraining(model, lr=1e-3, generator=torch.Generator().manual_seed(0))
    data = torch.rand(64, 1, 8, 8) * 2 - 1
    Trainer(algo, lambda n, g: data[torch.randint(0, 64, (n,), generator=g)], batch_size=8, steps=3,
            out_dir=tmp_path / "run", progress=False, tensorboard=False).fit()
    fresh = EpsilonModel(DiffusersEpsNet(tiny_unet_fresh(1)), model.schedule, model.sample_shape)
    x, k = torch.randn(2, 1, 8, 8), torch.tensor([10.0, 90.0])
    with torch.no_grad():
        before = fresh.eps_net(x, k).clone()
        load_module_from_checkpoint(fresh, tmp_path / "run" / "checkpoints" / "last.safetensors")
        assert torch.equal(fresh.eps_net(x, k), model.eps_net(x, k))
        assert not torch.allclose(before, fresh.eps_net(x, k))
    with pytest.raises(ValueError, match="no entry 'policy'"):
        load_module_from_checkpoint(fresh, tmp_path / "run" / "checkpoints" / "last.safetensors",
                                    key="algorithm/modules/policy")


def test_diffusers_path_in_the_config_builds_the_dxmi_policy(tmp_path):
    """`pretrain.diffusers_path` makes the loaded UNet the base of the T-step policy (no pretraining)."""
    from dxmi.config import ConfigError, load_config
    from dxmi.experiment import build_policy, load_pretrained

    unet = tiny_unet(channels=1)
    folder = save_pipeline(tmp_path, unet, num_train_timesteps=1000)
    cfg = load_config("digits", [f"out={tmp_path / 'run'}", f"pretrain.diffusers_path={folder}"])
    model = load_pretrained(cfg, (1, 8, 8))
    x, k = torch.randn(2, 1, 8, 8), torch.tensor([3.0, 700.0])
    with torch.no_grad():
        assert torch.equal(model.eps_net(x, k), unet(x, k).sample)
    policy = build_policy(cfg, model)
    assert policy.sample(3, torch.Generator().manual_seed(0)).shape == (3, 1, 8, 8)
    with pytest.raises(ConfigError, match="the data are"):
        load_pretrained(cfg, (3, 8, 8))
