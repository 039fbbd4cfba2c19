"""The documented VGS command-line workflow on the 9-mode GMM, kept as a result: train, evaluate, plot.

    python benchmarks/vgs_cli.py --out results/vgs_gmm_cli.json --workdir runs/vgs_gmm_cli

Runs, in this process, exactly the commands that ``docs/vgs.md`` shows a user::

    dxmi vgs train --target gmm --out DIR --set iterations=800 --set net.hidden=128 \\
        --set net.time_dim=64 --set value_lr=1e-3 --set td_batch=640
    dxmi vgs evaluate --out DIR
    dxmi vgs plot --out DIR

and keeps what they wrote: the metrics of ``DIR/eval.json`` (2000 samples against 2000 exact draws)
in ``--out``, and the run's figures beside it as ``OUT_samples.png`` (samples over the density) and
``OUT_energy_hist.png`` (energy histograms against exact samples), so that the guide's pictures are
result files with the command and commit that made them. One torch thread. A killed run resumes its
training from the run folder's last checkpoint when the same command is run again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from dxmi.cli.main import main as dxmi  # noqa: E402
from provenance import write_json  # noqa: E402

#: the GMM settings of the guide (the quick benchmark's network and rates, 800 iterations)
SETTINGS = ("iterations=800", "net.hidden=128", "net.time_dim=64", "value_lr=1e-3", "td_batch=640")
#: the run's figures kept beside the result, by the suffix they get
FIGURES = {"samples": "samples.png", "energy_hist": "energy_hist.png"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/vgs_gmm_cli.json", help="result JSON; the figures go beside it")
    p.add_argument("--workdir", default="runs/vgs_gmm_cli", help="the run folder of the three commands")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting on top of the guide's (repeatable; e.g. iterations=50 for a smoke run)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    run, out = Path(args.workdir), Path(args.out)
    settings = [*SETTINGS, *args.overrides]
    train = ["vgs", "train", "--target", "gmm", "--out", str(run), "--no-progress",
             *(a for s in settings for a in ("--set", s))]
    t0 = time.perf_counter()
    for command in (train, ["vgs", "evaluate", "--out", str(run)], ["vgs", "plot", "--out", str(run)]):
        print("dxmi " + " ".join(command), flush=True)
        if dxmi(command) != 0:
            print(f"`dxmi {' '.join(command)}` failed; nothing written to {out}", file=sys.stderr)
            return 1
    metrics = json.loads((run / "eval.json").read_text())
    files = {}
    for key, name in FIGURES.items():
        dest = out.with_name(f"{out.stem}_{key}.png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "plots" / name, dest)
        files[key] = dest.name
    write_json(out, {"target": "gmm", "settings": settings, "n_samples": 2000, "metrics": metrics,
                     "figures": files, "seconds": time.perf_counter() - t0, "threads": 1}, "vgs_cli.py", argv)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()}))
    print(f"wrote {out} and its figures {', '.join(files.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
