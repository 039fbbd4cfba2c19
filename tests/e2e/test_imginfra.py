"""End to end: image files -> a pretrained-format diffusers UNet loaded through our loader ->
DDPM training through our Trainer learns; the throughput benchmark runs (tiny, CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (pip install 'dxmi[images]')")

from dxmi.algorithms import DDPMTraining  # noqa: E402
from dxmi.data.image_files import load_images  # noqa: E402
from dxmi.diffusion.diffusers import load_diffusers_eps_model  # noqa: E402
from dxmi.training.loop import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def bars(n: int, seed: int = 0) -> np.ndarray:
    """(n, 8, 8) uint8 images: one bright horizontal or vertical bar on a dark background."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 8, 8), np.uint8)
    for i in range(n):
        k = rng.integers(1, 7)
        if rng.random() < 0.5:
            out[i, k] = 255
        else:
            out[i, :, k] = 255
    return out


def test_ddpm_on_image_files_with_a_loaded_diffusers_unet_learns(tmp_path):
    np.savez(tmp_path / "bars.npz", images=bars(256))
    data = load_images(tmp_path / "bars.npz")
    assert data.sample_shape == (1, 8, 8)
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                                 attention_head_dim=8)
    unet.save_pretrained(str(tmp_path / "model" / "unet"))
    diffusers.DDPMScheduler(num_train_timesteps=100).save_config(str(tmp_path / "model" / "scheduler"))
    model = load_diffusers_eps_model(tmp_path / "model")
    eval_x = data.sample(128, torch.Generator().manual_seed(5))

    def eval_loss() -> float:
        with torch.no_grad():
            return float(model.loss(eval_x, torch.Generator().manual_seed(6)))

    before = eval_loss()
    algo = DDPMTraining(model.train(), lr=2e-3, generator=torch.Generator().manual_seed(1))
    Trainer(algo, data.sample, 32, 80, tmp_path / "run", progress=False, tensorboard=False).fit()
    after = eval_loss()
    assert after < 0.5 * before, (before, after)  # measured 1.156 -> 0.130


def test_throughput_benchmark_runs_tiny_on_cpu(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run: it imports benchmarks/provenance.py
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "t.json"
    assert bench.main(["--tiny", "--iterations", "1", "--warmup", "0", "--batch", "2", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["world_size"] == 1 and r["T"] == 10
    assert r["command"].startswith("python benchmarks/throughput.py --tiny") and "commit" in r
    fp32 = r["results"]["fp32"]
    assert fp32["images_per_s"] > 0 and fp32["sampling_images_per_s"] > 0 and fp32["speedup_vs_fp32"] == 1.0
