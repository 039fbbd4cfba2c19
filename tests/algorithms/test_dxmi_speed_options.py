"""The speed work: default changes give the same numbers; the speed options (off by default) compute
the same quantities up to rounding, and batched TD has the sequential sweep's fixed point."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dxmi.algorithms import DxMI, DxMIConfig
from dxmi.algorithms.base import make_adam
from dxmi.algorithms.vgs import VGS, make_config
from dxmi.buffers import TrajectoryBuffer
from dxmi.energies import GaussianEnergy, MLPEnergy
from dxmi.nets import TimeMLP, ema_update
from dxmi.nets.mlp import set_dedup_times
from dxmi.targets import make_target
from dxmi.values import CostToGo, SharedEnergyValue, TimeDependentValue
from tests.helpers import AffinePolicy, LinearValue


def _net(seed: int = 0) -> TimeMLP:
    torch.manual_seed(seed)
    return TimeMLP(2, 3, hidden=32, depth=3, time_dim=16)


def test_make_adam_gives_the_per_tensor_loops_numbers():
    a, b = _net(), _net()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, foreach=False)
    opt_b = make_adam(b.parameters(), 1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        grads = [torch.randn(p.shape, generator=g) for p in a.parameters()]
        for net, opt in ((a, opt_a), (b, opt_b)):
            for p, gr in zip(net.parameters(), grads):
                p.grad = gr.clone()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    fused = make_adam(_net().parameters(), 1e-2, fused=True)
    assert fused.defaults["fused"] and not make_adam(_net().parameters(), 1e-2).defaults["fused"]


def test_ema_update_is_the_per_parameter_lerp():
    src, tgt = _net(0), _net(1)
    expected = [pt.detach().lerp(ps.detach(), 0.1) for pt, ps in zip(tgt.parameters(), src.parameters())]
    ema_update(tgt, src, 0.9)
    assert all(torch.equal(p, e) for p, e in zip(tgt.parameters(), expected))


def test_dedup_times_embeds_each_distinct_time_once():
    net = _net()
    x = torch.randn(300, 2, requires_grad=True)
    t = torch.randint(0, 5, (300,))
    ref = net(x, t.float())
    (gx_ref, *gp_ref) = torch.autograd.grad(ref.square().sum(), [x, *net.parameters()])
    assert set_dedup_times(nn.Sequential(net)) == 1 and net.dedup_times
    out = net(x, t.float())
    (gx, *gp) = torch.autograd.grad(out.square().sum(), [x, *net.parameters()])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(gp, gp_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    one_t = torch.full((300,), 2.0)  # one time for the whole batch: the same path either way
    assert torch.equal(net(x, one_t), _net()(x, one_t))


def _parts(shared: bool = False):
    torch.manual_seed(0)
    energy = MLPEnergy(2, hidden=16, depth=2)
    value = SharedEnergyValue(energy, 3) if shared else TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 3)
    return value, energy


def test_split_cost_to_go_evaluates_each_row_once_with_the_same_values_and_gradients():
    value, energy = _parts()
    x = torch.randn(64, 2, requires_grad=True)
    t = torch.randint(1, 4, (64,))  # 1..T, the last one terminal
    full = CostToGo(value, energy)(x, t)
    (g_full,) = torch.autograd.grad(full.sum(), x)
    split = CostToGo(value, energy, split=True)(x, t)
    (g_split,) = torch.autograd.grad(split.sum(), x)
    torch.testing.assert_close(split, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_split, g_full, rtol=1e-5, atol=1e-6)
    assert torch.equal(CostToGo(value, energy)(x, t, split=True), split)


def test_a_value_that_is_the_energy_is_evaluated_once_with_identical_numbers():
    value, energy = _parts(shared=True)
    ctg = CostToGo(value, energy)
    assert ctg.value_is_energy
    x = torch.randn(64, 2, requires_grad=True)
    t = torch.randint(1, 4, (64,))
    terminal = t == 3
    both = torch.where(terminal, energy(x), value(x, t.clamp(max=2)))  # what every row used to run
    (g_both,) = torch.autograd.grad(both.sum(), x)
    once = ctg(x, t)
    (g_once,) = torch.autograd.grad(once.sum(), x)
    assert torch.equal(once, both) and torch.equal(g_once, g_both)


def test_rollout_into_the_buffer_needs_no_copy_and_draws_the_same_chains():
    pol = AffinePolicy(3, 2)
    buf = TrajectoryBuffer(3, 8, (2,))
    ref = pol.rollout(8, torch.Generator().manual_seed(5))
    slots = buf.slots(8)
    traj = pol.rollout(8, torch.Generator().manual_seed(5), out=slots)
    assert traj.states.data_ptr() == buf.states.data_ptr()
    buf.store(traj)
    assert torch.equal(buf.states, ref.states)
    with pytest.raises(ValueError, match="out must be"):
        pol.rollout(4, out=slots)
    batch = buf.transitions()  # all T * B transitions, step by step
    assert batch.x.shape == (24, 2) and torch.equal(batch.t, torch.arange(3).repeat_interleave(8))
    assert torch.equal(batch.next_x[8:16], buf.states[2])


def _td_problem(batched: bool) -> tuple[DxMI, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A fixed buffer, a linear value and a known energy; the value's optimiser is plain SGD."""
    torch.manual_seed(0)
    T, D, B = 3, 2, 64
    pol = AffinePolicy(T, D)
    value = LinearValue(T, D)
    energy = GaussianEnergy(torch.tensor([1.0, -0.5]), var=0.5)  # no parameters: a known reward
    cfg = DxMIConfig(batch_size=B, tau1=0.1, tau2=0.05, value_grad_clip=None, td_batched=batched)
    algo = DxMI(pol, value, energy, cfg, generator=torch.Generator().manual_seed(1))
    algo.buffer.store(pol.rollout(B, torch.Generator().manual_seed(2)))
    algo._update_velocity_scale()
    algo.optimizers["value"] = torch.optim.SGD(value.parameters(), lr=0.3 if batched else 0.1)
    # the fixed point by hand: least squares of each step's soft-Bellman target on [x_t, 1], backwards
    fixed: list[tuple[torch.Tensor, torch.Tensor]] = [None] * T  # type: ignore[list-item]
    nxt = None
    for t in range(T - 1, -1, -1):
        b = algo.buffer.at(t)
        cost = algo.running_cost(b, b.next_x, 0)
        to_go = energy(b.next_x) if t == T - 1 else (b.next_x @ nxt[0] + nxt[1])
        a = torch.cat([b.x, torch.ones(B, 1)], 1).double()
        sol = torch.linalg.lstsq(a, (to_go + cost).double()[:, None]).solution[:, 0].float()
        fixed[t] = nxt = (sol[:D], sol[D])
    return algo, fixed


