"""Few-step baselines: diffusers' solvers driven by our epsilon models, and the subsequence rules
/ DDIM-eta policy means that share their timestep spacings."""

import pytest
import torch
from torch import nn

from dxmi.diffusion import EpsilonModel
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.policies.ddpm import ddim_tables
from dxmi.schedules import LinearBetaSchedule, make_subsequence

diffusers = pytest.importorskip("diffusers")

from dxmi.diffusion.solvers import (  # noqa: E402
    SOLVERS,
    SPACINGS,
    choose_spacing,
    make_scheduler,
    solver_sample,
    solver_trajectory,
)


class DiracEps(nn.Module):
    """The exact epsilon-predictor of data concentrated at c: eps(x, k) = (x - sqrt(ab_k) c) / sqrt(1 - ab_k),
    at continuous k through the schedule's closed form."""

    def __init__(self, schedule: LinearBetaSchedule, c: torch.Tensor):
        super().__init__()
        self.schedule, self.c = schedule, c

    def forward(self, x, k):
        ab = self.schedule.log_alpha_bar_continuous(k.double()).exp().float().view(-1, *([1] * (x.ndim - 1)))
        return (x - ab.sqrt() * self.c) / (1 - ab).sqrt()


def dirac_model(dim: int = 3) -> tuple[EpsilonModel, torch.Tensor]:
    sched = LinearBetaSchedule(1000, 1e-4, 0.02)
    c = torch.linspace(-1.5, 2.0, dim)
    return EpsilonModel(DiracEps(sched, c), sched, (dim,)), c


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("steps", [1, 4, 10])
def test_index_rules_match_diffusers_spacing(spacing, steps):
    base = LinearBetaSchedule(1000, 1e-4, 0.02)
    ours = make_subsequence(spacing).build(base, steps).timesteps
    sched = diffusers.DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    sched.set_timesteps(steps)
    assert [round(float(k)) for k in ours] == [int(k) for k in sched.timesteps]
    # the chain's alpha_hat at each step is the base model's alpha_bar at that index
    st = make_subsequence(spacing).build(base, steps)
    assert torch.allclose(st.alpha_hat, base.alpha_bar[sched.timesteps.long()], rtol=1e-9)


@pytest.mark.parametrize("rule", ["uniform", "leading", "linspace", "fastdpm_quadratic"])
def test_ddim_eta_one_is_the_ddpm_posterior_mean(rule):
    st = make_subsequence(rule).build(LinearBetaSchedule(), 6)
    a, b, sigma = ddim_tables(st, 1.0)
    assert torch.allclose(a, 1 / (1 - st.eta).sqrt(), rtol=1e-10)
    assert torch.allclose(b, -st.eta / ((1 - st.alpha_hat).sqrt() * (1 - st.eta).sqrt()), rtol=1e-8, atol=1e-12)
    assert torch.allclose(sigma, st.sigma)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_policy_keeps_every_marginal_on_dirac_data(eta):
    """With the exact eps of data at c, x_t ~ N(sqrt(ab_t) c, (1 - ab_t) I) maps to the next state's
    marginal for every ddim_eta (DDIM's marginal-preservation property); the chain ends at c."""
    model, c = dirac_model()
    policy = DDPMSubsequencePolicy.from_model(model, 5, "leading", ddim_eta=eta, last_sigma=1e-4)
    st = make_subsequence("leading").build(model.schedule, 5)
    ab = torch.cat([st.alpha_hat, torch.ones(1, dtype=torch.float64)]).float()
    g = torch.Generator().manual_seed(0)
    n = 40_000
    for t in range(5):
        x = ab[t].sqrt() * c + (1 - ab[t]).sqrt() * torch.randn(n, 3, generator=g)
        with torch.no_grad():
            nxt = policy.step(x, t, g).next_x
        assert torch.allclose(nxt.mean(0), ab[t + 1].sqrt() * c, atol=0.03)
        expected_std = float((1 - ab[t + 1]).sqrt()) if t < 4 else 1e-4
        assert torch.allclose(nxt.std(0), torch.full((3,), expected_std), rtol=0.03, atol=1e-5)


