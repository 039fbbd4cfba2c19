"""``dxmi vgs {train,sample,evaluate,plot}``: the Value Gradient Sampler on a target energy (no data).

    dxmi vgs train --target gmm --out runs/vgs_gmm --set iterations=500
    dxmi vgs sample --out runs/vgs_gmm --n 5000
    dxmi vgs evaluate --out runs/vgs_gmm
    dxmi vgs plot --out runs/vgs_gmm
    dxmi vgs train --target mypkg.energies:banana --dim 2 --out runs/banana
    dxmi vgs sample --out runs/banana --allow-import mypkg.energies

The run folder holds ``vgs.yaml`` (target, dim and the full config), the trainer's checkpoints and
``metrics.csv``; later commands read the target and config from it. Reading a folder never imports
code on its own: a ``module:function`` target named there is loaded only with ``--allow-import MODULE``
(or when given again with ``--target``). The old spellings ``vgs-train`` ... ``vgs-plot`` still work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dxmi.config import ConfigError
from dxmi.io import read_yaml, settings_yaml, write_text_atomic

CONFIG_FILE = "vgs.yaml"


def _args(p: argparse.ArgumentParser, train: bool) -> None:
    from dxmi.algorithms.vgs import preset_names

    presets = ", ".join(n for n in preset_names() if n != "default")
    p.add_argument("--target", default=None if not train else "gmm",
                   help="gmm | gmm25 | gmm40 | funnel | dw4 | lj13 | u1..u4 | banana | module:function"
                        + (f"; its settings: the VGS preset of that name (dxmi/configs/vgs/: {presets}), "
                           "else 'default' (see `dxmi presets`)" if train else " (default: the run folder's)"))
    p.add_argument("--dim", type=int, default=None, help="dimension of a module:function energy")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a VGS option, e.g. --set iterations=500 --set net.hidden=256 (repeatable)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    if not train:
        p.add_argument("--allow-import", dest="allow_import", action="append", default=[], metavar="MODULE",
                       help="a run folder whose vgs.yaml names a module:function target imports MODULE (runs its "
                            "code) only when it is named here; built-in targets need nothing (repeatable)")


def _load_run(args: argparse.Namespace) -> tuple[Any, Any, Path]:
    """(target, config, run folder) from the run's vgs.yaml, with CLI overrides on top."""
    from dxmi.algorithms.vgs import make_config
    from dxmi.targets import make_target

    out = Path(args.out)
    saved: dict[str, Any] = {}
    if (out / CONFIG_FILE).is_file():
        saved = read_yaml(out / CONFIG_FILE, "VGS run config") or {}
        if not isinstance(saved, dict):
            raise ConfigError(f"{out / CONFIG_FILE}: expected a mapping (target, dim, config)")
    name = args.target or saved.get("target")
    if name is None:
        raise ConfigError(f"give --target (no {out / CONFIG_FILE} to read it from)")
    if not isinstance(name, str):
        raise ConfigError(f"{out / CONFIG_FILE}: target must be a string, got {name!r}")
    if args.target is None:
        check_import_allowed(name, getattr(args, "allow_import", []), out / CONFIG_FILE)
    dim = args.dim if args.dim is not None else saved.get("dim")
    target = make_target(name, dim)
    overrides = list(args.overrides)
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    try:
        cfg = make_config(name, overrides, base=saved.get("config"))
    except ConfigError:
        if saved:  # the run folder's own settings do not load: name the file
            try:
                make_config(name, [], base=saved.get("config"))
            except ConfigError as e:
                raise ConfigError(f"{out / CONFIG_FILE}: {e}") from None
        raise
    return target, cfg, out


def check_import_allowed(target: str, allowed: list[str], source: Path) -> None:
    """A ``module:function`` target read from a run folder (``source``) imports ``module``, which runs
    its code: only with ``--allow-import MODULE``. A target given on the command line is explicit."""
    if ":" not in target:
        return
    module = target.split(":", 1)[0]
    if module not in allowed:
        raise ConfigError(f"{source} names the user target {target!r}: loading it imports (runs) the module "
                          f"{module!r}; pass --allow-import {module} if you trust it, or --target {target}")


