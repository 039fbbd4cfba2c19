"""VGS vs MALA / HMC as the energy budget grows: where does amortisation pay?

    python benchmarks/vgs_budget.py --target dw4 --batch-sizes 32,64,128,256 --out results/vgs_budget_dw4.json
    python benchmarks/vgs_budget.py --target funnel --vary iterations --values 331,662,1324 --out ...
    python benchmarks/vgs_budget.py --target dw4 --budgets 29600,106400,413600 --out ...   # MCMC rows only

For each value of the varied VGS setting (``--vary``, default the training batch size B; the quick
settings of ``benchmarks/vgs.py`` otherwise), VGS is trained, and the MCMC baselines are run with the
same total number of energy evaluations (training + drawing the evaluation samples), exactly as in
``benchmarks/vgs.py``. The budget grows linearly in B or in the iterations. Written per budget:
``tvd_e``, ``w2`` / ``sinkhorn`` and ``n_energy_evals`` of each method, and the reference floor. A
plot (``--plot FILE.png``, needs matplotlib) draws TVD-E against each method's energy evaluations and
against wall time. ``--budgets`` trains no VGS and runs only the MCMC rows (parallel tempering
included) at the given budgets, e.g. those of an earlier sweep's VGS rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dxmi.algorithms.vgs import make_config
from dxmi.targets import make_target
from figures import BUDGET_METHODS, budget_figure, save, source_stamp
from provenance import write_json
from vgs import OURS, QUICK, baseline_rows, reference_row, references, run_target  # benchmarks/ is on sys.path


def mcmc_at_budget(name: str, budget: int, n_eval: int, seed: int, extra: list[str]) -> dict[str, dict[str, Any]]:
    """The MCMC rows of ``benchmarks/vgs.py`` at a given budget (no VGS trained) and the reference floor,
    with the quick settings' start scale and the same references and seeds as a full sweep."""
    target = make_target(name)
    cfg = make_config(name, QUICK[name] + OURS.get(name, []) + extra + [f"seed={seed}"])
    ref, floor = references(target, n_eval, seed + 1)
    return {**baseline_rows(target, cfg, budget, ref, n_eval, seed), "reference": reference_row(target, floor, ref)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--target", default="dw4", help="a target of benchmarks/vgs.py (gmm, funnel, dw4, lj13)")
    p.add_argument("--vary", default="batch_size", help="the VGS setting that sets the budget (batch_size, iterations)")
    p.add_argument("--values", "--batch-sizes", dest="values", default="32,64,128,256",
                   help="comma-separated integer values of the varied setting (--batch-sizes: the old name)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra VGS setting on top of the quick ones (repeatable)")
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/vgs_budget.json")
    p.add_argument("--plot", default=None, help="optional PNG of TVD-E against energy evaluations")
    p.add_argument("--budgets", default=None, metavar="N,N,...",
                   help="train no VGS: run only the MCMC rows at these energy budgets (e.g. the n_energy_evals of "
                        "an earlier sweep's VGS rows), from the quick settings' start scale")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        sizes = [int(b) for b in (args.budgets or args.values).split(",")]
    except ValueError:
        p.error(f"--values / --budgets expect comma-separated integers, got {args.budgets or args.values!r}")
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vgs_budget_") as tmp:
        for b in sizes:
            if args.budgets:
                res = mcmc_at_budget(args.target, b, args.n_eval, args.seed, list(args.overrides))
                row: dict[str, Any] = {"n_energy_evals": b}
            else:
                res = run_target(args.target, True, args.n_eval, args.seed, Path(tmp) / f"v{b}",
                                 list(args.overrides) + [f"{args.vary}={b}"])
                row = {args.vary: b, "n_energy_evals": res["vgs"]["n_energy_evals"]}
            methods = [m for m in BUDGET_METHODS if m in res]
            for m in methods:
                row[m] = {k: v for k, v in res[m].items()
                          if k in ("tvd_e", "w2", "sinkhorn", "tvd_d", "seconds", "n_energy_evals", "levels",
                                   "t_max")}
            rows.append(row)
            label = "budget" if args.budgets else args.vary
            print(f"[{time.perf_counter() - t_start:.0f}s] {label}={b} evals={row['n_energy_evals']} "
                  + " ".join(f"{m}={row[m]['tvd_e']:.3f}" for m in methods), flush=True)
            write_json(out, {"target": args.target, "rows": rows, "seed": args.seed,
                             "seconds_total": time.perf_counter() - t_start, "threads": 1}, "vgs_budget.py", argv)
    if args.plot:
        import json

        save(budget_figure(json.loads(out.read_text())), Path(args.plot), source_stamp(out))
        print(f"wrote {args.plot}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
