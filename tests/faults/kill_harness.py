"""Kill-and-resume harness: tiny runs of five kinds, killed with SIGKILL and resumed by the same command.

Used by ``tests/faults/test_kills.py`` and ``benchmarks/faults.py``. A run is a child process
(this file run as a script) that calls ``dxmi.cli.main.main(argv)``, exactly what ``python -m dxmi``
does, after wrapping ``os.replace`` (the rename that ends every atomic write of the package) so that

- each rename is recorded in a trace file (when it happened and what it renamed), and
- optionally the process kills itself with SIGKILL at its K-th rename: ``rename`` mode right before it
  (the temporary file complete, not yet in place), ``partial`` mode after cutting the temporary file
  to half its size (a kill in the middle of writing it).

The parent kills children at random moments (``time`` mode: a SIGKILL from outside, at a time drawn
over the part of the run where checkpoints are written) or lets them kill themselves (the modes
above), runs the same command again until it exits 0, and compares the run folder with an
uninterrupted run of the same command: the final checkpoints byte for byte (every tensor and the
metadata), the metrics logs row by row (each step exactly once, the same values; wall-clock columns
aside), and no temporary file left.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
#: columns of a metrics log that hold wall-clock times (they differ between any two runs)
CLOCK_COLUMNS = ("seconds",)
MODES = ("time", "rename", "partial")


# -- the five kinds of run -------------------------------------------------------------------------
def _sets(*items: str) -> list[str]:
    return [a for s in items for a in ("--set", s)]


DXMI_TINY = ("pretrain.steps=24", "pretrain.batch_size=64", "pretrain.net.hidden=32", "pretrain.net.depth=2",
             "train.iterations=12", "train.algo.batch_size=32", "sampler.value_net.hidden=16",
             "sampler.value_net.depth=2", "sampler.energy_net.hidden=16", "sampler.energy_net.depth=2",
             "tensorboard=false", "ckpt_every=1", "log_every=1", "eval.n_samples=200")


@dataclass(frozen=True)
class Kind:
    """One kind of run: its command (given the run folder and a folder of input files), the files
    that hold its final parameters, and its metrics logs (file, step column)."""

    name: str
    argv: Callable[[Path, Path], list[str]]
    checkpoints: tuple[str, ...]
    logs: tuple[tuple[str, str], ...]
    setup: Callable[[Path], None] = lambda data: None


def _anomaly_data(data: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)) @ np.diag([1.0, 2.0, 0.5, 3.0]) + np.array([1.0, -2.0, 0.0, 5.0])
    np.save(data / "normal.npy", x.astype(np.float32))


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("pretrain", lambda run, data: ["pretrain", "--out", str(run), "--no-progress", *_sets(*DXMI_TINY)],
         ("pretrain/checkpoints/last.safetensors",), (("pretrain/metrics.csv", "step"),)),
    Kind("train", lambda run, data: ["train", "--out", str(run), "--no-progress", *_sets(*DXMI_TINY)],
         ("pretrain/checkpoints/last.safetensors", "train/checkpoints/last.safetensors"),
         (("pretrain/metrics.csv", "step"), ("train/metrics.csv", "step"))),
    Kind("vgs", lambda run, data: ["vgs", "train", "--target", "gmm", "--out", str(run), "--no-progress",
                                   "--ckpt-every", "1", "--log-every", "1",
                                   *_sets("iterations=16", "num_steps=5", "batch_size=32", "net.hidden=32",
                                          "net.depth=2", "net.time_dim=16")],
         ("checkpoints/last.safetensors",), (("metrics.csv", "step"),)),
    Kind("anomaly", lambda run, data: ["anomaly", "fit", "--data", str(data / "normal.npy"), "--out", str(run),
                                       "--resume", "--no-progress",
                                       *_sets("iterations=20", "batch_size=32", "hidden=32", "depth=2",
                                              "sampler_hidden=16", "pretrain_iterations=6", "pretrain_hidden=16",
                                              "pretrain_batch_size=32", "diffusion_steps=50")],
         ("model.safetensors", "train/checkpoints/last.safetensors", "train/pretrain/checkpoints/last.safetensors"),
         (("train/metrics.csv", "step"), ("train/pretrain/metrics.csv", "step")), _anomaly_data),
    Kind("mate", lambda run, data: ["mate", "train", "--config", "tmaze", "--out", str(run), "--resume", "--quiet",
                                    *_sets("iterations=8", "num_envs=4", "batch_episodes=8", "width=16",
                                           "agent.hidden=16", "env.length=4", "warmup_iterations=1",
                                           "eval_every=1", "eval_episodes=4", "checkpoint_every=1",
                                           "replay_capacity=64")],
         ("checkpoint.safetensors",), (("log.csv", "iteration"),)),
)}


# -- the child process -------------------------------------------------------------------------------
def _child(argv: list[str]) -> int:
    """``[--trace FILE] [--kill-at K --mode rename|partial] -- DXMI ARGS``: run the dxmi CLI with the
    rename hook."""
    sep = argv.index("--")
    opts, dxmi_args = argv[:sep], argv[sep + 1:]
    trace = kill_at = mode = None
    for i in range(0, len(opts), 2):
        if opts[i] == "--trace":
            trace = opts[i + 1]
        elif opts[i] == "--kill-at":
            kill_at = int(opts[i + 1])
        elif opts[i] == "--mode":
            mode = opts[i + 1]
    real_replace = os.replace
    count = [0]

    def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        count[0] += 1
        if kill_at is not None and count[0] == kill_at:
            if mode == "partial" and os.path.isfile(src):
                with open(src, "r+b") as f:
                    f.truncate(os.path.getsize(src) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst, *a, **k)
        if trace is not None:
            with open(trace, "a") as f:
                f.write(f"{time.time():.6f}\t{os.fspath(dst)}\n")

    os.replace = replace  # type: ignore[assignment]
    from dxmi.cli.main import main

    return main(dxmi_args)


@dataclass
class ChildResult:
    returncode: int
    killed: bool
    seconds: float
    renames: list[tuple[float, str]]  # (seconds since the start, target)
    stderr: str


def run_child(argv: list[str], workdir: Path, kill_after: float | None = None, kill_at: int | None = None,
              mode: str = "rename", timeout: float = 600.0) -> ChildResult:
    """Run ``dxmi argv`` in a child process; SIGKILL it after ``kill_after`` seconds, or let it kill
    itself at its ``kill_at``-th rename (``mode``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    trace = workdir / f"trace_{time.time_ns()}.txt"
    cmd = [sys.executable, str(HERE), "--trace", str(trace)]
    if kill_at is not None:
        cmd += ["--kill-at", str(kill_at), "--mode", mode]
    cmd += ["--", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.time()
    with open(workdir / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        killed = False
        try:
            proc.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                proc.kill()
                proc.wait()
                raise
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
        seconds = time.time() - t0
        err.seek(0)
        stderr = err.read()
    renames = []
    if trace.is_file():
        for line in trace.read_text().splitlines():
            t, _, target = line.partition("\t")
            renames.append((float(t) - t0, target))
        trace.unlink()
    killed = killed or proc.returncode == -signal.SIGKILL
    return ChildResult(proc.returncode, killed, seconds, renames, stderr)


# -- comparisons ---------------------------------------------------------------------------------------
def file_state(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of a safetensors file."""
    from dxmi.io import load_safetensors

    return load_safetensors(path, "checkpoint")


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two safetensors files: tensor names, dtypes, shapes, any bit of a value,
    the metadata. Empty: identical."""
    import torch

    ta, ma = file_state(a)
    tb, mb = file_state(b)
    out = []
    for k in sorted(set(ta) | set(tb)):
        if k not in ta or k not in tb:
            out.append(f"{k}: only in {'the reference' if k in ta else 'the resumed run'}")
        elif ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape:
            out.append(f"{k}: {ta[k].dtype}{tuple(ta[k].shape)} vs {tb[k].dtype}{tuple(tb[k].shape)}")
        elif not torch.equal(ta[k].view(torch.uint8) if ta[k].dim() else ta[k].reshape(1).view(torch.uint8),
                             tb[k].view(torch.uint8) if tb[k].dim() else tb[k].reshape(1).view(torch.uint8)):
            out.append(f"{k}: values differ")
    for k in sorted(set(ma) | set(mb)):
        if ma.get(k) != mb.get(k):
            out.append(f"metadata {k} differs")
    return out


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class LogCheck:
    rows_lost: int = 0
    rows_repeated: int = 0
    rows_differ: int = 0
    detail: list[str] = field(default_factory=list)


def compare_logs(ref: Path, got: Path, step_column: str) -> LogCheck:
    """Every row of the reference log exactly once in ``got``, with the same values (clock columns aside)."""
    ref_rows, got_rows = read_log(ref), read_log(got)
    check = LogCheck()

    def key(r: dict[str, str]) -> int:
        return int(float(r[step_column]))

    seen: dict[int, int] = {}
    for r in got_rows:
        seen[key(r)] = seen.get(key(r), 0) + 1
    check.rows_repeated = sum(n - 1 for n in seen.values())
    by_step = {key(r): r for r in got_rows}
    for r in ref_rows:
        s = key(r)
        if s not in by_step:
            check.rows_lost += 1
            continue
        g = by_step[s]
        diff = [c for c in set(r) | set(g) if c not in CLOCK_COLUMNS and r.get(c) != g.get(c)]
        if diff:
            check.rows_differ += 1
            check.detail.append(f"{got.name} step {s}: {sorted(diff)[:4]} differ")
    extra = set(seen) - {key(r) for r in ref_rows}
    if extra:
        check.rows_repeated += len(extra)
        check.detail.append(f"{got.name}: steps {sorted(extra)[:5]} not in the reference")
    if check.rows_lost:
        check.detail.append(f"{got.name}: {check.rows_lost} rows lost")
    if check.rows_repeated:
        check.detail.append(f"{got.name}: {check.rows_repeated} rows repeated")
    return check


def temporary_files(run: Path) -> list[Path]:
    """Temporary files under a run folder (``*.tmp``: an atomic write's leftovers)."""
    return sorted(p for p in run.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or ".tmp." in p.name))


# -- reference runs and kill episodes --------------------------------------------------------------------
@dataclass
class Reference:
    kind: Kind
    run: Path
    data: Path
    seconds: float
    renames: list[tuple[float, str]]

    @property
    def window(self) -> tuple[float, float]:
        """From the first rename (training has started) to the end of the run, in seconds from the start."""
        first = self.renames[0][0] if self.renames else 0.0
        return first, max(self.seconds, first + 1e-3)


def make_reference(kind: Kind, workdir: Path) -> Reference:
    """An uninterrupted run of ``kind`` in ``workdir/reference`` (inputs in ``workdir/data``)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    kind.setup(data)
    run = workdir / "reference"
    if run.exists():
        shutil.rmtree(run)
    res = run_child(kind.argv(run, data), workdir / "logs_reference")
    if res.returncode != 0:
        raise RuntimeError(f"the reference run of {kind.name} failed ({res.returncode}): {res.stderr[-2000:]}")
    return Reference(kind, run, data, res.seconds, res.renames)


@dataclass
class Episode:
    """One run killed ``kills`` times and resumed to the end, compared with the reference."""

    kind: str
    kills: int = 0
    modes: list[str] = field(default_factory=list)
    runs: int = 0
    identical: bool = False
    differences: list[str] = field(default_factory=list)
    rows_lost: int = 0
    rows_repeated: int = 0
    rows_differ: int = 0
    tmp_left: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # a run that exited non-zero without being killed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.identical and not (self.rows_lost or self.rows_repeated or self.rows_differ)
                and not self.tmp_left and not self.failures)

    def summary(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items()}, default=str)


def kill_episode(ref: Reference, workdir: Path, rng: random.Random, kills: int = 1,
                 modes: tuple[str, ...] = MODES, max_runs: int = 30) -> Episode:
    """Start the run, SIGKILL it at a random moment ``kills`` times (each time the same command
    resumes it), then run the same command until it exits 0; compare with the reference."""
    ep = Episode(ref.kind.name)
    run = workdir / "run"
    if run.exists():
        shutil.rmtree(run)
    argv = ref.kind.argv(run, ref.data)
    total = max(1, len(ref.renames))
    done = 0  # renames done by the killed runs so far (an estimate of the progress)
    t_start = time.time()
    attempts = 0
    while ep.kills < kills and attempts < 3 * kills + 3:
        attempts += 1
        mode = rng.choice(modes)
        remaining = max(1, total - done)
        if mode == "time":
            lo, hi = ref.window
            frac = remaining / total  # a resumed run has less left to do
            res = run_child(argv, workdir / "logs", kill_after=lo + rng.random() * (hi - lo) * frac)
        else:
            res = run_child(argv, workdir / "logs", kill_at=rng.randint(1, remaining), mode=mode)
        ep.runs += 1
        done += len(res.renames)
        if res.killed:
            ep.kills += 1
            ep.modes.append(mode)
        elif res.returncode != 0:
            ep.failures.append(f"exit {res.returncode}: {res.stderr.strip()[-600:]}")
            break
        else:
            break  # finished before the moment came
    while not ep.failures and ep.runs < max_runs:
        res = run_child(argv, workdir / "logs")
        ep.runs += 1
        if res.returncode == 0:
            break
        ep.failures.append(f"exit {res.returncode}: {res.stderr.strip()[-600:]}")
    ep.seconds = time.time() - t_start
    if not ep.failures:
        compare_run(ref, run, ep)
    return ep


def compare_run(ref: Reference, run: Path, ep: Episode) -> Episode:
    """Fill ``ep``'s comparison of the finished run folder ``run`` with the reference: the final
    checkpoints byte for byte, the logs row by row, no temporary file."""
    for rel in ref.kind.checkpoints:
        if not (ref.run / rel).is_file():
            continue
        if not (run / rel).is_file():
            ep.differences.append(f"{rel}: missing")
            continue
        ep.differences += [f"{rel}: {d}" for d in differences(ref.run / rel, run / rel)]
    ep.identical = not ep.differences
    for rel, step in ref.kind.logs:
        c = compare_logs(ref.run / rel, run / rel, step)
        ep.rows_lost += c.rows_lost
        ep.rows_repeated += c.rows_repeated
        ep.rows_differ += c.rows_differ
        ep.differences += c.detail
    ep.tmp_left = [str(p.relative_to(run)) for p in temporary_files(run)]
    return ep


def log_steps_once(ref: Reference) -> list[str]:
    """Problems of the reference's own logs: every step from 1 up, once (a run that was never killed)."""
    problems = []
    for rel, step in ref.kind.logs:
        steps = [int(float(r[step])) for r in read_log(ref.run / rel)]
        if steps != sorted(set(steps)):
            problems.append(f"{rel}: steps repeated or out of order")
    return problems



if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
