"""Cost of MATE vs LSTM / GRU / Transformer (same width): per-step rollout time and one update.

For each memory and episode length T in (100, 300, 1000):
  * rollout_step_seconds: mean wall time of one rollout step (tokenize the transition, advance
    the memory, build the head features) over a whole episode of T steps, for a batch of
    ``--batch`` parallel episodes;
  * update_seconds: median time of one Double DQN update (online + target memory passes,
    backward, optimizer step) on ``--update-batch`` whole episodes of length T.
Threads are pinned to 1. ``--device cuda`` times on a GPU (synchronised before each clock read).
Thresholds checked: MATE(1000) <= 1.5 x MATE(100) and
Transformer(1000) >= 3 x MATE(1000) for the rollout step.

    python benchmarks/mate_cost.py --out results/mate_cost.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from dxmi.mate.agents import AgentConfig, DoubleDQN, Encoder  # noqa: E402
from dxmi.mate.replay import EpisodeBatch  # noqa: E402
from dxmi.mate.tokenizer import ActionSpec  # noqa: E402
from dxmi.training.devices import resolve_device  # noqa: E402
from provenance import write_json  # noqa: E402

MODELS = ("mate", "lstm", "gru", "transformer")
LENGTHS = (100, 300, 1000)
OBS, ACTIONS = 8, 4


def make_agent(memory: str, width: int, max_len: int, device: torch.device) -> DoubleDQN:
    kwargs = {"max_len": max_len} if memory == "transformer" else {}
    enc = Encoder(OBS, ActionSpec(discrete=True, n=ACTIONS), 0, memory, width,
                  memory_kwargs=kwargs)
    return DoubleDQN(enc, AgentConfig(hidden=width), ACTIONS).to(device)


def clock(device: torch.device) -> float:
    """``perf_counter`` after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@torch.no_grad()
def rollout_step_seconds(agent: DoubleDQN, length: int, batch: int, gen: torch.Generator) -> float:
    agent.eval()
    dev = agent.device
    obs = torch.randn(length + 1, batch, OBS, generator=gen).to(dev)
    act = torch.randint(ACTIONS, (length, batch), generator=gen).to(dev)
    rew = torch.randn(length, batch, generator=gen).to(dev)
    empty = torch.zeros(batch, 0, device=dev)
    mem, state = agent.encoder.begin(batch, empty)
    for t in range(3):  # warm-up on a throwaway state
        agent.encoder.absorb(agent.encoder.begin(batch, empty)[1], obs[t], act[t], rew[t],
                             obs[t + 1])
    start = clock(dev)
    for t in range(length):
        f = agent.encoder.features(obs[t], mem)
        agent.act(f, explore=False, generator=gen)
        mem, state = agent.encoder.absorb(state, obs[t], act[t], rew[t], obs[t + 1])
    return (clock(dev) - start) / length


def update_seconds(agent: DoubleDQN, length: int, batch: int, repeats: int,
                   gen: torch.Generator) -> float:
    agent.train()
    eb = EpisodeBatch(obs=torch.randn(batch, length + 1, OBS, generator=gen),
                      actions=torch.randint(ACTIONS, (batch, length), generator=gen),
                      rewards=torch.randn(batch, length, generator=gen),
                      terminated=torch.zeros(batch, length), valid=torch.ones(batch, length),
                      context=torch.zeros(batch, 0)).to(agent.device)
    agent.update(eb)  # warm-up
    times = []
    for _ in range(repeats):
        start = clock(agent.device)
        agent.update(eb)
        times.append(clock(agent.device) - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/mate_cost.json")
    p.add_argument("--quick", action="store_true", help="one timed update instead of three")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--batch", type=int, default=16, help="parallel episodes in rollout")
    p.add_argument("--update-batch", type=int, default=8, help="episodes per update")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = p.parse_args(argv)
    try:
        device = resolve_device(args.device, "--device")
    except ValueError as e:
        p.error(str(e))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    repeats = 1 if args.quick else 3
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.models:
        results[name] = {}
        for length in LENGTHS:
            agent = make_agent(name, args.width, max_len=length + 8, device=device)
            roll = rollout_step_seconds(agent, length, args.batch, gen)
            upd = update_seconds(agent, length, args.update_batch, repeats, gen)
            results[name][str(length)] = {"rollout_step_seconds": roll, "update_seconds": upd}
            print(f"  {name:12s} T={length:5d}  step {roll * 1e3:8.3f} ms  "
                  f"update {upd * 1e3:9.1f} ms", flush=True)
    print(f"\nwidth {args.width}, rollout batch {args.batch}, update batch {args.update_batch}, "
          f"1 thread, {device}")
    print(f"{'model':12s}" + "".join(f"  step@{t:<5d}(ms)" for t in LENGTHS)
          + "".join(f"  upd@{t:<5d}(ms)" for t in LENGTHS))
    for name, row in results.items():
        print(f"{name:12s}" + "".join(f"  {row[str(t)]['rollout_step_seconds'] * 1e3:14.3f}"
                                      for t in LENGTHS)
              + "".join(f"  {row[str(t)]['update_seconds'] * 1e3:13.1f}" for t in LENGTHS))
    checks = {}
    if "mate" in results:
        m = results["mate"]
        growth = m["1000"]["rollout_step_seconds"] / m["100"]["rollout_step_seconds"]
        checks["mate_step_1000_over_100"] = growth
        checks["mate_constant_cost_ok"] = growth <= 1.5
        if "transformer" in results:
            speed = (results["transformer"]["1000"]["rollout_step_seconds"]
                     / m["1000"]["rollout_step_seconds"])
            checks["transformer_over_mate_step_1000"] = speed
            checks["mate_3x_faster_than_transformer_ok"] = speed >= 3.0
    for k, v in checks.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) and not isinstance(v, bool) else f"{k}: {v}")
    out = {"models": results, "checks": checks,
           "settings": {"width": args.width, "rollout_batch": args.batch,
                        "update_batch": args.update_batch, "threads": 1,
                        "update_repeats": repeats, "torch": torch.__version__,
                        "device": str(device)}}
    write_json(args.out, out, "mate_cost.py", argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
