"""``dxmi anomaly fit|score|evaluate``: an energy-based anomaly detector from the command line.

    dxmi anomaly fit --out runs/bc                      # built-in: breast cancer, benign = normal
    dxmi anomaly evaluate --out runs/bc                 # held-out benign + all malignant: AUROC, AUPRC
    dxmi anomaly fit --data normal.csv --out runs/mine --set iterations=2000
    dxmi anomaly score --out runs/mine --data new.csv   # -> runs/mine/scores.csv + score_hist.png
    dxmi anomaly evaluate --out runs/mine --data labelled.npz
    dxmi anomaly fit --data maps.pt --feature-maps --out runs/maps   # (N, C, H, W) + masks

Data files: ``.npz`` (X, optional y with 1 = anomaly), ``.npy`` (X), ``.csv`` (numbers; a header
column ``label`` / ``y`` / ``is_anomaly`` is the label). With ``--feature-maps``: ``.pt`` / ``.npy`` /
``.npz`` feature maps (N, C, H, W) with optional pixel masks (see ``dxmi.anomaly.data``).
``fit`` trains on the rows labelled normal when labels are present. The run folder holds the
detector in ``model.safetensors`` (one checkpoint: weights and settings); scores go to CSV and a
histogram PNG.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dxmi.config import ConfigError
from dxmi.io import shorten

DEFAULT_OUT = "runs/anomaly"
#: the names of ``dxmi.anomaly.DETECTORS``, spelled out so that building the ``dxmi`` parser imports
#: no detector (nor PyOD / scikit-learn with them)
METHODS = ("dxmi", "langevin_ebm", "vgs_ebm")


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {shorten(item)!r}: the value is not valid YAML "
                              f"({shorten(str(getattr(e, 'problem', None) or e))})") from None
    return out


def _load(args: argparse.Namespace, for_fit: bool) -> tuple[Any, np.ndarray | None, np.ndarray | None, str]:
    """(X, image labels, pixel masks, description). Without --data: the built-in breast-cancer split."""
    from dxmi.anomaly.data import breast_cancer, load_feature_maps, load_labelled

    if args.data is None:
        if args.feature_maps:
            raise ConfigError("--feature-maps needs --data (there is no built-in feature-map set)")
        sp = breast_cancer(seed=args.split_seed)
        if for_fit:
            return sp.x_train, None, None, f"breast cancer: {len(sp.x_train)} benign training points"
        return sp.x_test, sp.y_test, None, f"breast cancer: {len(sp.x_test)} held-out points"
    if args.feature_maps:
        fm = load_feature_maps(args.data)
        return fm.features, fm.image_labels, fm.masks, f"{args.data}: feature maps {fm.features.shape}"
    x, y = load_labelled(args.data)
    return x, y, None, f"{args.data}: {x.shape}"


def cmd_fit(args: argparse.Namespace) -> int:
    from dxmi.anomaly import FeatureMapDetector, make_detector

    x, y, _, desc = _load(args, for_fit=True)
    if y is not None:
        if not (y == 0).any():
            raise ConfigError(f"{args.data}: no row is labelled normal (y = 0): nothing to fit on")
        x = x[y == 0]
        desc += f" (fitting on the {len(x)} rows labelled normal)"
    overrides = _parse_overrides(args.overrides)
    if args.seed is not None:
        overrides["seed"] = args.seed
    inner = make_detector(args.method, **overrides)
    if args.top_k != 1 and not args.feature_maps:
        raise ConfigError("--top-k applies to feature maps only (add --feature-maps)")
    det: Any = FeatureMapDetector(inner, top_k=args.top_k) if args.feature_maps else inner
    print(f"fitting {args.method} on {desc}")
    workdir = Path(args.out) / "train"
    if args.resume:
        print(f"resuming the fit in {workdir}" if (workdir / "checkpoints").exists()
              else f"no fit to resume in {workdir}: starting one")
    det.fit(x, progress=not args.no_progress, workdir=workdir, resume=args.resume,
            ckpt_every=max(1, inner.config.iterations // 10))
    out = det.save(args.out)
    print(f"saved detector to {out}")
    return 0


def _write_scores(path: Path, scores: np.ndarray, labels: np.ndarray | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "score"] + (["label"] if labels is not None else []))
        for i, s in enumerate(scores):
            w.writerow([i, f"{s:.8g}"] + ([int(labels[i])] if labels is not None else []))


def _score(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray | None, Any, str]:
    from dxmi.anomaly import load_detector

    det = load_detector(args.out)
    x, y, masks, desc = _load(args, for_fit=False)
    try:
        scores = det.decision_function(x)
    except ValueError as e:  # e.g. another number of features than the detector's: say which data
        raise ValueError(f"{args.data or 'the built-in data'}: {e}") from None
    return det, scores, y, masks, x, desc


def _outputs(args: argparse.Namespace, det: Any, scores: np.ndarray, y: np.ndarray | None, tag: str) -> None:
    from dxmi.viz.anomaly import plot_score_histogram

    out = Path(args.out)
    csv_path = Path(args.csv) if args.csv else out / f"scores_{tag}.csv"
    _write_scores(csv_path, scores, y)
    threshold = getattr(det, "threshold_", None) or getattr(getattr(det, "inner", None), "threshold_", None)
    hist = plot_score_histogram(scores, out / f"score_hist_{tag}.png", labels=y, threshold=threshold)
    print(f"wrote {csv_path}\nwrote {hist}")


def cmd_score(args: argparse.Namespace) -> int:
    det, scores, _, _, _, desc = _score(args)
    print(f"scored {desc}: min {scores.min():.4g}, median {np.median(scores):.4g}, max {scores.max():.4g}")
    _outputs(args, det, scores, None, "score")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dxmi.anomaly.feature_maps import upsample_maps
    from dxmi.metrics.anomaly import auprc, auroc

    det, scores, y, masks, x, desc = _score(args)
    if y is None:
        raise ConfigError(f"{args.data}: evaluate needs labels (y in an .npz, a 'label' CSV column, or masks)")
    res = {"n": int(len(scores)), "n_anomalies": int(np.sum(y)), "auroc": auroc(scores, y), "auprc": auprc(scores, y)}
    if masks is not None and hasattr(det, "score_map"):
        maps = upsample_maps(det.score_map(x), tuple(masks.shape[1:]))
        res["pixel_auroc"] = auroc(maps.reshape(-1), (masks.reshape(-1) > 0.5).astype(np.int64))
    print(f"evaluated on {desc}")
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in res.items()}, indent=2))
    out = Path(args.out)
    (out / "eval.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {out / 'eval.json'}")
    _outputs(args, det, scores, y, "eval")
    return 0


def add_subparsers(sub: Any) -> None:
    """Register ``dxmi anomaly {fit,score,evaluate}`` on the ``dxmi`` parser."""
    p = sub.add_parser("anomaly", help="energy-based anomaly detection (DxMI-trained EBM): fit, score, evaluate",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = p.add_subparsers(dest="anomaly_command", required=True, metavar="ACTION")
    for name, func, helptext in (
            ("fit", cmd_fit, "fit a detector on normal data (default: breast cancer, benign)"),
            ("score", cmd_score, "score a data file: CSV of scores + histogram"),
            ("evaluate", cmd_evaluate, "AUROC / AUPRC on a labelled file (default: held-out breast cancer)")):
        q = asub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("--data", default=None, help=".npz / .npy / .csv (default: the built-in breast-cancer split)")
        q.add_argument("--out", default=DEFAULT_OUT, help=f"run folder of the detector (default: {DEFAULT_OUT})")
        q.add_argument("--feature-maps", action="store_true", help="data are (N, C, H, W) feature maps")
        q.add_argument("--split-seed", type=int, default=0,
                       help="seed of the built-in breast-cancer train/test split (default 0)")
        if name == "fit":
            q.add_argument("--method", default="dxmi", choices=METHODS,
                           help="dxmi (default), langevin_ebm (the MCMC baseline) or vgs_ebm (VGS negatives)")
            q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                           help="override a detector option, e.g. --set iterations=2000 (repeatable)")
            q.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
            q.add_argument("--no-progress", action="store_true", help="hide the progress bar")
            q.add_argument("--resume", action="store_true",
                           help="continue the fit in OUT/train (interrupted, or to a larger --set iterations=N); "
                                "same data and settings otherwise")
            q.add_argument("--top-k", type=int, default=1,
                           help="with --feature-maps: the image score is the mean of the k largest "
                                "location energies (default 1: the maximum)")
        else:
            q.add_argument("--csv", default=None, help="scores CSV (default: OUT/scores_<action>.csv)")
        q.set_defaults(func=func)