def _trained(args: argparse.Namespace) -> tuple[Any, Any, Any, Path]:
    from dxmi.algorithms.vgs import VGS
    from dxmi.training.checkpoint import CheckpointManager, restore_state

    target, cfg, out = _load_run(args)
    algo = VGS(target.to(cfg.device), cfg)
    ckpt = CheckpointManager(out / "checkpoints")
    if not ckpt.exists():
        raise FileNotFoundError(f"no trained sampler in {out} (run dxmi vgs train first)")
    restore_state(algo, ckpt.load(torch.device(cfg.device)).get("algorithm"), ckpt.last, "trained sampler")
    return target, cfg, algo, out


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from dxmi.training.vgs import train_vgs

    target, cfg, out = _load_run(args)
    out.mkdir(parents=True, exist_ok=True)
    name = args.target
    if args.ckpt_every < 0 or args.log_every < 1:
        raise ConfigError(f"--ckpt-every must be >= 0 and --log-every >= 1, got {args.ckpt_every}, {args.log_every}")
    # atomic: a run killed while writing it must still resume (later commands read the target from it)
    write_text_atomic(out / CONFIG_FILE, settings_yaml({"target": name, "dim": target.dim,
                                                        "config": dataclasses.asdict(cfg)}))
    algo = train_vgs(target.to(cfg.device), cfg, str(out), progress=not args.no_progress, log_every=args.log_every,
                     ckpt_every=args.ckpt_every)
    print(f"trained VGS on {target.name} (T={cfg.num_steps}, {cfg.iterations} iterations, "
          f"{algo.n_energy_evals} energy evaluations) -> {out}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    target, cfg, algo, out = _trained(args)
    g = torch.Generator(device=cfg.device).manual_seed(cfg.seed + 100)
    x = algo.sampler.sample(args.n, g, noise_scale=cfg.sample_noise).cpu().numpy()
    path = Path(args.file) if args.file else out / "samples.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        np.savetxt(path, x, delimiter=",")
    else:
        np.save(path, x)
    print(f"wrote {args.n} samples to {path}")
    return 0


def evaluate_run(target: Any, cfg: Any, algo: Any, n: int) -> dict[str, float]:
    """Metrics of the trained sampler: vs exact samples (synthetic) or the reference set (particles),
    plus log Z and ESS from path weights."""
    from dxmi.metrics import particle_metrics, synthetic_metrics

    g = torch.Generator(device=cfg.device).manual_seed(cfg.seed + 100)
    roll = algo.sampler.rollout(n, g, noise_scale=cfg.sample_noise)
    x = roll.samples.cpu()
    res: dict[str, float] = {"energy_mean": float(roll.energy.mean())}
    if cfg.sample_noise == 1.0:
        res.update(log_z=roll.log_z(), ess=roll.ess())
        if target.log_z is not None:
            res["log_z_true"] = target.log_z
    if target.particles is not None and hasattr(target, "reference_samples"):
        ref = target.reference_samples("test")[:n]
        pm = particle_metrics(x, ref, target.cpu(), target.particles)
        res.update(w2=pm.w2, tvd_e=pm.tvd_e, tvd_d=pm.tvd_d)
    elif target.has_exact_samples:
        ref = target.cpu().sample(n, torch.Generator().manual_seed(cfg.seed + 7))
        sm = synthetic_metrics(x, ref, target.cpu())
        res.update(sinkhorn=sm.sinkhorn, tvd_e=sm.tvd_e, delta_std=sm.delta_std)
    return res


def cmd_evaluate(args: argparse.Namespace) -> int:
    target, cfg, algo, out = _trained(args)
    res = evaluate_run(target, cfg, algo, args.n)
    (out / "eval.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: round(v, 5) for k, v in res.items()}, indent=2))
    print(f"wrote {out / 'eval.json'}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from dxmi.viz.vgs import plot_energy_histograms, plot_samples_over_density, plot_vgs_trajectories

    target, cfg, algo, out = _trained(args)
    g = torch.Generator(device=cfg.device).manual_seed(cfg.seed + 100)
    roll = algo.sampler.rollout(args.n, g, noise_scale=cfg.sample_noise)
    plots = out / "plots"
    ref = None
    if target.particles is not None:
        try:
            ref = target.reference_samples("test")[: args.n]
        except FileNotFoundError:
            ref = None
    elif target.has_exact_samples:
        ref = target.cpu().sample(args.n, torch.Generator().manual_seed(cfg.seed + 7))
    paths = [plot_energy_histograms(target.cpu(), roll.samples.cpu(), ref, plots / "energy_hist.png")]
    if target.dim == 2:
        paths.append(plot_samples_over_density(target.cpu(), roll.samples.cpu(), plots / "samples.png"))
        paths.append(plot_vgs_trajectories(target.cpu(), roll.states.cpu(), plots / "trajectories.png"))
    for p in paths:
        print(f"wrote {p}")
    return 0


def add_subparsers(sub: Any) -> None:
    """Register ``dxmi vgs {train,sample,evaluate,plot}`` on the ``dxmi`` parser."""
    app = sub.add_parser("vgs", help="Value Gradient Sampler on a target energy: train, sample, evaluate, plot",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    vsub = app.add_subparsers(dest="vgs_command", required=True, metavar="ACTION")
    helptext = "train a Value Gradient Sampler on a target energy (no data); a killed run resumes"
    p = vsub.add_parser("train", help=helptext, description=helptext)
    _args(p, train=True)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--ckpt-every", type=int, default=500, metavar="N",
                   help="checkpoint every N iterations (and at the end; default 500); a killed run resumes from "
                        "the last one when the same command is run again")
    p.add_argument("--log-every", type=int, default=50, metavar="N",
                   help="a row of OUT/metrics.csv every N iterations (default 50)")
    p.set_defaults(func=cmd_train)
    for name, func, helptext in (
            ("sample", cmd_sample, "draw samples from a trained VGS run"),
            ("evaluate", cmd_evaluate, "metrics of a trained VGS run (OUT/eval.json)"),
            ("plot", cmd_plot, "samples over the density, energy histograms, trajectories")):
        p = vsub.add_parser(name, help=helptext, description=helptext)
        _args(p, train=False)
        p.add_argument("--n", type=int, default=2000, help="number of samples (default 2000)")
        if name == "sample":
            p.add_argument("--file", default=None, help="output .npy or .csv (default: OUT/samples.npy)")
        p.set_defaults(func=func)
