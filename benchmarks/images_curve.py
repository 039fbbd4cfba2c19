"""DxMI on images, scored along its training: FD / precision / recall after N iterations, for a list
of N, against the untrained T-step base sampler of the same pretrained model (the baseline).

It pretrains (or reuses) the digits DDPM of ``benchmarks/images.py`` in ``--workdir`` (same preset,
seed and overrides, so ``--workdir`` of a finished ``images.py --quick`` run is reused as is), then
runs DxMI in ``--workdir/<name>`` and, at every N of ``--steps``, continues the same run to N
iterations (resume reproduces an uninterrupted run exactly) and scores 2000 samples in the
classifier features, as the image benchmark does.

    python benchmarks/images_curve.py --seed 1 --name elr5e-4 --set train.algo.energy_lr=5e-4 \\
        --out results/images_curve_elr5e-4_s1.json

JSON: {"base_10": {fd, precision, recall}, "curve": [{"iterations", "fd", "precision", "recall",
"seconds"}], "overrides": [...], "seed": int, "command": str}
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--workdir", default="runs/bench_images", help="benchmark folder holding digits/pretrain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="preset", help="run name (folder under --workdir)")
    p.add_argument("--steps", default="50,100,150,200,300", help="comma-separated iteration counts to score at")
    p.add_argument("--n", type=int, default=2000, help="samples scored at each point")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of the DxMI run (repeatable)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from dxmi.config import load_config
    from dxmi.experiment import build_dataset, build_policy, image_metrics, pretrain, train
    from images import sampling_generator, score, write_result  # benchmarks/images.py, next to this script

    steps = sorted(int(s) for s in args.steps.split(","))
    root = Path(args.workdir) / "digits"
    common = [f"seed={args.seed}", "progress=false", "tensorboard=false", f"out={root}"]
    cfg = load_config("digits", common)
    dataset = build_dataset(cfg)
    model = pretrain(cfg).model.eval()
    metric = image_metrics(cfg, dataset)
    gen = lambda: sampling_generator(args.seed)  # noqa: E731  (the image benchmark's sampling seed)

    run_cfg = load_config("digits", [*common, *args.overrides])
    with torch.no_grad():
        base = score(metric, build_policy(run_cfg, model).sample(args.n, gen()))
    print(f"base_{run_cfg.sampler.num_steps}: fd={base['fd']:.3f} precision={base['precision']:.3f} "
          f"recall={base['recall']:.3f}", flush=True)
    out_dir = Path(args.workdir) / args.name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(root / "pretrain", out_dir / "pretrain")
    curve = []
    t0 = time.perf_counter()
    for n_it in steps:
        c = load_config("digits", [*common, *args.overrides, f"out={out_dir}", f"train.iterations={n_it}"])
        algo = train(c, resume=True).algorithm
        algo.train(False)
        with torch.no_grad():
            row = {"iterations": n_it, **score(metric, algo.sampling_policy.sample(args.n, gen())),
                   "seconds": time.perf_counter() - t0}
        curve.append(row)
        print(f"{args.name} seed {args.seed} it={n_it} fd={row['fd']:.3f} precision={row['precision']:.3f} "
              f"recall={row['recall']:.3f} [{row['seconds']:.0f}s]", flush=True)
    write_result(args.out, "images_curve.py", argv, {f"base_{run_cfg.sampler.num_steps}": base, "curve": curve,
                                                      "overrides": args.overrides, "seed": args.seed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
