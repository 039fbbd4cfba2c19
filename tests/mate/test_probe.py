"""On a Bernoulli bandit a linear probe on MATE's memory recovers the exact posterior.

The posterior over the arm means is a product of Beta(1 + s_k, 1 + f_k) with s_k / f_k the
successes / failures of arm k: a sum over transitions of the indicator features of the 2K
possible (arm, reward) transitions. MATE's state is S_t = sum_i phi(x_i) = Phi N_t with N_t the
counts of those 2K transitions; when phi's 2K values are linearly independent (true for a
generic, even untrained, embedder with d >= 2K), N_t = Phi^+ S_t exactly.
"""

import numpy as np
import torch

from dxmi.mate.envs import BernoulliBandit
from dxmi.mate.memories import MATEMemory
from dxmi.mate.tokenizer import Tokenizer

K, H, D = 3, 30, 16


def collect(episodes: int, seed: int):
    env = BernoulliBandit(num_envs=episodes, arms=K, horizon=H)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(123)  # the same (untrained) embedder for the train and test episodes
    tok = Tokenizer(1, env.action, D).double().eval()
    mem = MATEMemory(D, project=False, gate=False).double().eval()
    state = mem.init_state(episodes)
    counts = np.zeros((episodes, 2 * K))
    states, outputs, targets, times = [], [], [], []
    with torch.no_grad():
        for t in range(H):
            a = rng.integers(0, K, size=episodes)
            nxt, r, *_ = env.step(a)
            x = tok.tokens(torch.as_tensor(obs, dtype=torch.float64), torch.as_tensor(a),
                           torch.as_tensor(r, dtype=torch.float64),
                           torch.as_tensor(nxt, dtype=torch.float64))
            out, state = mem.step(state, x)
            counts[np.arange(episodes), a + K * r.astype(int)] += 1
            states.append(state.total.numpy().copy())
            outputs.append(out.numpy().copy())
            targets.append(counts.copy())
            times.append(np.full(episodes, t + 1))
            obs = nxt
    return (np.concatenate(states), np.concatenate(outputs), np.concatenate(targets),
            np.concatenate(times))


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def test_linear_probe_recovers_beta_posterior_from_state() -> None:
    s_tr, _, n_tr, _ = collect(40, seed=0)
    s_te, _, n_te, _ = collect(40, seed=1)
    w = fit(s_tr, n_tr)
    pred = s_te @ w
    assert np.abs(pred - n_te).max() < 1e-6
    failures, successes = pred[:, :K], pred[:, K:]
    post_mean = (1 + successes) / (2 + successes + failures)
    exact = (1 + n_te[:, K:]) / (2 + n_te[:, K:] + n_te[:, :K])
    assert np.abs(post_mean - exact).max() < 1e-6


def test_linear_probe_recovers_frequencies_from_normalised_output() -> None:
    """The output m_t = (e_0 + S_t) / (1 + t) gives the counts over (1 + t), linearly."""
    _, m_tr, n_tr, t_tr = collect(40, seed=2)
    _, m_te, n_te, t_te = collect(40, seed=3)
    w = fit(m_tr, n_tr / (1 + t_tr[:, None]))
    assert np.abs(m_te @ w - n_te / (1 + t_te[:, None])).max() < 1e-6


def test_linear_probe_recovers_nothing_beyond_the_sum() -> None:
    """Control: the counts are recoverable but the order is not; after pulls (0, 1) and (1, 0)
    (same rewards) the states are identical."""
    tok = Tokenizer(1, BernoulliBandit(1, arms=K).action, D).double().eval()
    mem = MATEMemory(D, project=False, gate=False).double().eval()
    one = torch.ones(1, 1, dtype=torch.float64)
    r = torch.ones(1, dtype=torch.float64)
    finals = []
    with torch.no_grad():
        for order in ([0, 1], [1, 0]):
            state = mem.init_state(1)
            for a in order:
                _, state = mem.step(state, tok.tokens(one, torch.tensor([a]), r, one))
            finals.append(state.total)
    torch.testing.assert_close(finals[0], finals[1])