@pytest.mark.parametrize("batched", [False, True])
def test_batched_td_has_the_sequential_sweeps_soft_bellman_fixed_point(batched):
    algo, fixed = _td_problem(batched)
    for _ in range(1500):
        algo.value_steps()
    value = algo.value
    for t, (w, c) in enumerate(fixed):
        torch.testing.assert_close(value.w[t].detach(), w, rtol=0, atol=2e-4)
        torch.testing.assert_close(value.c[t].detach(), c, rtol=0, atol=2e-4)
    assert algo.optimizers["value"].state == {}  # SGD without momentum: nothing to check there


def test_batched_td_takes_one_optimiser_step_per_pass():
    torch.manual_seed(0)
    for batched, expected in ((False, 3 * 2), (True, 2)):
        pol, value = AffinePolicy(3, 2), LinearValue(3, 2)
        cfg = DxMIConfig(batch_size=16, td_batched=batched, value_passes=2)
        algo = DxMI(pol, value, GaussianEnergy(torch.zeros(2), 1.0), cfg, generator=torch.Generator().manual_seed(1))
        algo.update(torch.randn(16, 2))
        steps = {int(s["step"]) for s in algo.optimizers["value"].state.values()}
        assert steps == {expected}
    with pytest.raises(ValueError, match="td_batched"):
        DxMIConfig(td_sample=8)
    cfg = DxMIConfig(batch_size=16, td_batched=True, td_sample=8, split_cost_to_go=True, dedup_times=True,
                     fused_adam=True)
    algo = DxMI(AffinePolicy(3, 2), LinearValue(3, 2), GaussianEnergy(torch.zeros(2), 1.0), cfg)
    m = algo.update(torch.randn(16, 2))
    assert all(torch.isfinite(torch.tensor(v)) for v in m.values())


def test_speed_options_train_dxmi_alike():
    """A few updates with every option on stay close to the default run (same seeds)."""
    def run(**opts):
        torch.manual_seed(0)
        policy = AffinePolicy(4, 2)
        value = TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 4)
        energy = MLPEnergy(2, hidden=16, depth=2)
        algo = DxMI(policy, value, energy, DxMIConfig(batch_size=64, **opts), torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(2)
        for _ in range(3):
            m = algo.update(torch.randn(64, 2, generator=g))
        return algo, m

    ref, m_ref = run()
    fast, m_fast = run(split_cost_to_go=True, dedup_times=True, fused_adam=True)
    for p, q in zip(ref.energy.parameters(), fast.energy.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    assert m_fast["loss_sampler"] == pytest.approx(m_ref["loss_sampler"], rel=1e-3, abs=1e-4)


def test_vgs_rollout_freezes_the_weights_only_while_it_runs():
    algo = VGS(make_target("gmm"), make_config("gmm", ["num_steps=4", "batch_size=8", "net.hidden=16",
                                                       "net.time_dim=8"]))
    s = algo.sampler
    before = copy.deepcopy([p.requires_grad for p in s.value.parameters()])
    roll = s.rollout(8, torch.Generator().manual_seed(0))
    assert [p.requires_grad for p in s.value.parameters()] == before and all(before)
    assert torch.isfinite(roll.states).all()
    fast = VGS(make_target("gmm"), make_config("gmm", ["num_steps=4", "batch_size=8", "net.hidden=16",
                                                       "net.time_dim=8", "fused_adam=true", "net.dedup_times=true"]))
    assert fast.sampler.value.net.dedup_times and fast.optimizers["value"].defaults["fused"]
    assert torch.isfinite(torch.tensor(fast.update()["td_loss"]))


def test_detector_fast_training_switches_on_dxmis_speed_options(tmp_path):
    from dxmi.anomaly import make_detector
    from dxmi.anomaly.inputs import Standardizer

    det = make_detector("dxmi", iterations=2, fast_training=True, batch_size=16)
    x = torch.randn(40, 3)
    energy = det.build_energy(Standardizer.fit(x))
    algo = det.build_algorithm(energy, x, torch.Generator().manual_seed(0), tmp_path)
    cfg = algo.config
    assert cfg.td_batched and cfg.split_cost_to_go and cfg.dedup_times and cfg.fused_adam
    default = make_detector("dxmi", iterations=2, batch_size=16).build_algorithm(energy, x, torch.Generator(), tmp_path)
    assert not (default.config.td_batched or default.config.fused_adam)
