"""Mixed precision (run on CPU here; the same code runs on GPU): loss scaling is exact, skips
non-finite steps, and training under bf16 / fp16 autocast still learns."""

from __future__ import annotations

import pytest
import torch

from dxmi.algorithms import DDPMTraining
from dxmi.config import ConfigError, load_config
from dxmi.data import make_toy2d
from dxmi.diffusion import EpsilonModel
from dxmi.nets import TimeMLP
from dxmi.schedules import LinearBetaSchedule
from dxmi.training import load_checkpoint
from dxmi.training.loop import Trainer
from dxmi.training.precision import Precision
from tests.helpers import flat_params, make_dxmi


def test_fp16_loss_scaling_alone_is_exact():
    """Scaling by 2^16 and unscaling is exact in float32: the same updates as without a scaler."""
    data_gen = torch.Generator().manual_seed(0)
    batches = [make_toy2d("8gaussians").sample(16, data_gen) for _ in range(3)]
    plain, scaled = make_dxmi(0, 16), make_dxmi(0, 16)
    scaled.grad_scaler = Precision("fp16", "cpu").make_scaler()
    for b in batches:
        plain.update(b)
        scaled.update(b)
    assert torch.equal(flat_params(plain), flat_params(scaled))
    assert scaled.grad_scaler is not None and scaled.grad_scaler.get_scale() == 2.0**16


def test_fp16_skips_a_non_finite_step_and_backs_off():
    algo = make_dxmi(0, 8)
    algo.grad_scaler = Precision("fp16", "cpu", init_scale=1024.0).make_scaler()
    before = [p.detach().clone() for p in algo.energy.parameters()]
    loss = algo.energy(torch.randn(8, 2)).mean() * float("inf")
    gnorm = algo.optimizer_step("energy", loss, max_norm=None)
    assert float(gnorm) == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, algo.energy.parameters()))
    assert algo.grad_scaler.get_scale() == 512.0
    ok = algo.energy(torch.randn(8, 2)).mean()
    assert float(algo.optimizer_step("energy", ok, max_norm=None)) > 0
    assert not all(torch.equal(a, b) for a, b in zip(before, algo.energy.parameters()))


def pretrain_eval_loss(tmp_path, name: str) -> tuple[float, float, Trainer]:
    """(eval loss before, after 200 DDPM steps under ``name`` precision, the trainer)."""
    torch.manual_seed(0)
    model = EpsilonModel(TimeMLP(2, 2, hidden=64, depth=2, time_dim=16), LinearBetaSchedule(100), (2,))
    algo = DDPMTraining(model, lr=3e-3, generator=torch.Generator().manual_seed(1))
    ds = make_toy2d("8gaussians")
    eval_x = ds.sample(4096, torch.Generator().manual_seed(9))

    def eval_loss() -> float:
        with torch.no_grad():
            return float(model.loss(eval_x, torch.Generator().manual_seed(3)))

    start = eval_loss()
    trainer = Trainer(algo, ds.sample, 128, 200, tmp_path / name, progress=False, tensorboard=False, log_every=50,
                      precision=Precision(name, "cpu"))
    trainer.fit()
    return start, eval_loss(), trainer


def test_pretraining_learns_under_autocast(tmp_path):
    start, fp32, _ = pretrain_eval_loss(tmp_path, "fp32")
    assert fp32 < 0.85 * start
    for name in ("bf16", "fp16"):
        s, end, trainer = pretrain_eval_loss(tmp_path, name)
        assert s == start
        assert end < 0.85 * start and end < 1.1 * fp32, (name, start, end, fp32)
        header = (tmp_path / name / "metrics.csv").read_text().splitlines()[0]
        assert ("amp_scale" in header) == (name == "fp16")
        ckpt = load_checkpoint(tmp_path / name / "checkpoints" / "last.safetensors")
        assert ("grad_scaler" in ckpt) == (name == "fp16")


def test_dxmi_update_under_bf16_keeps_float32_state():
    algo = make_dxmi(0, 16)
    start = flat_params(algo).clone()
    with Precision("bf16", "cpu").autocast():
        m = algo.update(make_toy2d("8gaussians").sample(16, torch.Generator().manual_seed(0)))
    assert m.all_finite()
    assert algo.buffer.states.dtype == torch.float32 and algo.s2.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in algo.policy.parameters())
    assert not torch.equal(start, flat_params(algo))


def test_precision_config_is_checked():
    assert load_config("8gaussians", ["precision=bf16"]).precision == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of"):
        load_config("8gaussians", ["precision=fp8"])
    with pytest.raises(ValueError, match="precision must be one of"):
        Precision("int8")
