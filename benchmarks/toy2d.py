"""2D benchmark of DxMI against its base sampler, DDIM and the full 1000-step DDPM.

For each dataset: pretrain a 1000-step DDPM once, then measure in the same run
``ddpm_1000, ddim_4, ddim_10, base_4, base_10, dxmi_4, dxmi_10, gcd_4``: sliced Wasserstein
(``sw``), MMD, energy distance, precision / recall, mode coverage and in-mode fraction
(8gaussians), and ``seconds`` (training + sampling).

On 8gaussians two tau1 = 0 ablations (the entropy term off, every other setting equal):
- ``dxmi_4_tau0`` against ``dxmi_4``: the joint game, from the pretrained sampler (full run only).
- ``dxdp_4_exact_tau0`` against ``dxdp_4_exact``: the DxDP sampler update alone, with the reward
  known (the energy frozen at the exact ``-log p`` of the data, so no EBM step) and
  tau1 = tau2 = D (the trajectory bound of KL(pi || p), temperature 1). Here the optimum
  of the tau1 = 0 objective is a point mass at the energy's minima, and nothing pushes back.

    python benchmarks/toy2d.py --quick --out results/toy2d_quick.json
    python benchmarks/toy2d.py --out results/toy2d_full.json          # more steps, 3 seeds, 7 datasets

The full run pretrains each DDPM for 5000 steps (quick: 3000), trains DxMI for 1500 iterations
(quick: the preset's 600 or 1000; the exact-energy ablation 500 in both) and evaluates on 20000
samples. The ``data`` row is a second, independent draw of the data scored like a method: the
noise floor of each metric at that sample size. About an hour with two workers on the 2-core CPU.

Threads are fixed to 1 per worker. The DDPMs are trained first (one job per dataset and seed), then
the baselines and every trained method run as separate jobs in ``--workers`` processes. Each finished
job is appended to ``OUT.parts.jsonl``; after an interruption, the same command with ``--resume`` (and
the same ``--workdir``, whose DDPMs are loaded, not retrained) runs only the jobs that had not finished.
``--merge FILE ...`` combines the per-seed figures of several runs into one file. ``--parts baselines``
runs only the baselines job of each dataset and seed (after a solver row is added, it re-measures every
solver row without retraining DxMI); merged with the earlier file of the same seeds, the rows both hold
must agree, so a re-measured baseline that differs is refused, not averaged in.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from provenance import stamp_of, write_json

# 20000 evaluation samples: at 3000 the SW between two independent draws of the data (the "data" row)
# is ~0.08 on 8gaussians, larger than the 1000-step DDPM's, so a check against the DDPM would read noise.
# The quick run leaves out the joint game's tau1 = 0 arm (dxmi_4_tau0, the costliest job after
# dxmi_4, and no collapse at this budget) to keep well inside its 10 minutes; the full run has it.
QUICK: dict[str, Any] = {"datasets": ["8gaussians", "2spirals", "checkerboard"], "seeds": [0], "n_eval": 20000,
                         "overrides": [], "joint_tau0": False}
FULL: dict[str, Any] = {
    "datasets": ["8gaussians", "2spirals", "checkerboard", "swissroll", "moons", "rings", "pinwheel"],
    "seeds": [0, 1, 2], "n_eval": 20000, "overrides": ["pretrain.steps=5000", "train.iterations=1500"],
    "joint_tau0": True}

# DxMI's start, one configuration for every 2D dataset and T: the policy on the timesteps of the best training-free
# solver at T (solver and spacing chosen on validation draws, over every solver of the solver rows; UniPC on
# leading spacing at T = 4, a DPM-Solver++ at T = 10 on most presets) with the deterministic DDIM-form mean,
# warm-started by regressing it on that solver's path (SolverDistillation), then DxMI.
# GCD keeps the preset's start: it is the ablation of the update.
# The trained sampler is the state with the lowest validation SW (a separate draw of the data and sampling
# seed; scored before DxMI's first update and every 10 iterations; train.select).
WARM = ["sampler.ddim_eta=0.0", "sampler.warmstart.steps=300",
        "sampler.warmstart.lr=1e-3", "sampler.warmstart.batch_size=1024", "train.select.every=10",
        "train.select.n_samples=20000"]
#: the parts whose policy starts on the best solver's timesteps (``sampler.subsequence=<solver>/<spacing>``)
WARM_FROM_BEST_SOLVER = ("dxmi_4", "dxmi_10", "dxmi_4_tau0")
# At T = 10 the value's backward TD sweep (T regressions per iteration, each target from the value the
# previous one just moved) diverges on the 2D presets (the TD loss grows to ~1e9 with the sampler frozen);
# one regression on all T * B transitions per pass, every target from the value before the pass
# (td_batched), stays bounded. At T = 4 the sweep is stable and learns the value faster (docs/dxmi.md).
# The 10-step warm start needs 1500 updates: after 300, the one-step errors compounded along the chain left
# the distilled policy worse than its solver (pinwheel, validation SW 0.088 vs 0.073); after 1500 it is at
# or below it (0.069). Regressing also from the policy's own states (warmstart.on_policy) gave 0.085 after
# 300 and 0.076 after 1500: not used (docs/experiments/2d-tuning.md).
T10 = ["train.algo.td_batched=true", "sampler.warmstart.steps=1500"]
METHOD_OVERRIDES: dict[str, list[str]] = {
    "dxmi_4": ["sampler.num_steps=4", *WARM],
    "dxmi_10": ["sampler.num_steps=10", *WARM, *T10],
    "gcd_4": ["sampler.num_steps=4", "train.update=gcd"],
    "dxmi_4_tau0": ["sampler.num_steps=4", *WARM, "train.algo.tau1=0.0"],
}


# GCD is the ablation of the update: it gets half the iterations.
HALF_BUDGET = ("gcd_4",)


def one_thread() -> None:
    """One torch thread per worker process: two workers on two cores, no oversubscription."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _setup(name: str, seed: int, plan: dict, workdir: str) -> tuple:
    """``(root, base overrides, config)`` of one dataset and seed; the base run is ``root / "base"``."""
    one_thread()
    from dxmi.config import load_config

    root = Path(workdir) / f"{name}_s{seed}"
    base_over = [*plan["overrides"], f"seed={seed}", "progress=false", "tensorboard=false", f"out={root / 'base'}"]
    return root, base_over, load_config(name, base_over)


