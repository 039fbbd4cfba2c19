"""Every algorithm steps its optimisers through ``Algorithm.optimizer_step``: under an fp16 loss
scaler the updates equal the unscaled ones (scaling by a power of two is exact in float32), and a
step whose gradients overflow is skipped while the scale backs off, for each optimiser of VGS,
LangevinCD, EBM-VGS, DxMI and GCD (CPU: the overflow is injected as an inf gradient)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from dxmi.algorithms import LangevinCD, LangevinCDConfig
from dxmi.algorithms.base import Algorithm
from dxmi.algorithms.ebm_vgs import EBMVGS
from dxmi.algorithms.vgs import VGS, make_config
from dxmi.energies import MLPEnergy
from dxmi.targets import make_target
from dxmi.training.precision import Precision
from tests.helpers import make_dxmi

B = 16


def vgs_config(*extra: str):
    return make_config("u1", ["num_steps=3", f"batch_size={B}", "net.hidden=16", "net.depth=2", "net.time_dim=8",
                              "td_batch=24", *extra])


def make_vgs() -> VGS:
    torch.manual_seed(0)
    return VGS(make_target("u1"), vgs_config())


def make_langevin() -> LangevinCD:
    torch.manual_seed(0)
    return LangevinCD(MLPEnergy(2, hidden=16, depth=2), LangevinCDConfig(batch_size=B, langevin_steps=3, gamma=0.5,
                                                                       energy_grad_clip=1.0),
                      generator=torch.Generator().manual_seed(3))


def make_ebm_vgs() -> EBMVGS:
    torch.manual_seed(0)
    return EBMVGS(MLPEnergy(2, hidden=16, depth=2), 2, vgs_config("energy_clip=50.0"), vgs_steps=2)


ALGORITHMS: dict[str, Callable[[], Algorithm]] = {
    "vgs": make_vgs,
    "langevin_cd": make_langevin,
    "ebm_vgs": make_ebm_vgs,
    "dxmi": lambda: make_dxmi(0, B),
    "gcd": lambda: make_dxmi(0, B, update="gcd"),
}
#: (algorithm, optimiser) pairs; ``vgs_*`` optimisers of EBM-VGS are stepped by its inner VGS.
OPTIMISERS = [(a, o) for a, names in {"vgs": ["value", "s_init"], "langevin_cd": ["energy"],
                                      "ebm_vgs": ["energy", "vgs_value", "vgs_s_init"],
                                      "dxmi": ["energy", "value", "sampler"], "gcd": ["sampler"]}.items()
              for o in names]


def batches(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, 2, generator=g) for _ in range(n)]


def flat(algo: Algorithm) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in algo.modules.values() for p in m.parameters()])


def steppers(algo: Algorithm) -> dict[str, tuple[Algorithm, str]]:
    """optimiser name of ``algo`` -> (the algorithm that steps it, its name there)."""
    out = {n: (algo, n) for n in algo.optimizers}
    if isinstance(algo, EBMVGS):
        out.update({f"vgs_{n}": (algo.negatives.vgs, n) for n in algo.negatives.vgs.optimizers})
    return out


class Spy:
    """Records every ``optimizer_step`` call of the algorithms that step ``algo``'s optimisers; when
    ``poison`` names one of them, its first step gets an inf gradient."""

    def __init__(self, algo: Algorithm, poison: str | None = None):
        self.algo, self.calls = algo, []
        for full, (owner, name) in steppers(algo).items():
            if not hasattr(owner, "_spied"):
                owner._spied = {}  # type: ignore[attr-defined]
                owner.optimizer_step = self._wrap(owner)  # type: ignore[method-assign]
            owner._spied[name] = full  # type: ignore[attr-defined]
        self.poison = poison
        self.poisoned: dict | None = None

    def _wrap(self, owner: Algorithm):
        def step(name, loss, max_norm, inputs=None):
            full = owner._spied[name]  # type: ignore[attr-defined]
            params = [p for g in owner.optimizers[name].param_groups for p in g["params"]]
            hook = None
            if full == self.poison and self.poisoned is None:
                hook = params[0].register_hook(lambda g: g * float("inf"))
            before = [p.detach().clone() for p in params]
            scale = self.algo.grad_scaler.get_scale() if self.algo.grad_scaler is not None else None
            gnorm = Algorithm.optimizer_step(owner, name, loss, max_norm, inputs)
            if hook is not None:
                hook.remove()
                self.poisoned = {"unchanged": all(torch.equal(a, p) for a, p in zip(before, params)),
                                 "gnorm": float(gnorm), "scale": (scale, self.algo.grad_scaler.get_scale())}
            self.calls.append(full)
            return gnorm
        return step


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_loss_scaling_is_exact_and_every_optimiser_steps_through_it(name):
    plain, scaled = ALGORITHMS[name](), ALGORITHMS[name]()
    scaled.grad_scaler = Precision("fp16", "cpu").make_scaler()
    spy = Spy(scaled)
    for b in batches(3):
        mp, ms = plain.update(b), scaled.update(b)
        assert dict(mp) == dict(ms)
    assert torch.equal(flat(plain), flat(scaled))
    assert not torch.equal(flat(scaled), flat(ALGORITHMS[name]()))
    assert scaled.grad_scaler is not None and scaled.grad_scaler.get_scale() == 2.0**16  # no overflow, no growth
    assert set(spy.calls) == set(steppers(scaled)), "an optimiser was stepped by hand"


@pytest.mark.parametrize(("name", "opt"), OPTIMISERS)
def test_an_overflowing_step_is_skipped_and_the_scale_backs_off(name, opt):
    algo = ALGORITHMS[name]()
    algo.grad_scaler = Precision("fp16", "cpu", init_scale=1024.0).make_scaler()
    spy = Spy(algo, poison=opt)
    data = batches(2)
    assert algo.update(data[0]).all_finite()
    assert spy.poisoned is not None, f"{opt} was not stepped"
    assert spy.poisoned["unchanged"], f"{opt}: the step with an inf gradient changed the parameters"
    assert spy.poisoned["gnorm"] == 0.0
    assert spy.poisoned["scale"] == (1024.0, 512.0)
    assert algo.grad_scaler.get_scale() == 512.0  # once, and only the poisoned step backed off
    owner, sub = steppers(algo)[opt]
    before = [p.detach().clone() for g in owner.optimizers[sub].param_groups for p in g["params"]]
    assert algo.update(data[1]).all_finite()
    after = [p for g in owner.optimizers[sub].param_groups for p in g["params"]]
    assert not all(torch.equal(a, b) for a, b in zip(before, after)), f"{opt} did not recover"
    assert algo.grad_scaler.get_scale() == 512.0
