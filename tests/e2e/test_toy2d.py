"""Tiny end-to-end runs that must learn (CPU-sized)."""

import pytest
import torch

from dxmi.config import load_config
from dxmi.experiment import build_dataset, build_policy, evaluate_samples, pretrain, train


@pytest.mark.slow
def test_ddpm_then_dxmi_improves_the_4_step_sampler(tmp_path):
    over = [f"out={tmp_path}", "progress=false", "tensorboard=false", "pretrain.steps=1500",
            "train.iterations=250", "ckpt_every=0", "seed=0"]
    cfg = load_config("8gaussians", over)
    ds = build_dataset(cfg)
    model = pretrain(cfg).model.eval()
    ref = ds.sample(3000, torch.Generator().manual_seed(1))
    base = evaluate_samples(build_policy(cfg, model).sample(3000, torch.Generator().manual_seed(2)), ref, ds)
    algo = train(cfg).algorithm
    algo.train(False)
    tuned = evaluate_samples(algo.sampling_policy.sample(3000, torch.Generator().manual_seed(2)), ref, ds)
    assert tuned["sw"] < 0.75 * base["sw"], (base["sw"], tuned["sw"])
    assert tuned["in_mode_fraction"] > base["in_mode_fraction"]
    assert tuned["modes_covered"] == 8