def pretrain_job(args: tuple[str, int, dict, str]) -> float:
    """Phase 1: the dataset's 1000-step DDPM (seconds)."""
    from dxmi.experiment import pretrain

    _, _, cfg = _setup(*args)
    t0 = time.perf_counter()
    pretrain(cfg)
    return time.perf_counter() - t0


def method_job(args: tuple[str, int, dict, str, str, float]) -> dict:
    """Phase 2: one part of one dataset: ``"baselines"`` (data, DDPM, DDIM, base samplers) or a
    trained method of :data:`METHOD_OVERRIDES`, started from the phase-1 DDPM."""
    name, seed, plan, workdir, part, pretrain_s = args
    if part in EXACT_METHODS:
        return exact_energy_job(name, seed, plan, workdir, part)
    root, base_over, cfg = _setup(name, seed, plan, workdir)
    import torch

    from dxmi.config import load_config
    from dxmi.experiment import build_dataset, build_policy, evaluate_samples, load_pretrained, pretrain, train

    dataset = build_dataset(cfg)
    n = plan["n_eval"]
    ref = dataset.sample(n, torch.Generator().manual_seed(10_000 + seed))
    gen = lambda: torch.Generator().manual_seed(20_000 + seed)  # noqa: E731
    out: dict[str, dict] = {}

    def record(method: str, samples: torch.Tensor, seconds: float, extra: dict | None = None) -> None:
        r = evaluate_samples(samples, ref, dataset, seed=seed)
        r["seconds"] = seconds
        r["n_samples"] = n
        r.update(extra or {})
        out[method] = r
        print(f"  [{name} seed {seed}] {method:<12} sw={r['sw']:.4f} mmd={r['mmd']:.5f} "
              f"recall={r['recall']:.3f} {seconds:.1f}s", flush=True)

    if part == "baselines":
        record("data", dataset.sample(n, torch.Generator().manual_seed(30_000 + seed)), 0.0)
        model = pretrain(cfg).model.eval()  # phase 1 left it finished: this only loads it
        t0 = time.perf_counter()
        record("ddpm_1000", model.sample_ancestral(n, gen()), time.perf_counter() - t0,
               {"pretrain_seconds": pretrain_s})
        for T in (4, 10):
            t0 = time.perf_counter()
            record(f"ddim_{T}", model.sample_ddim(n, T, gen()), time.perf_counter() - t0)
            c = load_config(name, [*base_over, f"sampler.num_steps={T}"])
            t0 = time.perf_counter()
            record(f"base_{T}", build_policy(c, model).sample(n, gen()), time.perf_counter() - t0)
        # diffusers' solvers, each at the spacing chosen on validation draws (seeds the test never uses)
        from dxmi.experiment import VALIDATION_DATA_SEED, VALIDATION_SAMPLE_SEED
        from dxmi.metrics import sliced_wasserstein
        from solver_rows import solver_rows

        val_ref = dataset.sample(n, torch.Generator().manual_seed(VALIDATION_DATA_SEED + seed))
        solver_rows(model, (4, 10), n,
                    lambda x: sliced_wasserstein(x, val_ref, generator=torch.Generator().manual_seed(seed)),
                    lambda: torch.Generator().manual_seed(VALIDATION_SAMPLE_SEED + seed), gen, record)
        return {"dataset": name, "seed": seed, "methods": out}
    m = part
    mdir = root / m
    (mdir / "pretrain").mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "base" / "pretrain" / "checkpoints", mdir / "pretrain" / "checkpoints",
                    dirs_exist_ok=True)
    more = [f"train.iterations={cfg.train.iterations // 2}"] if m in HALF_BUDGET else []
    start: dict[str, Any] = {}
    if m in WARM_FROM_BEST_SOLVER:  # the policy's timesteps and warm start: the best solver at T on validation
        from dxmi.experiment import VALIDATION_DATA_SEED, VALIDATION_SAMPLE_SEED
        from dxmi.metrics import sliced_wasserstein
        from solver_rows import best_solver

        T = load_config(name, [*base_over, *METHOD_OVERRIDES[m]]).sampler.num_steps
        val_ref = dataset.sample(n, torch.Generator().manual_seed(VALIDATION_DATA_SEED + seed))
        pick, _ = best_solver(pretrain(cfg).model.eval(), T, n,
                              lambda x: sliced_wasserstein(x, val_ref, generator=torch.Generator().manual_seed(seed)),
                              lambda: torch.Generator().manual_seed(VALIDATION_SAMPLE_SEED + seed))
        more.append(f"sampler.subsequence={pick}")
        start["warm_solver"] = pick
    c = load_config(name, [*base_over, *METHOD_OVERRIDES[m], *more, f"out={mdir}"])
    t0 = time.perf_counter()
    result = train(c, resume=False)
    algo = result.algorithm
    algo.train(False)
    samples = algo.sampling_policy.sample(n, gen())
    sigma = algo.sampling_policy.log_sigma.detach().exp()
    # mean learned sigma over the stochastic steps: the entropy the sampler kept (tau1 = 0 shrinks it)
    extra = {"sigma_mean": float(sigma[:-1].mean()), **start}
    if c.train.select.every > 0:  # the kept state: its iteration and validation SW
        extra.update(selected_iteration=result.best_step, validation_sw=result.best_score)
    record(m, samples, time.perf_counter() - t0, extra)
    if c.sampler.warmstart.steps > 0 and m in ("dxmi_4", "dxmi_10"):  # ablation: the warm start before DxMI
        from dxmi.experiment import load_warmstarted

        record(m.replace("dxmi", "warm"), load_warmstarted(c, load_pretrained(c, 2)).sample(n, gen()), 0.0)
    if m == "dxmi_4" and name == "8gaussians":  # value guidance at sampling time: which sign helps?
        from dxmi.policies import ValueGuidedPolicy

        for lam in (-0.5, 0.5):
            t1 = time.perf_counter()
            guided = ValueGuidedPolicy(algo.sampling_policy, algo.cost_to_go, lam).sample(n, gen())
            record(f"dxmi_4_guided{lam:+g}", guided, time.perf_counter() - t1, {"guidance_scale": lam})
    return {"dataset": name, "seed": seed, "methods": out}


