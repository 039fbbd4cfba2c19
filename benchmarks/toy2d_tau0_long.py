"""The tau1 = 0 ablation of the joint game, trained long: DxMI-4 on 8gaussians from the preset's
pretrained DDPM, tau1 = the preset's (0.1) against tau1 = 0, every other setting equal, scored every
``--every`` iterations. ``benchmarks/toy2d.py`` trains 1000 (quick) or 1500 (full) iterations,
too few for the sampler without entropy to lose diversity; this script shows how it goes on.

    python benchmarks/toy2d_tau0_long.py --out results/toy2d_tau0_long.json      # 10000 its, ~13 min

Both runs resume their own checkpoint between evaluations (``train(..., max_steps_this_call=every)``),
so the curve is one uninterrupted run. Two processes, one thread each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from provenance import write_json


def run(args: tuple[str, int, int, int, int, str]) -> dict:
    """One arm: ``(name, seed, iterations, every, n_eval, workdir)`` with name ``tau1`` or ``tau0``."""
    name, seed, iterations, every, n_eval, workdir = args
    from toy2d import _setup  # benchmarks/toy2d.py, next to this script

    root, base_over, _ = _setup("8gaussians", seed, {"overrides": []}, workdir)
    import torch

    from dxmi.config import load_config
    from dxmi.experiment import build_dataset, evaluate_samples, train

    run_dir = root / name
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(root / "base" / "pretrain", run_dir / "pretrain")  # main() trained it
    extra = ["train.algo.tau1=0.0"] if name == "tau0" else []
    cfg = load_config("8gaussians", [*base_over, *extra, f"train.iterations={iterations}", f"ckpt_every={every}",
                                     f"out={run_dir}"])
    dataset = build_dataset(cfg)
    ref = dataset.sample(n_eval, torch.Generator().manual_seed(10_000 + seed))
    curve = []
    t0 = time.perf_counter()
    for done in range(every, iterations + 1, every):
        algo = train(cfg, resume=True, max_steps_this_call=every).algorithm
        algo.train(False)
        samples = algo.sampling_policy.sample(n_eval, torch.Generator().manual_seed(20_000 + seed))
        r = evaluate_samples(samples, ref, dataset, seed=seed, ot_samples=0)
        sigma = algo.sampling_policy.log_sigma.detach().exp()
        row = {"iteration": done, **{k: r[k] for k in ("sw", "mmd", "precision", "recall", "modes_covered",
                                                      "effective_modes", "in_mode_fraction", "within_mode_std")},
               "sigma": [float(s) for s in sigma[:-1]], "seconds": time.perf_counter() - t0}
        curve.append(row)
        print(f"  {name} it {done:6d}: sw={row['sw']:.4f} recall={row['recall']:.4f} modes={row['modes_covered']:.0f} "
              f"effective={row['effective_modes']:.3f} spread={row['within_mode_std']:.3f} "
              f"sigma={' '.join(f'{s:.3f}' for s in row['sigma'])}", flush=True)
    return {"arm": name, "tau1": float(cfg.train.algo.tau1), "curve": curve}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output JSON file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--every", type=int, default=1000, help="evaluate (and checkpoint) every this many iterations")
    ap.add_argument("--n-eval", type=int, default=20000, help="samples scored at each evaluation")
    ap.add_argument("--workdir", default="runs/bench_toy2d_tau0_long")
    args = ap.parse_args()
    if args.every < 1 or args.iterations < args.every:
        ap.error(f"need 1 <= --every <= --iterations, got --every {args.every} --iterations {args.iterations}")
    from toy2d import pretrain_job, run_parallel  # benchmarks/toy2d.py, next to this script

    t0 = time.perf_counter()
    # the shared DDPM first (toy2d.py's phase 1, same run folder layout), so the arms do not both train it
    pretrain_job(("8gaussians", args.seed, {"overrides": []}, args.workdir))
    jobs = [(arm, args.seed, args.iterations, args.every, args.n_eval, args.workdir) for arm in ("tau1", "tau0")]
    runs = run_parallel(run, jobs, 2)
    report = {"seed": args.seed,
              "n_eval_samples": args.n_eval, "runs": runs, "total_seconds": time.perf_counter() - t0}
    write_json(args.out, report, "toy2d_tau0_long.py", None)
    with_h, without = runs[0]["curve"], runs[1]["curve"]
    print(f"\n{'iteration':>9}  recall tau1={runs[0]['tau1']:g} / 0   spread / 0   sw / 0")
    for a, b in zip(with_h, without):
        print(f"{a['iteration']:>9}  {a['recall']:.4f} / {b['recall']:.4f}   {a['within_mode_std']:.3f} / "
              f"{b['within_mode_std']:.3f}   {a['sw']:.4f} / {b['sw']:.4f}")
    print(f"total {report['total_seconds']:.0f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
