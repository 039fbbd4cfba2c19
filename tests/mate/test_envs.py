"""Batched environments: gymnasium-style API, lockstep episodes, and the order task's
multiset property (why MATE must fail on it)."""

import numpy as np
import pytest
import torch

from dxmi.mate.envs import TASKS, FlipPendulum, OrderRecall, PassiveTMaze, make_env, mujoco_available
from dxmi.mate.memories import GRUMemory, MATEMemory
from dxmi.mate.tokenizer import Tokenizer

CHEAP = ["tmaze", "order", "bandit", "point", "pendulum"]


def random_actions(env, rng):
    if env.action.discrete:
        return rng.integers(0, env.action.n, size=env.num_envs)
    return rng.uniform(-1, 1, size=(env.num_envs, env.action.dim))


@pytest.mark.parametrize("task", CHEAP)
def test_api_seeding_and_lockstep(task: str) -> None:
    env = make_env(task, 5)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=3)
    assert obs.shape == (5, env.obs_dim) and obs.dtype == np.float32
    assert info["context"].shape == (5, env.context_dim)
    obs2, info2 = env.reset(seed=3)
    np.testing.assert_array_equal(obs, obs2)
    np.testing.assert_array_equal(info["context"], info2["context"])
    ended = np.zeros(5, dtype=bool)
    for _ in range(env.max_steps):
        o, r, term, trunc, info = env.step(random_actions(env, rng))
        assert o.shape == obs.shape and r.shape == (5,) and term.dtype == bool
        assert not (ended & (term | trunc)).any(), "a finished row ended twice"
        assert (r[ended] == 0).all(), "a finished row got reward"
        ended |= term | trunc
        if env.done.all():
            break
    assert ended.all()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(random_actions(env, rng))


def test_bad_actions_and_options_are_clear_errors() -> None:
    env = make_env("tmaze", 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be \(2,\); got \(3,\)"):
        env.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="env: bad options"):
        make_env("tmaze", 2, corridor=4)
    with pytest.raises(ValueError, match="unknown task"):
        make_env("maze", 2)


def test_tmaze_reward_and_success() -> None:
    env = PassiveTMaze(num_envs=2, length=3)
    obs, info = env.reset(seed=1)
    assert (obs[:, 1] == info["context"][:, 0]).all()  # cue visible at t = 0 only
    for _ in range(3):
        obs, r, *_ = env.step(np.array([2, 2]))
        assert (obs[:, 1] == 0).all()
    assert (obs[:, 2] == 1).all()
    cue = info["context"][:, 0]
    good = np.where(cue > 0, 0, 1)
    _, r, term, _, info = env.step(np.array([good[0], 1 - good[1]]))
    np.testing.assert_array_equal(r, [1.0, 0.0])
    assert term.all() and info["success"].tolist() == [True, False]


def order_tokens(b_first: int):
    """Transitions of one OrderRecall episode with fixed cue times and the given order."""
    env = OrderRecall(num_envs=1, length=8)
    obs, _ = env.reset(seed=0)
    env.cue_times = np.array([[2, 5]]) if b_first == 0 else np.array([[5, 2]])
    env.context = np.array([[float(b_first)]], dtype=np.float32)
    obs = env._observe().astype(np.float32)
    rows = []
    for _ in range(7):  # up to the query observation
        nxt, r, *_ = env.step(np.array([0]))
        rows.append((obs, 0, r, nxt))
        obs = nxt
    return rows, obs


def test_order_task_is_invisible_to_any_order_blind_memory() -> None:
    torch.manual_seed(0)
    tok = Tokenizer(3, OrderRecall(1).action, 16).eval()
    mate, gru = MATEMemory(16).eval(), GRUMemory(16).eval()
    outs = {}
    for b_first in (0, 1):
        rows, query_obs = order_tokens(b_first)
        assert query_obs[0, 2] == 1.0
        x = torch.stack([tok.tokens(torch.as_tensor(o), torch.tensor([a]),
                                    torch.as_tensor(r), torch.as_tensor(n))[0]
                         for o, a, r, n in rows])[None]
        start = torch.zeros(1, x.shape[1], dtype=torch.bool)
        with torch.no_grad():
            outs[b_first] = (mate(x, start)[0, -1], gru(x, start)[0, -1])
    torch.testing.assert_close(outs[0][0], outs[1][0])  # MATE: identical memories
    assert (outs[0][1] - outs[1][1]).abs().max() > 1e-4  # GRU: different