def exact_energy_job(name: str, seed: int, plan: dict, workdir: str, part: str) -> dict:
    """``dxdp_4_exact[_tau0]``: DxDP on the dataset's exact energy ``E = -log p`` (parameter-free,
    so :class:`DxMI` makes no EBM step), from the pretrained 4-step sampler, with the preset's
    value network and rates and ``tau1 = tau2 = D`` (``tau1 = 0`` for the ablation)."""
    import dataclasses

    _, _, cfg = _setup(name, seed, plan, workdir)
    import torch

    from dxmi.algorithms import DxMI
    from dxmi.experiment import build_dataset, build_policy, build_value, data_shape, evaluate_samples, load_pretrained
    from dxmi.targets import from_callable

    dataset = build_dataset(cfg)
    (dim,) = data_shape(dataset)
    model = load_pretrained(cfg, dim).eval()  # the phase-1 DDPM (cfg.out is the dataset's base run)
    torch.manual_seed(seed + 7)
    policy = build_policy(cfg, model)
    energy = from_callable(lambda x: -dataset.log_prob(x), dim, name=f"{name}_exact")
    value = build_value(cfg, dim, energy)
    tau1 = 0.0 if part.endswith("_tau0") else float(dim)
    algo_cfg = dataclasses.replace(cfg.train.algo, tau1=tau1, tau2=float(dim), batch_size=EXACT["batch_size"])
    algo = DxMI(policy, value, energy, algo_cfg, generator=torch.Generator().manual_seed(seed + 2))
    g = torch.Generator().manual_seed(seed + 3)
    t0 = time.perf_counter()
    for _ in range(EXACT["iterations"]):
        algo.update(dataset.sample(algo_cfg.batch_size, g))  # the batch is unused: no EBM step
    algo.train(False)
    n = plan["n_eval"]
    samples = algo.sampling_policy.sample(n, torch.Generator().manual_seed(20_000 + seed))
    r = evaluate_samples(samples, dataset.sample(n, torch.Generator().manual_seed(10_000 + seed)), dataset,
                         seed=seed)
    sigma = algo.sampling_policy.log_sigma.detach().exp()
    r.update(seconds=time.perf_counter() - t0, n_samples=n, sigma_mean=float(sigma[:-1].mean()), tau1=tau1)
    print(f"  [{name} seed {seed}] {part:<12} sw={r['sw']:.4f} recall={r['recall']:.3f} {r['seconds']:.1f}s",
          flush=True)
    return {"dataset": name, "seed": seed, "methods": {part: r}}


