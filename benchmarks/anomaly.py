"""Anomaly-detection benchmark: DxMI-trained EBM vs the same EBM trained by short-run Langevin CD
vs PyOD's IForest, LOF, OCSVM, ECOD and KNN, all in the same run, on the shared ADBench data.

Protocol (ADBench semi-supervised, ``../shared/data/README.md``): per seed, train on a seeded 70 %
of the normal points, test on the remaining normal points plus all anomalies; AUROC and AUPRC
(mean over seeds) and ``seconds`` (fit + score, mean over seeds). One detector configuration for
every dataset (the package default; nothing is tuned per dataset). ``base_energy`` is an ablation:
the energy's fixed quadratic base term alone (the untrained detector), to show what training adds.

    python benchmarks/anomaly.py --quick --out results/anomaly_quick.json
    python benchmarks/anomaly.py --out results/anomaly_full.json --workers 2   # 18 tabular + 15 MVTec, 3 seeds

The result file is rewritten (atomically) after every dataset; ``--resume`` keeps what it holds
and runs the rest, so an interrupted full run loses at most the datasets in progress.

--quick: 6 tabular datasets (thyroid, cardio, Pima, vowels, WBC, Ionosphere) and 3 MVTec
categories (bottle, carpet, screw), seed 0 only.

Needs the ``baselines`` extra (``pip install pyod``). Torch runs on one thread.
JSON: {"datasets": {NAME: {METHOD: {"auroc", "auprc", "seconds"}}}, "config": ..., "command": ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from provenance import write_json

QUICK_TABULAR = ["thyroid", "cardio", "Pima", "vowels", "WBC", "Ionosphere"]
QUICK_MVTEC = ["mvtec_bottle", "mvtec_carpet", "mvtec_screw"]
PYOD_METHODS = ["iforest", "lof", "ocsvm", "ecod", "knn"]
EBM_METHODS = ["dxmi", "langevin_ebm", "vgs_ebm"]
METHODS = [*EBM_METHODS, *PYOD_METHODS, "base_energy"]


def pyod_detector(name: str, seed: int) -> Any:
    try:
        from pyod.models.ecod import ECOD
        from pyod.models.iforest import IForest
        from pyod.models.knn import KNN
        from pyod.models.lof import LOF
        from pyod.models.ocsvm import OCSVM
    except ImportError as e:
        raise ImportError("the PyOD baselines need the 'baselines' extra: pip install 'dxmi[baselines]'") from e
    makers: dict[str, Callable[[], Any]] = {
        "iforest": lambda: IForest(random_state=seed), "lof": LOF, "ocsvm": OCSVM, "ecod": ECOD, "knn": KNN}
    return makers[name]()


def run_method(method: str, split: Any, seed: int,
               overrides: dict[str, Any] | None = None) -> tuple[np.ndarray, float]:
    from dxmi.anomaly import make_detector

    t0 = time.perf_counter()
    if method in EBM_METHODS:
        det = make_detector(method, seed=seed, **(overrides or {})).fit(split.x_train)
    elif method == "base_energy":  # the fixed quadratic base energy alone: standardised squared norm
        det = make_detector("dxmi", seed=seed, iterations=1)
        from dxmi.anomaly.inputs import Standardizer, as_matrix

        det.standardizer = Standardizer.fit(as_matrix(split.x_train), whiten=det.config.whiten)
        det.energy = det.build_energy(det.standardizer).eval()
    else:
        det = pyod_detector(method, seed)
        det.fit(split.x_train)
    scores = np.asarray(det.decision_function(split.x_test), dtype=np.float64)
    return scores, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="6 tabular sets + 3 MVTec categories, seed 0 (< 20 min)")
    p.add_argument("--out", default="results/anomaly.json", help="output JSON")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: 0 for --quick, else 0,1,2)")
    p.add_argument("--datasets", default=None, help="comma-separated dataset names (default: by mode)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    p.add_argument("--data-root", default=None, help="shared data folder (default: ../shared/data)")
    p.add_argument("--report", default=None, metavar="JSON",
                   help="only print a saved result file as markdown tables (AUROC, AUPRC) and exit")
    p.add_argument("--workers", type=int, default=1,
                   help="datasets run in this many processes, one torch thread each (2 on the 2-core CPU)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="change one option of an EBM detector for this run, e.g. --set dxmi.gamma=1.0 "
                        "(repeatable; an exploration tool: the benchmark's figures use the defaults)")
    p.add_argument("--resume", action="store_true",
                   help="keep the datasets already in --out (written after each dataset) and run the rest")
    args = p.parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        print(markdown_table(saved["datasets"]))
        print_summary(saved.get("summary", {}))
        return 0

    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dxmi.anomaly.data import find_adbench
    from dxmi.anomaly.detector import DxMIDetectorConfig, LangevinDetectorConfig, VGSDetectorConfig

    requested = args.datasets.split(",") if args.datasets else (QUICK_TABULAR + QUICK_MVTEC if args.quick else None)
    try:  # only the collection folders (tabular, MVTec) of the requested datasets must exist
        files = find_adbench(requested, args.data_root)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    names = list(files)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([0] if args.quick else [0, 1, 2])
    methods = args.methods.split(",")
    if set(methods) - set(METHODS):
        p.error(f"unknown method(s) {sorted(set(methods) - set(METHODS))}; choose from {METHODS}")

    from dxmi.config import ConfigError, parse_override

    overrides: dict[str, dict[str, Any]] = {}
    for item in args.overrides:
        try:
            ((method, option),) = parse_override(item).items()  # "dxmi.gamma=1" -> {"dxmi": {"gamma": 1}}
        except (ConfigError, ValueError):
            method, option = "", None
        if method not in EBM_METHODS or not isinstance(option, dict):
            p.error(f"--set expects METHOD.KEY=VALUE with METHOD one of {EBM_METHODS}, got {item!r}")
        overrides.setdefault(method, {}).update(option)
    from dxmi.anomaly import make_detector

    for method, over in overrides.items():
        try:
            make_detector(method, **over)  # unknown or invalid options fail here, before any fit
        except (TypeError, ValueError) as e:
            p.error(f"--set: {e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    if args.resume and out.exists():
        saved = json.loads(out.read_text())
        if saved.get("seeds") != seeds:
            p.error(f"--resume: {out} was run with seeds {saved.get('seeds')}, not {seeds}")
        if saved.get("overrides", {}) != overrides:
            p.error(f"--resume: {out} was run with --set {saved.get('overrides', {})}, not {overrides}")
        results = {n: r for n, r in saved.get("datasets", {}).items()
                   if n in names and set(methods) <= set(r)}
        if results:
            print(f"resuming: {len(results)} dataset(s) already in {out}: {', '.join(results)}", flush=True)
    todo = [n for n in names if n not in results]
    start = time.perf_counter()

    def save(complete: bool) -> None:
        ordered = {n: results[n] for n in names if n in results}
        payload = {"datasets": ordered, "summary": summarise(ordered, methods) if ordered else {},
                   "seeds": seeds, "complete": complete, "overrides": overrides,
                   "config": {"dxmi": dataclasses.asdict(DxMIDetectorConfig()),
                              "langevin_ebm": dataclasses.asdict(LangevinDetectorConfig()),
                              "vgs_ebm": dataclasses.asdict(VGSDetectorConfig())},
                   "total_seconds": time.perf_counter() - start}
        write_json(out, payload, "anomaly.py", argv)  # atomic: an interrupted run leaves the last complete file

    # largest files first, so that no worker is left alone with a long job at the end
    jobs = sorted(((n, str(files[n]), seeds, methods, overrides) for n in todo),
                  key=lambda j: -os.path.getsize(j[1]))
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(args.workers, len(jobs))) as pool:
            for name, res, n_rows, dim in pool.imap_unordered(evaluate_dataset, jobs):
                results[name] = res
                report_row(name, n_rows, dim, res, methods, time.perf_counter() - start)
                save(complete=False)
    else:
        for job in jobs:
            name, res, n_rows, dim = evaluate_dataset(job)
            results[name] = res
            report_row(name, n_rows, dim, res, methods, time.perf_counter() - start)
            save(complete=False)
    results = {n: results[n] for n in names}
    save(complete=True)
    print(markdown_table(results))
    print_summary(summarise(results, methods))
    print(f"wrote {out} ({time.perf_counter() - start:.0f}s)")
    return 0


def evaluate_dataset(
    job: tuple[str, str, list[int], list[str], dict[str, dict[str, Any]]],
) -> tuple[str, dict[str, dict[str, float]], int, int]:
    """All methods on one dataset over the seeds: mean AUROC / AUPRC / seconds and the AUROC std."""
    name, path, seeds, methods, overrides = job
    os.environ["OMP_NUM_THREADS"] = "1"
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from dxmi.anomaly.data import load_labelled, semi_supervised_split
    from dxmi.metrics.anomaly import auprc, auroc

    x, y = load_labelled(Path(path))
    assert y is not None
    per: dict[str, dict[str, list[float]]] = {m: {"auroc": [], "auprc": [], "seconds": []} for m in methods}
    for seed in seeds:
        split = semi_supervised_split(x, y, seed, name)
        for m in methods:
            scores, sec = run_method(m, split, seed, overrides.get(m))
            per[m]["auroc"].append(auroc(scores, split.y_test))
            per[m]["auprc"].append(auprc(scores, split.y_test))
            per[m]["seconds"].append(sec)
    res = {m: {**{k: float(np.mean(v)) for k, v in r.items()}, "auroc_std": float(np.std(r["auroc"]))}
           for m, r in per.items()}
    return name, res, len(x), x.shape[1]


def report_row(name: str, n_rows: int, dim: int, res: dict[str, dict[str, float]], methods: list[str],
               elapsed: float) -> None:
    row = "  ".join(f"{m} {res[m]['auroc']:.3f}" for m in methods)
    print(f"{name:<22} n={n_rows:>6} d={dim:>4}  {row}  [{elapsed:.0f}s]", flush=True)


def summarise(results: dict[str, dict[str, dict[str, float]]], methods: list[str]) -> dict[str, Any]:
    """Mean AUROC per group (tabular / mvtec) and method, and the issue's threshold checks."""
    groups = {"tabular": [n for n in results if not n.startswith("mvtec_")],
              "mvtec": [n for n in results if n.startswith("mvtec_")]}
    out: dict[str, Any] = {}
    for g, names in groups.items():
        if not names:
            continue
        means = {m: float(np.mean([results[n][m]["auroc"] for n in names])) for m in methods}
        checks: dict[str, bool] = {}
        pyod = [m for m in PYOD_METHODS if m in means]
        if "dxmi" in means and pyod:
            best = max(pyod, key=lambda m: means[m])
            checks[f"dxmi >= best PyOD ({best})"] = means["dxmi"] >= means[best]
        if g == "tabular" and "dxmi" in means and "langevin_ebm" in means:
            checks["dxmi > langevin_ebm"] = means["dxmi"] > means["langevin_ebm"]
        out[g] = {"n_datasets": len(names), "mean_auroc": means, "checks": checks}
    return out


def markdown_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per dataset: AUROC (AUPRC) of every method, best AUROC in bold."""
    methods = list(next(iter(results.values())))
    lines = ["| dataset | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, r in results.items():
        best = max(r[m]["auroc"] for m in methods)
        cells = [(f"**{r[m]['auroc']:.3f}**" if r[m]["auroc"] == best else f"{r[m]['auroc']:.3f}")
                 + f" ({r[m]['auprc']:.2f})" for m in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_summary(summary: dict[str, Any]) -> None:
    for g, s in summary.items():
        print(f"\nmean AUROC over {s['n_datasets']} {g} dataset(s):")
        for m, v in sorted(s["mean_auroc"].items(), key=lambda kv: -kv[1]):
            print(f"  {m:<14} {v:.4f}")
        for c, ok in s["checks"].items():
            print(f"  {'PASS' if ok else 'FAIL'}: {c}")


if __name__ == "__main__":
    sys.exit(main())