def test_order_task_prices_self_written_records() -> None:
    """Action 1 before the query costs ``action_cost``; action 0 is free; the answer pays 1."""
    env = OrderRecall(num_envs=2, length=8, action_cost=2.0)
    _, info = env.reset(seed=3)
    _, r, term, _, _ = env.step(np.array([0, 1]))
    np.testing.assert_array_equal(r, [0.0, -2.0])
    assert not term.any()
    for _ in range(6):
        obs, r, *_ = env.step(np.array([0, 0]))
        np.testing.assert_array_equal(r, [0.0, 0.0])
    assert (obs[:, 2] == 1).all()  # the query: the answer is rewarded, never charged
    answer = info["context"][:, 0].astype(np.int64)
    _, r, term, _, _ = env.step(np.array([answer[0], 1 - answer[1]]))
    np.testing.assert_array_equal(r, [1.0, 0.0])
    assert term.all()
    # the cheapest record of the order (one action 1 in half the episodes) loses return
    assert 1.0 - env.action_cost / 2 < 0.5
    with pytest.raises(ValueError, match="action_cost"):
        OrderRecall(1, action_cost=-1.0)


def test_pendulum_reward_and_hidden_sign() -> None:
    """Upright and still with no torque is a fixed point worth 1 per step; the reward is
    ``exp(-cost)``; the same action turns the pendulum opposite ways under the two signs."""
    env = FlipPendulum(num_envs=2, horizon=5, gravity=5.0, max_torque=3.0)
    env.reset(seed=0)
    env.context = np.array([[1.0], [-1.0]])
    env.theta[:] = 0.0
    env.omega[:] = 0.0
    for _ in range(2):
        obs, r, *_ = env.step(np.zeros((2, 1)))
        np.testing.assert_allclose(r, [1.0, 1.0])
        np.testing.assert_allclose(obs, [[1.0, 0.0, 0.0]] * 2)
    obs, r, *_ = env.step(np.full((2, 1), 0.5))
    u = 1.5  # max_torque * a; the cost is charged on the pre-step state and this torque
    np.testing.assert_allclose(r, np.exp(-0.001 * u**2))
    omega = 3.0 * u * 0.05  # m = l = 1: thetadot += 3 u dt at theta = 0
    np.testing.assert_allclose(obs[:, 2] * 8.0, [omega, -omega])
    assert obs[0, 1] > 0 > obs[1, 1]


def test_gymnasium_spaces_are_optional() -> None:
    pytest.importorskip("gymnasium")
    obs_space, act_space = make_env("point", 2).spaces()
    assert obs_space.shape == (2,) and act_space.shape == (2,)


@pytest.mark.skipif(not mujoco_available(), reason="mujoco is not installed (optional extra)")
@pytest.mark.parametrize("task", ["cheetah_vel", "ant_dir"])
def test_mujoco_tasks_smoke(task: str, tmp_path, monkeypatch, tiny: list[str]) -> None:
    """The wrapped MuJoCo task steps, and its packaged preset trains end to end (4 short rollouts)."""
    from dxmi.mate.config import load_config
    from dxmi.mate.train import MATETrainer

    monkeypatch.chdir(tmp_path)  # mujoco writes its warnings to ./MUJOCO_LOG.TXT
    env = make_env(task, 2, horizon=5)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2, env.obs_dim) and info["context"].shape == (2, env.context_dim)
    for _ in range(5):
        obs, r, *_ = env.step(np.zeros((2, env.action.dim)))
    assert np.isfinite(obs).all() and np.isfinite(r).all()
    cfg = load_config(task, [*tiny, "env.horizon=5"])
    result = MATETrainer(cfg, str(tmp_path), progress=False).run()
    assert np.isfinite(result.mean_return)
    assert (tmp_path / "log.csv").exists() and (tmp_path / "checkpoint.safetensors").exists()


def test_registry_covers_the_tasks() -> None:
    assert set(CHEAP) <= set(TASKS)
