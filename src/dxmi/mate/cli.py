"""``dxmi mate {train,evaluate}``: a MATE (or baseline memory) agent on a contextual task.

    dxmi mate train --config tmaze --out runs/tmaze_mate
    dxmi mate train --config tmaze --set memory=gru --set env.length=20 --out runs/tmaze_gru
    dxmi mate train --config tmaze --out runs/tmaze_mate --resume    # continue
    dxmi mate evaluate runs/tmaze_mate --episodes 128

Registered into the main ``dxmi`` CLI through :func:`add_subparsers`; also runnable as
``python -m dxmi.mate {train,evaluate} ...``. The old spellings ``mate-train`` and ``mate-evaluate``
still work.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dxmi.mate.config import ConfigError, load_config
from dxmi.training.devices import resolve_device


def _train(args: argparse.Namespace) -> int:
    from dxmi.mate.train import MATETrainer

    device = resolve_device(args.device, "--device")
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.set)
    trainer = MATETrainer(cfg, args.out, progress=not args.quiet, device=device)
    result = trainer.run(resume=args.resume)
    summary = {"task": cfg.task, "memory": cfg.memory, "mean_return": result.mean_return,
               "success_rate": result.success_rate, "out": str(args.out)}
    print(json.dumps(summary))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from dxmi.mate.train import evaluate, load_trained

    device = resolve_device(args.device, "--device")
    torch.set_num_threads(args.threads)
    cfg, agent = load_trained(args.run, device)
    if args.set:
        raise ConfigError("dxmi mate evaluate takes the run's own config; --set is not supported")
    result = evaluate(cfg, agent, args.episodes)
    summary = {"task": cfg.task, "memory": cfg.memory, "mean_return": result.mean_return,
               "success_rate": result.success_rate, "episodes": result.episodes}
    out = Path(args.out) if args.out else Path(args.run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0


def _one_line_errors(func: Callable[[argparse.Namespace], int]
                     ) -> Callable[[argparse.Namespace], int]:
    """Bad input becomes ``error: ...`` on stderr and exit status 2 (also inside ``dxmi``)."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (ConfigError, ValueError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return wrapped


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu",
                   help="cpu (default), cuda or cuda:N: holds the agent and the replay; the "
                        "environments step on the CPU. The presets are CPU-sized")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (dots for nesting: agent.lr=1e-3)")


def add_verbs(subparsers: Any) -> None:
    """Register ``train`` and ``evaluate`` on an argparse subparsers object."""
    helptext = "train a MATE (or baseline) agent"
    tr = subparsers.add_parser("train", help=helptext, description=helptext)
    tr.add_argument("--config", default="tmaze",
                    help="YAML file or preset: tmaze, order, bandit, point, pendulum, "
                         "cheetah_vel, ant_dir")
    tr.add_argument("--out", default="runs/mate", help="output folder")
    tr.add_argument("--resume", action="store_true",
                    help="continue from --out's checkpoint; other settings than the checkpoint's are refused "
                         "(free: checkpoint_every, eval_every, eval_episodes; iterations may grow)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(tr)
    tr.set_defaults(func=_one_line_errors(_train))
    helptext = "evaluate a trained run (RUN/eval.json)"
    ev = subparsers.add_parser("evaluate", help=helptext, description=helptext)
    ev.add_argument("run", help="the run folder (with checkpoint.safetensors)")
    ev.add_argument("--episodes", type=int, default=128)
    ev.add_argument("--out", default=None, help="where eval.json goes (default: the run)")
    ev.add_argument("--config", default=None, help="ignored: the run's config is used")
    _common(ev)
    ev.set_defaults(func=_one_line_errors(_evaluate))


def add_subparsers(subparsers: Any) -> None:
    """Register ``dxmi mate {train,evaluate}`` on the ``dxmi`` parser."""
    app = subparsers.add_parser("mate", help="MATE or a baseline memory on a contextual task: train, evaluate",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbs(app.add_subparsers(dest="mate_command", required=True, metavar="ACTION"))


#: ``python -m dxmi.mate``'s old spellings
RENAMED = {"mate-train": ("train",), "mate-evaluate": ("evaluate",)}


def main(argv: list[str] | None = None) -> int:
    from dxmi.cli.aliases import rewrite

    prog = "python -m dxmi.mate"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbs(parser.add_subparsers(dest="command", required=True, metavar="ACTION"))
    args = parser.parse_args(rewrite(sys.argv[1:] if argv is None else argv, prog, RENAMED, valued=()))
    return int(args.func(args))