def test_ddim_tables_reject_bad_eta():
    st = make_subsequence("leading").build(LinearBetaSchedule(), 4)
    with pytest.raises(ValueError, match="ddim_eta"):
        ddim_tables(st, 1.5)


@pytest.mark.parametrize("name", sorted(s for s in SOLVERS if not s.startswith("deis")))
@pytest.mark.parametrize("spacing", SPACINGS)
def test_solvers_are_exact_on_dirac_data(name, spacing):
    """Every solver's data prediction is the constant c here, so each lands on c from any noise."""
    model, c = dirac_model()
    x = solver_sample(model, name, 4, 256, torch.Generator().manual_seed(1), spacing)
    assert x.shape == (256, 3)
    assert torch.allclose(x, c.expand_as(x), atol=2e-3), (x - c).abs().max()


@pytest.mark.parametrize("name", ["deis", "deis3"])
@pytest.mark.parametrize("spacing", SPACINGS)
def test_deis_is_exact_on_dirac_data_up_to_its_last_noise_level(name, spacing):
    """DEIS integrates epsilon, which is constant along the exact path of Dirac data, so it is exact, but
    it stops at the last timestep k = 0 rather than at alpha_bar = 1 (diffusers has no zero final sigma for
    it): x = sqrt(alpha_bar_0) c + sqrt(1 - alpha_bar_0) eps, eps the network's output at the first step."""
    model, c = dirac_model()
    path = solver_trajectory(model, name, 4, 256, torch.Generator().manual_seed(1), spacing)
    k0 = make_scheduler(name, model, 4, spacing).timesteps[0]
    eps = model.eps_net(path[0], torch.full((256,), float(k0)))
    ab0 = float(model.schedule.alpha_bar[0])
    expected = ab0**0.5 * c + (1 - ab0) ** 0.5 * eps
    assert torch.allclose(path[-1], expected, atol=2e-4), (path[-1] - expected).abs().max()
    assert (path[-1] - c).abs().max() > 1e-2  # not c itself: the residual noise of std 0.01 is there


