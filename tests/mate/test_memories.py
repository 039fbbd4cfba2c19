"""Identity checks of the memories: order invariance, rollout == training pass, O(1) state,
resets at episode starts, the segmented prefix sum."""

import pytest
import torch

from dxmi.mate.memories import MEMORIES, MATEMemory, build_memory, segmented_cumsum

D = 16
KW = {"transformer": {"heads": 2, "max_len": 64}}


def make(name: str) -> torch.nn.Module:
    return build_memory(name, D, context_dim=2, **KW.get(name, {})).eval()


def rollout(mem, tokens, start, context):
    state = mem.init_state(tokens.shape[0], context)
    outs = []
    for t in range(tokens.shape[1]):
        if t > 0:
            state = mem.reset_rows(state, start[:, t])
        out, state = mem.step(state, tokens[:, t])
        outs.append(out)
    return torch.stack(outs, 1), state


@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("project", [False, True])
def test_mate_is_permutation_invariant(gate: bool, project: bool) -> None:
    mem = MATEMemory(D, project=project, gate=gate).eval()
    tokens = torch.randn(4, 30, D)
    start = torch.zeros(4, 30, dtype=torch.bool)
    perm = torch.randperm(30)
    with torch.no_grad():
        out = mem(tokens, start)[:, -1]
        out_perm = mem(tokens[:, perm], start)[:, -1]
        _, st = rollout(mem, tokens[:, perm], start, None)
    torch.testing.assert_close(out, out_perm, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, mem.read(st), atol=1e-5, rtol=1e-5)
    # and it is not constant: a different multiset gives a different memory
    assert (mem(tokens[:, :-1], start[:, :-1])[:, -1] - out).abs().max() > 1e-3


def test_gru_is_not_permutation_invariant() -> None:
    mem = make("gru")
    tokens = torch.randn(2, 10, D)
    start = torch.zeros(2, 10, dtype=torch.bool)
    with torch.no_grad():
        diff = mem(tokens, start)[:, -1] - mem(tokens.flip(1), start)[:, -1]
    assert diff.abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(MEMORIES))
def test_rollout_equals_training_pass_with_episode_starts(name: str) -> None:
    mem = make(name)
    b, t = 3, 25
    tokens = torch.randn(b, t, D)
    start = torch.zeros(b, t, dtype=torch.bool)
    start[:, 0] = True
    start[1, 9] = True
    start[2, 4] = start[2, 17] = True
    context = torch.randn(b, 2)
    with torch.no_grad():
        seq = mem(tokens, start, context)
        steps, _ = rollout(mem, tokens, start, context)
    assert seq.shape == (b, t, mem.out_dim)
    torch.testing.assert_close(seq, steps, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["mate", "lstm", "gru"])
def test_memory_resets_at_episode_starts(name: str) -> None:
    """After a start, outputs equal those of a fresh memory run on the new episode alone."""
    mem = make(name)
    tokens = torch.randn(2, 20, D)
    start = torch.zeros(2, 20, dtype=torch.bool)
    start[:, 8] = True
    with torch.no_grad():
        joined = mem(tokens, start)
        alone = mem(tokens[:, 8:], torch.zeros(2, 12, dtype=torch.bool))
        before = mem(tokens[:, :8], torch.zeros(2, 8, dtype=torch.bool))
    torch.testing.assert_close(joined[:, 8:], alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(joined[:, :8], before, atol=1e-5, rtol=1e-4)


def test_transformer_attention_does_not_cross_episode_starts() -> None:
    mem = make("transformer")
    tokens = torch.randn(1, 20, D)
    start = torch.zeros(1, 20, dtype=torch.bool)
    start[:, 8] = True
    with torch.no_grad():
        joined = mem(tokens, start)
        alone = mem(tokens[:, 8:], torch.zeros(1, 12, dtype=torch.bool))
    torch.testing.assert_close(joined[:, 8:], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["mate", "lstm", "gru", "memoryless"])
def test_state_size_does_not_grow(name: str) -> None:
    mem = make(name)
    state = mem.init_state(2)
    size0 = state.numel()
    with torch.no_grad():
        for _ in range(300):
            _, state = mem.step(state, torch.randn(2, D))
    assert state.numel() == size0
    if name == "mate":
        assert size0 == 2 * (D + 1)  # (S_t, W_t) per row: O(d)


def test_mate_first_output_is_the_prior_embedding() -> None:
    mem = MATEMemory(D, project=False, gate=False).eval()
    torch.testing.assert_close(mem.read(mem.init_state(3)), mem.e0.expand(3, D))


def test_segmented_cumsum_matches_a_loop() -> None:
    x = torch.randn(3, 40, 5)
    start = torch.rand(3, 40) < 0.2
    got = segmented_cumsum(x, start)
    want = torch.zeros_like(x)
    for b in range(3):
        acc = torch.zeros(5)
        for t in range(40):
            acc = x[b, t] if (t == 0 or start[b, t]) else acc + x[b, t]
            want[b, t] = acc
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_long_rollout_matches_prefix_sum_at_length_1000() -> None:
    mem = MATEMemory(D, gate=True).eval()
    tokens = torch.randn(2, 1000, D)
    start = torch.zeros(2, 1000, dtype=torch.bool)
    with torch.no_grad():
        seq = mem(tokens, start)
        steps, _ = rollout(mem, tokens, start, None)
    torch.testing.assert_close(seq, steps, atol=1e-4, rtol=1e-4)


def test_bad_shapes_give_clear_errors() -> None:
    mem = make("mate")
    with pytest.raises(ValueError, match=r"tokens must be \(B, T, 16\); got \(2, 5, 3\)"):
        mem(torch.randn(2, 5, 3), torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="episode_start_mask must be bool"):
        mem(torch.randn(2, 5, D), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="token must be"):
        mem.step(mem.init_state(2), torch.randn(2, 3))
    with pytest.raises(ValueError, match="unknown memory"):
        build_memory("lstmm", D)
    with pytest.raises(ValueError, match="needs context"):
        make("true_context").init_state(2)