# the exact-energy ablation's budget, quick and full alike
EXACT = {"iterations": 500, "batch_size": 256}
EXACT_METHODS = ("dxdp_4_exact", "dxdp_4_exact_tau0")


def methods_for(name: str, plan: dict) -> list[str]:
    if name != "8gaussians":
        return ["dxmi_4", "dxmi_10", "gcd_4"]
    return ["dxmi_4", "dxmi_10", "gcd_4", *(["dxmi_4_tau0"] if plan["joint_tau0"] else []), *EXACT_METHODS]


def estimated_seconds(name: str, part: str, plan: dict) -> float:
    """Rough single-thread cost of a phase-2 job (fitted to the quick run on the 2-core CPU): a
    training iteration costs ``T (0.007 + 2.1e-5 B)`` s, a 1000-step DDPM sample ``2.5e-6`` s per
    point. Only used to start the longest jobs first, so that the pool does not end on one."""
    if part == "baselines":
        return 2.5e-6 * plan["n_eval"] * 1000
    if part in EXACT_METHODS:
        return EXACT["iterations"] * 4 * (0.007 + 2.1e-5 * EXACT["batch_size"])
    from dxmi.config import load_config

    cfg = load_config(name, [*plan["overrides"], *METHOD_OVERRIDES[part]])
    iterations = cfg.train.iterations // (2 if part in HALF_BUDGET else 1)
    return iterations * cfg.sampler.num_steps * (0.007 + 2.1e-5 * cfg.train.algo.batch_size)


def aggregate(results: list[dict]) -> dict:
    import numpy as np

    by: dict[str, dict[str, list[dict]]] = {}
    for r in results:
        for m, v in r["methods"].items():
            by.setdefault(r["dataset"], {}).setdefault(m, []).append(v)
    agg: dict[str, dict] = {}
    for d, ms in by.items():
        agg[d] = {}
        for m, runs in ms.items():
            keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float))]
            row: dict[str, Any] = {k: float(np.mean([r[k] for r in runs])) for k in keys}
            if len(runs) > 1:
                row.update({f"{k}_std": float(np.std([r[k] for r in runs])) for k in ("sw", "mmd") if k in keys})
            for k in [k for k in runs[0] if isinstance(runs[0][k], str)]:  # e.g. a solver's chosen spacing
                row[k] = ",".join(sorted({str(r[k]) for r in runs}))
            row["n_seeds"] = len(runs)
            agg[d][m] = row
    return agg