def test_solver_sample_is_seeded_and_uses_the_model_betas():
    model, _ = dirac_model()
    a = solver_sample(model, "unipc", 4, 8, torch.Generator().manual_seed(3))
    b = solver_sample(model, "unipc", 4, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    sched = make_scheduler("dpmsolver++", model, 10, "trailing")
    assert torch.allclose(sched.alphas_cumprod.double(), model.schedule.alpha_bar, rtol=1e-6)
    assert len(sched.timesteps) == 10


def test_solver_errors_name_the_problem():
    model, _ = dirac_model()
    with pytest.raises(ValueError, match="unknown solver"):
        solver_sample(model, "heun", 4, 2)
    with pytest.raises(ValueError, match="spacing"):
        solver_sample(model, "ddim", 4, 2, spacing="karras")
    with pytest.raises(ValueError, match="num_steps"):
        solver_sample(model, "ddim", 0, 2)


def test_choose_spacing_takes_the_lowest_validation_score():
    model, c = dirac_model()
    seen = []

    def factory():
        seen.append(1)
        return torch.Generator().manual_seed(99)

    # a score that prefers trailing, whatever the samples: the choice follows the score, not a default
    fake = {"leading": 3.0, "trailing": 1.0, "linspace": 2.0}
    order = iter(SPACINGS)
    choice = choose_spacing(model, "ddim", 2, 4, lambda x: fake[next(order)], factory)
    assert choice.spacing == "trailing" and choice.scores == fake and len(seen) == 3


def test_policy_on_a_solvers_timesteps():
    model, _ = dirac_model()
    policy = DDPMSubsequencePolicy.from_model(model, 4, "unipc/leading", ddim_eta=0.0)
    sched = make_scheduler("unipc", model, 4, "leading")
    assert [round(float(k)) for k in policy.timesteps] == [int(k) for k in sched.timesteps]


def test_solver_distillation_learns_the_solvers_path():
    """A randomly initialised policy network regressed on UniPC's path of the exact Dirac model ends
    (nearly) at c, and its loss falls; a policy on other timesteps is refused with both tables named."""
    from dxmi.algorithms import SolverDistillation
    from dxmi.nets import TimeMLP

    torch.manual_seed(0)
    teacher, c = dirac_model(2)
    student = EpsilonModel(TimeMLP(2, 2, hidden=64, depth=2), teacher.schedule, (2,))
    policy = DDPMSubsequencePolicy.from_model(student, 4, "unipc/leading", ddim_eta=0.0)
    algo = SolverDistillation(policy, teacher, "unipc", "leading", batch_size=256, lr=3e-3,
                              generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    before = (policy.sample(2000, g()) - c).norm(dim=1).mean()
    first = algo.update(torch.zeros(1))["loss_distill"]
    for _ in range(400):
        m = algo.update(torch.zeros(1))
    after = (policy.sample(2000, g()) - c).norm(dim=1).mean()
    assert m["loss_distill"] < 0.1 * first
    assert after < 0.15 and after < 0.2 * before, (before, after)
    other = DDPMSubsequencePolicy.from_model(student, 4, "leading", ddim_eta=0.0)
    with pytest.raises(ValueError, match="differ from unipc"):
        SolverDistillation(other, teacher, "unipc", "leading", batch_size=8)


def test_on_policy_distillation_of_ddim_by_its_own_mean_is_exact():
    """The DDIM-form policy mean (eta = 0) of a model IS diffusers' DDIM step on the same timesteps: its own
    deterministic chain is the solver's path, so the on-policy states equal the path's and both losses
    are zero (to float precision)."""
    from dxmi.algorithms import SolverDistillation

    class ShiftedDirac(DiracEps):  # one parameter (zero) for the optimiser
        def __init__(self, schedule, c):
            super().__init__(schedule, c)
            self.shift = nn.Parameter(torch.zeros(()))

        def forward(self, x, k):
            return super().forward(x, k) + self.shift

    sched = LinearBetaSchedule(1000, 1e-4, 0.02)
    model = EpsilonModel(ShiftedDirac(sched, torch.tensor([-1.5, 2.0])), sched, (2,))
    policy = DDPMSubsequencePolicy.from_model(model, 4, "ddim/leading", ddim_eta=0.0)
    algo = SolverDistillation(policy, model, "ddim", "leading", batch_size=64, lr=0.0, on_policy=True,
                              generator=torch.Generator().manual_seed(0))
    from dxmi.diffusion.solvers import solver_trajectory

    path = solver_trajectory(model, "ddim", 4, 64, torch.Generator().manual_seed(1), "leading")
    torch.testing.assert_close(algo.own_states(path[0], None), path[:-1], atol=1e-4, rtol=1e-4)
    m = algo.update(torch.zeros(1))
    assert m["loss_distill"] < 1e-6 and m["loss_distill_own_last"] < 1e-6, m


def test_on_policy_distillation_learns_and_shrinks_the_chains_drift():
    """Regressing also from the policy's own states (``on_policy``) learns the solver's path, and after
    the same updates the policy's own chain ends no further from the solver's than with teacher forcing."""
    from dxmi.algorithms import SolverDistillation
    from dxmi.diffusion.solvers import solver_trajectory
    from dxmi.nets import TimeMLP

    teacher, c = dirac_model(2)
    ends = {}
    for on_policy in (False, True):
        torch.manual_seed(0)
        student = EpsilonModel(TimeMLP(2, 2, hidden=64, depth=2), teacher.schedule, (2,))
        policy = DDPMSubsequencePolicy.from_model(student, 4, "unipc/leading", ddim_eta=0.0)
        algo = SolverDistillation(policy, teacher, "unipc", "leading", batch_size=256, lr=3e-3, on_policy=on_policy,
                                  generator=torch.Generator().manual_seed(0))
        for _ in range(300):
            m = algo.update(torch.zeros(1))
        path = solver_trajectory(teacher, "unipc", 4, 2000, torch.Generator().manual_seed(5), "leading")
        with torch.no_grad():
            own_end = policy.mean(algo.own_states(path[0], None)[-1], torch.full((2000,), 3))
        ends[on_policy] = (own_end - path[-1]).norm(dim=1).mean()
        assert (own_end - c).norm(dim=1).mean() < 0.15
    assert "loss_distill_own_last" in m
    assert ends[True] <= 1.2 * ends[False], ends
