"""Final return / success rate per task and memory type, all memories trained in one run.

Every run uses the task's packaged preset (``src/dxmi/mate/configs/<task>.yaml``) and changes
only the memory (same tokenizer, heads, RL code and budget). Checks:
  * tmaze: MATE success >= 0.9 and memoryless within [0.3, 0.7] (chance is 0.5);
  * order: MATE fails (success <= 0.7) where the GRU succeeds (>= 0.9);
  * bandit, point, pendulum: MATE >= best sequence baseline (LSTM / GRU / Transformer)
    - 10 % of |best| (returns of point and pendulum are negative).

    python benchmarks/mate_tasks.py --quick --out results/mate_tasks_quick.json --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from provenance import write_json  # noqa: E402

SEQUENCE_BASELINES = ("lstm", "gru", "transformer")
REFERENCES = ("memoryless", "true_context")
PLAN: dict[str, tuple[str, ...]] = {
    "tmaze": ("mate", "gru", "memoryless"),
    "order": ("mate", "gru", "memoryless"),
    "bandit": ("mate", *SEQUENCE_BASELINES, *REFERENCES),
    "point": ("mate", *SEQUENCE_BASELINES, *REFERENCES),
    "pendulum": ("mate", *SEQUENCE_BASELINES, *REFERENCES),
}
# --quick: one seed; on the two costly tasks (the point robot's 260 rollouts, the pendulum) the
# references go, every sequence baseline stays (the checks compare MATE with the best of them)
QUICK_PLAN: dict[str, tuple[str, ...]] = {
    **PLAN,
    "point": ("mate", *SEQUENCE_BASELINES),
    "pendulum": ("mate", *SEQUENCE_BASELINES),
}
SUCCESS_TASKS = ("tmaze", "order")


def run_one(task: str, memory: str, seed: int, overrides: list[str],
            device: str) -> dict[str, float]:
    import torch

    from dxmi.mate.config import load_config
    from dxmi.mate.train import MATETrainer

    torch.set_num_threads(1)
    cfg = load_config(task, [f"memory={memory}", f"seed={seed}", *overrides])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = MATETrainer(cfg, tmp, progress=False, device=device).run()
    return {"mean_return": result.mean_return, "success_rate": result.success_rate,
            "seconds": time.perf_counter() - start}


def checks(table: dict[str, dict[str, dict[str, float]]]) -> dict[str, object]:
    out: dict[str, object] = {}
    if "tmaze" in table:
        t = table["tmaze"]
        out["tmaze_mate_success>=0.9"] = t["mate"]["value"] >= 0.9
        if "memoryless" in t:
            out["tmaze_memoryless_near_0.5"] = 0.3 <= t["memoryless"]["value"] <= 0.7
    if "order" in table and "gru" in table["order"]:
        o = table["order"]
        out["order_mate_fails_gru_succeeds"] = (o["mate"]["value"] <= 0.7
                                                and o["gru"]["value"] >= 0.9)
    for task, row in table.items():
        seq = [row[m]["value"] for m in SEQUENCE_BASELINES if m in row]
        if task in SUCCESS_TASKS or not seq or "mate" not in row:
            continue
        best = max(seq)
        out[f"{task}_mate_within_10pct_of_best_sequence"] = (
            row["mate"]["value"] >= best - 0.1 * abs(best))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/mate_tasks.json")
    p.add_argument("--quick", action="store_true",
                   help="one seed and the presets' budgets (26 min measured with --workers 2)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per run without --quick")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (1 thread each)")
    p.add_argument("--tasks", nargs="+", default=list(PLAN), choices=list(PLAN))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every run")
    p.add_argument("--device", default="cpu",
                   help="cpu (default) or cuda (agents and replay; the environments stay on CPU)")
    args = p.parse_args(argv)
    from dxmi.training.devices import resolve_device

    try:
        resolve_device(args.device, "--device")
    except ValueError as e:
        p.error(str(e))
    seeds = [0] if args.quick else list(range(args.seeds))
    plan = QUICK_PLAN if args.quick else PLAN
    jobs = [(task, mem, seed) for task in args.tasks for mem in plan[task] for seed in seeds]
    # longest first, so that the pool is not left waiting on one slow run at the end
    jobs.sort(key=lambda j: (j[0] == "point", j[1] == "transformer", j[0] == "pendulum"), reverse=True)
    raw: dict[tuple[str, str], list[dict[str, float]]] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, t, m, s, args.set, args.device): (t, m) for t, m, s in jobs}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            raw.setdefault(futures[fut], []).append(fut.result())
    table: dict[str, dict[str, dict[str, float]]] = {}
    for task in args.tasks:
        metric = "success_rate" if task in SUCCESS_TASKS else "mean_return"
        for mem in plan[task]:
            runs = raw[(task, mem)]
            vals = [r[metric] for r in runs]
            table.setdefault(task, {})[mem] = {
                "metric": metric, "value": float(np.mean(vals)), "std": float(np.std(vals)),
                "mean_return": float(np.mean([r["mean_return"] for r in runs])),
                "success_rate": float(np.mean([r["success_rate"] for r in runs])),
                "seconds": float(np.mean([r["seconds"] for r in runs])), "seeds": len(runs)}
    print(f"\n{'task':10s} {'metric':13s}" + "".join(f"{m:>14s}" for m in
                                                     ("mate", *SEQUENCE_BASELINES, *REFERENCES)))
    for task, row in table.items():
        cells = "".join(f"{row[m]['value']:14.3f}" if m in row else f"{'-':>14s}"
                        for m in ("mate", *SEQUENCE_BASELINES, *REFERENCES))
        print(f"{task:10s} {row['mate']['metric']:13s}{cells}")
    result_checks = checks(table)
    for k, v in result_checks.items():
        print(f"{k}: {v}")
    total = time.perf_counter() - start
    print(f"total wall time {total / 60:.1f} min, {args.workers} worker(s)")
    out = {"tasks": table, "checks": result_checks,
           "settings": {"quick": args.quick, "seeds": seeds, "workers": args.workers,
                        "overrides": args.set, "wall_seconds": total, "threads_per_run": 1,
                        "device": args.device}}
    write_json(args.out, out, "mate_tasks.py", argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