def solver_row_names(T: int) -> list[str]:
    """The training-free solver rows at NFE T (``ddim_best_T``, ``dpmsolver_T``, ...: solver_rows.SOLVER_ROWS)."""
    from solver_rows import SOLVER_ROWS

    return [f"{row}_{T}" for row in SOLVER_ROWS]


def checks(agg: dict) -> dict[str, bool]:
    g = agg.get("8gaussians", {})
    out: dict[str, bool] = {}
    if {"dxmi_4", "base_4", "ddpm_1000", "ddim_4"} <= g.keys():
        out = {
            "dxmi_4.sw <= 0.5 * base_4.sw": g["dxmi_4"]["sw"] <= 0.5 * g["base_4"]["sw"],
            "dxmi_4.sw <= 1.5 * ddpm_1000.sw": g["dxmi_4"]["sw"] <= 1.5 * g["ddpm_1000"]["sw"],
            "dxmi_4.sw < ddim_4.sw": g["dxmi_4"]["sw"] < g["ddim_4"]["sw"],
        }
    for T in (4, 10):  # DxMI against every training-free solver at the same NFE (spacings chosen on validation)
        solvers = [m for m in solver_row_names(T) if m in g]
        if f"dxmi_{T}" in g and solvers:
            best = min(solvers, key=lambda m: g[m]["sw"])
            out[f"dxmi_{T}.sw < every solver at NFE {T} (best: {best})"] = g[f"dxmi_{T}"]["sw"] < g[best]["sw"]
    if {"dxmi_4", "dxmi_10"} <= g.keys():
        out["dxmi_10.sw <= dxmi_4.sw (more steps are not worse)"] = g["dxmi_10"]["sw"] <= g["dxmi_4"]["sw"]
    for name, d in agg.items():  # every other dataset: the same comparisons, reported (thresholds of full runs)
        if name == "8gaussians":
            continue
        for T in (4, 10):
            solvers = [m for m in solver_row_names(T) if m in d]
            if f"dxmi_{T}" in d and solvers:
                best = min(solvers, key=lambda m: d[m]["sw"])
                out[f"[{name}] dxmi_{T}.sw < every solver at NFE {T} (best: {best})"] = (
                    d[f"dxmi_{T}"]["sw"] < d[best]["sw"])
        if {"dxmi_4", "dxmi_10"} <= d.keys():
            out[f"[{name}] dxmi_10.sw <= dxmi_4.sw"] = d["dxmi_10"]["sw"] <= d["dxmi_4"]["sw"]
    for name, d in agg.items():  # DxMI ends no worse than the warm start it began from
        for T in (4, 10):
            if {f"dxmi_{T}", f"warm_{T}"} <= d.keys():
                out[f"[{name}] dxmi_{T}.sw <= warm_{T}.sw (no worse than its start)"] = (
                    d[f"dxmi_{T}"]["sw"] <= d[f"warm_{T}"]["sw"])
    for name, d in agg.items():  # the few-step sampler against the 1000-step chain it was distilled from
        if {"dxmi_10", "ddpm_1000"} <= d.keys():
            out[f"[{name}] dxmi_10.sw <= 1.5 * ddpm_1000.sw"] = d["dxmi_10"]["sw"] <= 1.5 * d["ddpm_1000"]["sw"]
    # a collapse is a lost mode or recall lower by more than one point, not a difference in the noise
    if "dxdp_4_exact_tau0" in g and "recall" in g["dxdp_4_exact_tau0"]:
        a, b = g["dxdp_4_exact_tau0"], g["dxdp_4_exact"]
        out["tau1=0 collapses (dxdp_4_exact_tau0: fewer modes or recall lower by > 0.01)"] = (
            a["modes_covered"] < b["modes_covered"] or a["recall"] < b["recall"] - 0.01)
    return out


