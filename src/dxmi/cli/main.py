"""``dxmi``: pretrain, train, sample, evaluate, plot and a one-command demo.

One grammar: DxMI's commands are top level (``dxmi train``); the other apps are ``dxmi <app> <verb>``
(``dxmi vgs train``, ``dxmi mate evaluate``, ``dxmi anomaly fit``). Every DxMI command reads a preset or
YAML file (``--config``), applies ``--set key.sub=value`` overrides and works in one run folder
(``--out``). Errors are one line naming the problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dxmi.config import ConfigError, RunConfig, load_config, preset_names
from dxmi.experiment import SAMPLERS

EPILOG = """examples:
  dxmi demo                                   # 8gaussians, T = 4: pretrain, DxMI, evaluate, plots
  dxmi pretrain --config 2spirals --out runs/spirals
  dxmi train --config 2spirals --out runs/spirals --set train.algo.tau1=0.0
  dxmi evaluate --out runs/spirals --sampler dxmi
  dxmi sample --out runs/spirals --n 1000 --file samples.npy
  dxmi presets
  torchrun --nproc_per_node 4 -m dxmi train --config 2spirals --device cuda --set precision=bf16
                                              # data-parallel (DDP, NCCL; gloo on CPU), mixed precision
  dxmi anomaly fit --out runs/bc && dxmi anomaly evaluate --out runs/bc   # breast cancer, benign = normal
  dxmi vgs train --target gmm --out runs/vgs_gmm && dxmi vgs evaluate --out runs/vgs_gmm   # no data, an energy
  dxmi mate train --config tmaze --out runs/tmaze && dxmi mate evaluate runs/tmaze          # contextual RL
  dxmi train --config digits --out runs/digits        # images: 8x8 digits, UNet DDPM, T = 10, conv energy
  dxmi evaluate --out runs/digits --sampler base      # images: FD / precision / recall in classifier features
  dxmi export --out runs/digits --to exports/digits   # the trained sampler as a diffusers pipeline folder
apps: `dxmi vgs|mate|anomaly --help` lists an app's actions, `dxmi vgs train --help` one action's options.
time convention: step t = 0 is noise, t = T is the sample."""


def _common(p: argparse.ArgumentParser, config_default: str | None = "8gaussians") -> None:
    p.add_argument("--config", default=config_default,
                   help="preset name (see `dxmi presets`) or path to a YAML file"
                        + (f" (default: {config_default})" if config_default else
                           " (default: the run folder's config.yaml)"))
    p.add_argument("--out", default=None, help="run folder (default: from the config, runs/<preset>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.algo.tau1=0.05 (repeatable)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: from the config)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the config)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _resolve(args: argparse.Namespace, from_run: bool = False) -> RunConfig:
    overrides = list(args.overrides)
    source = args.config
    if from_run and source is None:
        if args.out is None:
            raise ConfigError("give --out (a run folder with config.yaml) or --config")
        source = str(Path(args.out) / "config.yaml")
        if Path(source).is_file() and Path(source).stat().st_size == 0:
            raise ConfigError(f"{source}: the run's settings file is empty")
    if args.out is not None:
        overrides.append(f"out={args.out}")
    elif source is not None and not source.endswith((".yaml", ".yml")):
        overrides.append(f"out=runs/{source}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.no_progress:
        overrides.append("progress=false")
    return load_config(source, overrides)


def cmd_presets(args: argparse.Namespace) -> int:
    """The built-in presets of every app, one group per app (the command that reads them in its title)."""
    from dxmi.algorithms.vgs import preset_names as vgs_presets
    from dxmi.mate.config import preset_names as mate_presets

    groups = (("dxmi (dxmi train --config NAME)", preset_names()),
              ("vgs (dxmi vgs train --target NAME; default: every other target)", vgs_presets()),
              ("mate (dxmi mate train --config NAME)", mate_presets()))
    for i, (title, names) in enumerate(groups):
        print(("\n" if i else "") + title + ":")
        for name in names:
            print(f"  {name}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from dxmi.experiment import pretrain
    from dxmi.training.distributed import Distributed

    cfg = _resolve(args)
    dist = Distributed.from_env(cfg.device)
    r = pretrain(cfg, resume=not args.no_resume, dist=dist)
    if dist.is_main:
        print(f"pretrained DDPM in {r.seconds:.1f}s -> {Path(cfg.out) / 'pretrain'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from dxmi.experiment import check_resumable, pretrain, pretrain_finished, pretrain_step, train
    from dxmi.training.distributed import Distributed

    cfg = _resolve(args)
    dist = Distributed.from_env(cfg.device)  # torchrun: one process per GPU (or CPU worker)
    check_resumable(cfg, Path(cfg.out), () if not args.no_resume else ("warmstart", "train"))
    if not pretrain_finished(cfg):
        step = pretrain_step(cfg)
        if dist.is_main:
            print("no pretrained model in the run folder: pretraining first" if step is None else
                  f"the pretraining stopped at step {step} of {cfg.pretrain.steps}: finishing it first",
                  file=sys.stderr)
        pretrain(cfg, dist=dist)
    r = train(cfg, resume=not args.no_resume, dist=dist)
    if dist.is_main:
        procs = f" on {dist.world_size} processes ({dist.backend})" if dist.enabled else ""
        print(f"trained {cfg.train.update} (T={cfg.sampler.num_steps}){procs} in {r.seconds:.1f}s "
              f"-> {Path(cfg.out) / 'train'}")
        write_run_report(cfg)
    return 0


def write_run_report(cfg: RunConfig) -> Path | None:
    """OUT/report.html (metrics table, sample figures, learning curves); a failure is one warning line,
    never the command's error."""
    from dxmi.viz.report import write_report

    try:
        path = write_report(cfg.out, cfg)
    except Exception as e:  # the report is a by-product: the run's results are written already
        print(f"dxmi: warning: {Path(cfg.out) / 'report.html'} not written: {error_line(e, 200)}", file=sys.stderr)
        return None
    print(f"wrote {path}")
    return path


def cmd_sample(args: argparse.Namespace) -> int:
    from dxmi.experiment import draw_samples

    cfg = _resolve(args, from_run=True)
    x = draw_samples(cfg, args.sampler, args.n, seed=cfg.seed + 100, steps=args.steps, label=args.label,
                     spacing=args.spacing)
    path = Path(args.file) if args.file else Path(cfg.out) / f"samples_{args.sampler}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        np.savetxt(path, x.cpu().numpy(), delimiter=",")
    else:
        np.save(path, x.cpu().numpy())
    print(f"wrote {args.n} samples to {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dxmi.experiment import eval_name, evaluate

    cfg = _resolve(args, from_run=True)
    res = evaluate(cfg, args.sampler, steps=args.steps, spacing=args.spacing)
    print(json.dumps({k: round(v, 5) for k, v in res.items()}, indent=2))
    stem = eval_name(args.sampler, args.steps if args.sampler not in ("dxmi", "base", "ddpm") else None, args.spacing)
    print(f"wrote {Path(cfg.out) / f'eval_{stem}.json'}")
    write_run_report(cfg)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dxmi.export import export_diffusers
    from dxmi.export.to_diffusers import SAMPLE_SEED_OFFSET

    cfg = _resolve(args, from_run=True)
    folder = export_diffusers(cfg, args.to, args.sampler, steps=args.steps, force=args.force)
    print(f"wrote {folder} (a diffusers pipeline; see {folder / 'README.md'})")
    print(f"  DiffusionPipeline.from_pretrained({str(folder)!r}, trust_remote_code=True)(batch_size=16, "
          f"generator=torch.Generator().manual_seed({cfg.seed + SAMPLE_SEED_OFFSET}), output_type='pt').images")
    return 0


def make_plots(cfg: RunConfig) -> list[Path]:
    from dxmi.experiment import build_dataset, draw_samples, is_image_dataset, load_trained
    from dxmi.viz import plot_energy, plot_samples, plot_trajectories
    from dxmi.viz.labels import sampler_colour, sampler_label
    from dxmi.viz.report import plot_phase_curves

    out, T = Path(cfg.out), cfg.sampler.num_steps
    plots = out / "plots"
    dataset = build_dataset(cfg)
    if is_image_dataset(dataset):
        return make_image_plots(cfg, dataset)
    if getattr(dataset, "dim", 2) != 2:
        print("plots are drawn for 2D data and images only", file=sys.stderr)
        return []
    algo = load_trained(cfg, dataset)
    n = min(cfg.eval.n_samples, 3000)
    # drawn in the model's units (a point cloud's standardised ones), as the energy is
    data = dataset.sample(n, torch.Generator().manual_seed(cfg.seed + 200))
    samples = {sampler_label("base", T, cfg): draw_samples(cfg, "base", n, cfg.seed + 100, data_units=False),
               sampler_label("dxmi", T, cfg): draw_samples(cfg, "dxmi", n, cfg.seed + 100, data_units=False)}
    colours = [sampler_colour("base"), sampler_colour("dxmi")]
    paths = [plot_samples(samples, data, plots / "samples.png", colours=colours),
             plot_energy(lambda z: algo.energy(z.to(cfg.device)).cpu(), plots / "energy.png", data=data)]
    traj = algo.sampling_policy.rollout(600, torch.Generator(device=cfg.device).manual_seed(cfg.seed))
    paths.append(plot_trajectories(traj.states, plots / "trajectories.png"))
    return paths + plot_phase_curves(out)


def make_image_plots(cfg: RunConfig, dataset: Any) -> list[Path]:
    """Sample grids (data, base T-step sampler, trained sampler) and learning curves."""
    from dxmi.experiment import draw_samples
    from dxmi.viz.images import plot_image_grids
    from dxmi.viz.labels import sampler_label
    from dxmi.viz.report import plot_phase_curves

    out, T = Path(cfg.out), cfg.sampler.num_steps
    grids = {"data": dataset.sample(64, torch.Generator().manual_seed(cfg.seed + 200)),
             sampler_label("base", T, cfg): draw_samples(cfg, "base", 64, cfg.seed + 100),
             sampler_label("dxmi", T, cfg): draw_samples(cfg, "dxmi", 64, cfg.seed + 100)}
    paths = [plot_image_grids(grids, out / "plots" / "samples.png", title=cfg.data.name)]
    return paths + plot_phase_curves(out)


def cmd_plot(args: argparse.Namespace) -> int:
    cfg = _resolve(args, from_run=True)
    for p in make_plots(cfg):
        print(f"wrote {p}")
    write_run_report(cfg)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from dxmi.experiment import evaluate, pretrain, train

    overrides = list(args.overrides) + [f"out={args.out}"]
    if args.quick:
        overrides += ["pretrain.steps=600", "train.iterations=150", "eval.n_samples=1000"]
    if args.device:
        overrides.append(f"device={args.device}")
    cfg = load_config(args.config, overrides)
    print(f"dxmi demo: {cfg.data.name}, T = {cfg.sampler.num_steps}, run folder {cfg.out}")
    pretrain(cfg)
    train(cfg)
    rows: dict[str, dict[str, float]] = {}
    for which in ("base", "ddim", "dxmi"):
        rows[which] = evaluate(cfg, which)
    keys = ["sw", "mmd", "energy_distance", "modes_covered", "in_mode_fraction"]
    print(f"\n{'sampler':<10}" + "".join(f"{k:>18}" for k in keys))
    for which, r in rows.items():
        label = which if which != "ddim" else f"ddim_{cfg.sampler.num_steps}"
        print(f"{label:<10}" + "".join(f"{r.get(k, float('nan')):>18.4f}" for k in keys))
    if "density_tv" in rows["dxmi"]:
        print(f"EBM density error vs the exact density (TV on a grid): {rows['dxmi']['density_tv']:.4f}")
    paths = make_plots(cfg)
    print("\nwrote:")
    for p in [Path(cfg.out) / "eval_dxmi.json", *paths]:
        print(f"  {p}")
    write_run_report(cfg)
    print(f"run folder: {Path(cfg.out).resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dxmi", description="Sampling as sequential decision-making: DxMI / DxDP / GCD diffusion "
        "samplers trained with energy-based models.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the small 2D models run fastest on one thread, "
                             "and more threads than cores slow torch down many times)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="pretrain + DxMI + evaluate + plots on a built-in dataset (no download)")
    p.add_argument("--config", default="8gaussians", help="preset (default: 8gaussians)")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("presets", help="list the built-in configuration presets of every app (dxmi, vgs, mate)")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("pretrain", help="train the base 1000-step DDPM on the data")
    _common(p)
    p.add_argument("--no-resume", action="store_true",
                   help="start the pretraining over even if a checkpoint exists (the way to change its settings "
                        "in a run folder whose later phases hold no checkpoint)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="fine-tune the T-step sampler with DxMI (or GCD) + an EBM",
                       description="Fine-tune the T-step sampler; a run folder with checkpoints resumes. Resuming "
                                   "with other settings than the run's (config.yaml) is refused, except out, device, "
                                   "precision, progress, tensorboard, log_every, ckpt_every, eval.* and a larger "
                                   "train.iterations; change them with --no-resume or a new --out.")
    _common(p)
    p.add_argument("--no-resume", action="store_true",
                   help="start the fine-tuning (warm start and DxMI) over even if a checkpoint exists, keeping the "
                        "pretrained model: the way to change the sampler's or training's settings in a run folder")
    p.set_defaults(func=cmd_train)

    for name, func, helptext in (("sample", cmd_sample, "draw samples from a trained run"),
                                 ("evaluate", cmd_evaluate, "sample-quality metrics of a run's sampler")):
        p = sub.add_parser(name, help=helptext)
        _common(p, config_default=None)
        p.add_argument("--sampler", default="dxmi", choices=list(SAMPLERS),
                       help="dxmi (trained), base (untrained T-step policy), ddpm (1000-step; for an EDM "
                            "base model: Euler-ancestral on --steps (100) levels), ddim, or a training-free "
                            "diffusers solver on the same base model: dpmsolver++ (2M), dpmsolver++3m, unipc, "
                            "unipc3, deis (order 2), deis3; _full: the solver's order kept to the last step")
        p.add_argument("--steps", type=int, default=None,
                       help="ddim / solver step count = network evaluations (default: the run's T)")
        p.add_argument("--spacing", default=None, choices=["leading", "trailing", "linspace"],
                       help="ddim / solver timestep spacing (diffusers' timestep_spacing; default: leading for "
                            "the solvers, the package's evenly spaced N-1..0 DDIM for ddim); pick it on "
                            "validation draws, see benchmarks/toy2d.py")
        if name == "sample":
            p.add_argument("--n", type=int, default=1000, help="number of samples")
            p.add_argument("--file", default=None, help="output .npy or .csv (default: OUT/samples_<sampler>.npy)")
            p.add_argument("--label", type=int, default=None,
                           help="class-conditional models: draw class LABEL only (default: every class equally "
                                "often, labels 0, 1, ..., K-1, 0, ...)")
        p.set_defaults(func=func)

    p = sub.add_parser("export", help="write a run's sampler as a diffusers pipeline folder",
                       description="Write the run's sampler as a folder that diffusers loads: "
                                   "DiffusionPipeline.from_pretrained(DIR, trust_remote_code=True). The folder holds "
                                   "the epsilon-network's weights, a scheduler with the sampler's timesteps, mean "
                                   "coefficients and per-step sigmas, and the code (torch + diffusers, no dxmi); with "
                                   "the same seed it draws what `dxmi sample` draws. Image runs on a DDPM base model.")
    _common(p, config_default=None)
    p.add_argument("--to", required=True, metavar="DIR", help="the folder to write (new, or an earlier export with "
                                                              "--force)")
    p.add_argument("--sampler", default="dxmi", choices=["dxmi", "base", "ddpm", "ddim"],
                   help="dxmi (the trained sampler), base (the untrained T-step policy), ddpm (the base model's "
                        "full ancestral chain) or ddim (--steps evenly spaced steps); default dxmi")
    p.add_argument("--steps", type=int, default=None, help="ddim: the step count (default: the run's T)")
    p.add_argument("--force", action="store_true", help="replace DIR when it holds an earlier export")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="samples vs data, energy landscape, trajectories, learning curves "
                                    "(and OUT/report.html, which train and evaluate also write)")
    _common(p, config_default=None)
    p.set_defaults(func=cmd_plot)

    try:
        from dxmi.mate.cli import add_subparsers as add_mate
    except ImportError:
        pass
    else:
        add_mate(sub)
    try:
        from dxmi.anomaly.cli import add_subparsers as add_anomaly
    except ImportError:
        pass
    else:
        add_anomaly(sub)
    try:
        from dxmi.cli.vgs import add_subparsers as add_vgs
    except ImportError:
        pass
    else:
        add_vgs(sub)
    from dxmi.cli.fid import add_subparsers as add_fid

    add_fid(sub)
    return parser


def error_line(e: BaseException, limit: int = 600) -> str:
    """The one line the CLI prints for an error: its first line, cut to ``limit`` characters."""
    from dxmi.io import shorten

    text = str(e).strip()
    return shorten(text.splitlines()[0], limit) if text else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    from dxmi.cli.aliases import rewrite

    parser = build_parser()
    # the old hyphenated spellings (vgs-train, mate-evaluate, ...): one note, then the same command
    args = parser.parse_args(rewrite(sys.argv[1:] if argv is None else argv))
    if args.threads < 1:
        print(f"dxmi: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from dxmi.training.distributed import shutdown

    finished = False
    try:
        code = int(args.func(args) or 0)
        finished = True
        return code
    except KeyboardInterrupt:
        print("dxmi: interrupted; the last checkpoint is kept, run the same command to resume", file=sys.stderr)
        return 130
    except (ConfigError, FileNotFoundError, ValueError, RuntimeError, ImportError) as e:
        print(f"dxmi: error: {error_line(e)}", file=sys.stderr)
        return 2
    finally:
        shutdown(synchronise=finished)


if __name__ == "__main__":
    sys.exit(main())