def seed_counts(results: list[dict]) -> dict[str, dict[str, int]]:
    """Per dataset, over its seeds: ``n_seeds``, on how many DxMI-T is below the best solver at T (each
    seed's own validation-chosen rows; ``dxmi_T_below_solver``) and no worse than the warm start it
    began from (``dxmi_T_kept_start``)."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        ms, c = r["methods"], out.setdefault(r["dataset"], {"n_seeds": 0})
        c["n_seeds"] += 1
        for T in (4, 10):
            solvers = [ms[m]["sw"] for m in solver_row_names(T) if m in ms]
            if f"dxmi_{T}" in ms and solvers:
                c[f"dxmi_{T}_below_solver"] = c.get(f"dxmi_{T}_below_solver", 0) + (
                    ms[f"dxmi_{T}"]["sw"] < min(solvers))
            if f"dxmi_{T}" in ms and f"warm_{T}" in ms:
                c[f"dxmi_{T}_kept_start"] = c.get(f"dxmi_{T}_kept_start", 0) + (
                    ms[f"dxmi_{T}"]["sw"] <= ms[f"warm_{T}"]["sw"])
    return out


def seed_checks(results: list[dict]) -> dict[str, bool]:
    """With several seeds: on each dataset, DxMI-T below the best solver at T on at least 80 % of the
    seeds, and no worse than its warm start on every seed (:func:`seed_counts`)."""
    out: dict[str, bool] = {}
    for d, c in seed_counts(results).items():
        n = c["n_seeds"]
        if n < 2:
            continue
        for T in (4, 10):
            if f"dxmi_{T}_below_solver" in c:
                k = c[f"dxmi_{T}_below_solver"]
                out[f"[{d}] dxmi_{T} below the best solver on >= 80% of seeds ({k}/{n})"] = k >= 0.8 * n
        for T in (4, 10):
            if f"dxmi_{T}_kept_start" in c:
                k = c[f"dxmi_{T}_kept_start"]
                out[f"[{d}] dxmi_{T} no worse than its warm start on every seed ({k}/{n})"] = k == n
    return out


def per_seed_sw(runs: list[dict]) -> dict[str, dict[str, float]]:
    """``{"<dataset>/seed<k>": {method: sw}}``: what a result file keeps of each run (and :func:`merge` reads)."""
    return {f"{r['dataset']}/seed{r['seed']}": {m: v["sw"] for m, v in r["methods"].items()} for r in runs}


def merge(files: list[str]) -> tuple[list[dict], list[dict]]:
    """The per-seed figures (``per_seed``: the SW of every row) of several result files of this benchmark,
    as one list of runs ``{"dataset", "seed", "methods": {m: {"sw"}}}``, and each file's name, command and
    commit. A (dataset, seed) in several files is one run with the rows of all of them; a row found in two
    files must hold the same SW there, else it is an error (the files come from different runs and would be
    mixed). One exception: a later file of a ``--parts baselines`` run re-measures the solver rows (after the
    solvers they choose among changed), so its solver rows replace the earlier ones, while its other rows
    (data, DDPM, DDIM, base samplers) must still agree: the check that it ran on the same base model."""
    by_key: dict[tuple[str, int], dict] = {}
    origin: dict[tuple[str, int, str], str] = {}
    sources: list[dict] = []
    sizes: set[int] = set()
    for f in files:
        data = json.loads(Path(f).read_text())
        if "per_seed" not in data:
            raise ValueError(f"{f} holds no per_seed figures: not a result of benchmarks/toy2d.py")
        sizes.add(int(data.get("n_eval_samples", 0)))
        sources.append({"file": Path(f).name, **stamp_of(data)})
        remeasured = set(solver_row_names(4) + solver_row_names(10)) if data.get("parts") == ["baselines"] else set()
        for key, methods in data["per_seed"].items():
            dataset, _, seed = key.rpartition("/seed")
            run = by_key.setdefault((dataset, int(seed)), {"dataset": dataset, "seed": int(seed), "methods": {}})
            for m, v in methods.items():
                if m in remeasured:
                    run["methods"][m] = {"sw": v}
                    origin[(dataset, int(seed), m)] = f
                elif m in run["methods"] and not math.isclose(run["methods"][m]["sw"], v, rel_tol=1e-9,
                                                              abs_tol=1e-12):
                    raise ValueError(f"{dataset} seed {seed}: {m} is {run['methods'][m]['sw']} in "
                                     f"{origin[(dataset, int(seed), m)]} and {v} in {f}: not the same run")
                run["methods"].setdefault(m, {"sw": v})
                origin.setdefault((dataset, int(seed), m), f)
    if len(sizes) > 1:
        raise ValueError(f"the files were scored on different sample counts ({sorted(sizes)}): not comparable")
    runs = list(by_key.values())
    n = sizes.pop()
    if n:  # every row of this benchmark is scored on the same number of samples
        for r in runs:
            for v in r["methods"].values():
                v["n_samples"] = n
    return runs, sources


def ablations(agg: dict) -> list[str]:
    """One line per tau1 = 0 ablation on 8gaussians: what the entropy term changes."""
    g = agg.get("8gaussians", {})
    pairs = [("dxdp_4_exact", "reward known (DxDP on the exact energy)"), ("dxmi_4", "joint game (DxMI)")]
    lines = []
    for m, what in pairs:
        if m in g and f"{m}_tau0" in g:
            a, b = g[f"{m}_tau0"], g[m]
            lines.append(f"  {what}, without vs with the entropy term: recall {a['recall']:.4f} vs {b['recall']:.4f}, "
                         f"modes {a['modes_covered']:.0f} vs {b['modes_covered']:.0f}, effective modes "
                         f"{a['effective_modes']:.2f} vs {b['effective_modes']:.2f}, mean sigma "
                         f"{a['sigma_mean']:.3f} vs {b['sigma_mean']:.3f}, sw {a['sw']:.4f} vs {b['sw']:.4f}")
    return lines


def _indexed(args: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    fn, i, job = args
    return i, fn(job)


def run_parallel(fn: Callable[[Any], Any], jobs: list, workers: int,
                 on_result: Callable[[int, Any], None] | None = None) -> list:
    """``[fn(j) for j in jobs]`` (same order), in ``workers`` spawned processes when ``workers > 1``;
    ``on_result(i, result)`` is called in the parent as each job finishes (so finished work can be kept)."""
    out: list = [None] * len(jobs)
    tasks = [(fn, i, j) for i, j in enumerate(jobs)]

    def keep(finished: Iterable[tuple[int, Any]]) -> None:
        for i, r in finished:
            out[i] = r
            if on_result is not None:
                on_result(i, r)

    if workers <= 1:
        keep(map(_indexed, tasks))
        return out
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        keep(pool.imap_unordered(_indexed, tasks, chunksize=1))
    return out


class PartsLog:
    """The finished phase-2 jobs of a run, one JSON line each (``OUT.parts.jsonl``, flushed and fsynced as
    each job ends), so that an interrupted run loses only the jobs in flight: ``--resume`` reuses the
    lines written under the same plan. Removed once the run's result file is written."""

    def __init__(self, out: str, plan: dict):
        self.path = Path(out).with_suffix(".parts.jsonl")
        self.plan = json.dumps(plan, sort_keys=True)

    def load(self) -> dict[tuple[str, int, str], dict]:
        """The finished jobs ``(dataset, seed, part) -> result`` of this plan (lines of another plan and a
        torn last line are skipped)."""
        done: dict[tuple[str, int, str], dict] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line being written when the run was stopped
            if entry.get("plan") == self.plan:
                done[(entry["dataset"], entry["seed"], entry["part"])] = entry["result"]
        return done

    def append(self, dataset: str, seed: int, part: str, result: dict) -> None:
        line = json.dumps({"dataset": dataset, "seed": seed, "part": part, "plan": self.plan, "result": result},
                          default=float)  # numpy scalars among the metrics
        torn = self.path.exists() and self.path.stat().st_size > 0 and not self.path.read_bytes().endswith(b"\n")
        with self.path.open("a") as f:
            f.write(("\n" if torn else "") + line + "\n")  # a line cut by a kill stays a line of its own
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 datasets, 1 seed, preset step counts (< 10 min)")
    ap.add_argument("--out", required=True, help="output JSON file")
    ap.add_argument("--workers", type=int, default=2, help="parallel processes (one thread each)")
    ap.add_argument("--workdir", default="runs/bench_toy2d", help="where the runs' checkpoints go")
    ap.add_argument("--datasets", nargs="*", default=None, help="override the dataset list")
    ap.add_argument("--seeds", nargs="*", type=int, default=None, help="override the seeds (e.g. --seeds 0 1 2)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the jobs an interrupted run of the same plan finished (OUT.parts.jsonl)")
    ap.add_argument("--parts", nargs="+", default=None, metavar="PART",
                    help="run only these jobs of each dataset and seed: baselines (data, DDPM, DDIM, base samplers "
                         "and every solver row), dxmi_4, dxmi_10, gcd_4, ... (default: all); e.g. --parts baselines "
                         "re-measures the solver rows, and --merge adds them to an earlier file of the same seeds")
    ap.add_argument("--merge", nargs="+", default=None, metavar="FILE",
                    help="train nothing: combine the per-seed SW of these result files (other seeds or datasets of "
                         "this benchmark) into one file of means, standard deviations and the per-seed checks")
    args = ap.parse_args()
    if args.merge:
        runs, sources = merge(args.merge)
        agg = aggregate(runs)
        ok = {**checks(agg), **seed_checks(runs)}
        seeds = sorted({r["seed"] for r in runs})
        write_json(args.out, {"mode": "merged", "seeds": seeds, "sources": sources, "datasets": agg, "checks": ok,
                              "seed_counts": seed_counts(runs),
                              "n_eval_samples": runs[0]["methods"][next(iter(runs[0]["methods"]))].get("n_samples"),
                              "per_seed": per_seed_sw(runs)}, "toy2d.py", None)
        for k, v in ok.items():
            print(f"  [{'PASS' if v else 'FAIL'}] {k}")
        print(f"wrote {args.out}")
        return 0
    plan: dict[str, Any] = dict(QUICK if args.quick else FULL)
    if args.datasets:
        plan["datasets"] = args.datasets
    if args.seeds:
        plan["seeds"] = args.seeds
    pairs = [(d, s) for d in plan["datasets"] for s in plan["seeds"]]
    t0 = time.perf_counter()
    # phase 1: one DDPM per (dataset, seed); phase 2: baselines and each trained method as its own job
    pre = run_parallel(pretrain_job, [(d, s, plan, args.workdir) for d, s in pairs], args.workers)
    jobs = [(d, s, plan, args.workdir, part, pre_s) for (d, s), pre_s in zip(pairs, pre)
            for part in ["baselines", *methods_for(d, plan)] if args.parts is None or part in args.parts]
    if not jobs:
        ap.error(f"--parts {' '.join(args.parts)} names no job of this plan; the jobs are baselines and "
                 f"{', '.join(sorted({m for d in plan['datasets'] for m in methods_for(d, plan)}))}")
    # finished jobs of an interrupted run of this plan (--resume), then the rest, the longest first; the
    # parts go back in the jobs' order (baselines, then methods)
    log = PartsLog(args.out, plan)
    done = log.load() if args.resume else {}
    if not args.resume and log.path.exists():
        ap.error(f"{log.path} holds the finished jobs of an interrupted run: pass --resume to reuse them, "
                 "or remove it to start again")
    parts: list[dict] = [done.get((d, s, part), {}) for d, s, _, _, part, _ in jobs]
    todo = sorted((i for i in range(len(jobs)) if not parts[i]),
                  key=lambda i: estimated_seconds(jobs[i][0], jobs[i][4], plan), reverse=True)
    if done:
        print(f"reusing {len(jobs) - len(todo)} finished jobs from {log.path}", flush=True)

    def keep(k: int, part: dict) -> None:
        i = todo[k]
        parts[i] = part
        log.append(jobs[i][0], jobs[i][1], jobs[i][4], part)

    run_parallel(method_job, [jobs[i] for i in todo], args.workers, on_result=keep)
    merged: dict[tuple[str, int], dict] = {p: {"dataset": p[0], "seed": p[1], "methods": {}} for p in pairs}
    for r in parts:
        merged[(r["dataset"], r["seed"])]["methods"].update(r["methods"])
    results = [merged[p] for p in pairs]
    agg = aggregate(results)
    ok = {**checks(agg), **seed_checks(results)}
    report = {"mode": "quick" if args.quick else "full", "seeds": plan["seeds"], "n_eval_samples": plan["n_eval"],
              "parts": args.parts or "all",
              "total_seconds": time.perf_counter() - t0, "datasets": agg, "checks": ok,
              "per_seed": per_seed_sw(results)}
    write_json(args.out, report, "toy2d.py", None)
    log.remove()
    cols = ["sw", "mmd", "energy_distance", "recall", "modes_covered", "effective_modes", "within_mode_std",
            "in_mode_fraction", "sigma_mean", "seconds"]
    width = max(len(c) for c in cols) + 2  # every header keeps a gap to the next
    for d, ms in agg.items():
        print(f"\n{d}\n{'method':<18}" + "".join(f"{c:>{width}}" for c in cols))
        for m, r in ms.items():
            print(f"{m:<18}" + "".join(f"{r.get(c, float('nan')):>{width}.4f}" for c in cols))
    print("\ntau1 = 0 ablations on 8gaussians:")
    print("\n".join(ablations(agg)))
    print("\nchecks:")
    for k, v in ok.items():
        print(f"  [{'PASS' if v else 'FAIL'}] {k}")
    print(f"\ntotal {report['total_seconds']:.0f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
