"""Seconds per training iteration of this tree against a baseline revision, and the quality after.

    python benchmarks/speed.py --quick --out results/speed_quick.json      # < 15 min on the 2-core CPU
    python benchmarks/speed.py --out results/speed_full.json --baseline 0421edc

Cases (one training iteration each):

- ``dxmi_2d``: DxMI on the 8gaussians preset (T = 4, B = 1024, 128 x 3 MLPs), from a DDPM pretrained
  here with the preset's settings; quality: sliced Wasserstein (``sw``) and Sinkhorn of the EMA
  sampler's samples to a held-out draw of the data.
- ``vgs_gmm``: VGS on the GMM quick setting of ``benchmarks/vgs.py`` (its ``vgs`` row: the quick
  reductions plus TD(lambda)); quality: Sinkhorn and SW of an evaluation rollout to exact samples.
- ``dxmi_digits``: image DxMI on the digits preset (small UNet, T = 10, B = 128), from a DDPM
  pretrained here; timed after the preset's sampler warm-up; quality: FD in the features of a
  classifier trained on the digits (one classifier scores every variant).
- ``anomaly_fit``: the DxMI anomaly detector's fit (its defaults, 500 iterations) on a tabular set of
  the shared ADBench data; the fit is paused every ``chunk`` iterations so that the variants take
  turns; quality: test AUROC of the fitted detector (ADBench's semi-supervised split, seed 0).

Variants: ``baseline`` (the ``--baseline`` revision, checked out as a git worktree under the
temporary folder and imported from its ``src``), ``current`` (this tree, default settings) and
``fast`` (this tree with the speed options of the case, listed in ``options``; they change the
numbers, so their quality is reported beside the others). Each variant is its own worker process
with one torch thread; the parent runs the same number of iterations in each in turn (A B C, B C A,
...), so every variant sees the same machine load, and only one process computes at a time.
``*_s`` is the median over rounds of the seconds per iteration, ``speedup`` = baseline / current,
``fast_speedup`` = baseline / fast; ``*_paired`` are the medians of the ratios round by round, which
hold when the machine's speed drifts. Quality is scored after the timed iterations, by this tree's
metric code, for every variant alike (samples drawn with the same seed).

``scaling``: this tree's seconds per iteration of ``dxmi_2d`` (default settings and fast options) as B
doubles (256 .. 4096, T = 4) and as T grows (4, 10, 20, 50; B = 1024).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import write_json

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "0421edc"
FLAG = "@@ "  # prefix of a worker's protocol lines (anything else it prints is passed through)

#: The speed options each case's ``fast`` variant sets (default off; see DxMIConfig / VGSConfig).
#: 2D: batched TD on B transitions drawn from the T * B (td_sample = B = 1024). Over the preset's 1000
#: iterations (benchmarks/speed.py --cases dxmi_2d --extra, results/speed_2d_full.json) it kept the
#: quality: SW 0.077 against the baseline's 0.083 (0.072 with every transition, td_sample = 0).
FAST_2D = ["train.algo.td_batched=true", "train.algo.td_sample=1024", "train.algo.split_cost_to_go=true",
           "train.algo.dedup_times=true", "train.algo.fused_adam=true"]
FAST: dict[str, list[str]] = {
    "dxmi_2d": FAST_2D,
    "vgs_gmm": ["fused_adam=true", "net.dedup_times=true"],
    "dxmi_digits": ["train.algo.fused_adam=true", "train.algo.channels_last=true"],
    "anomaly_fit": ["fast_training=true"],
}
#: more variants of a case, run with ``--extra`` (name -> options on top of the case's settings)
EXTRA: dict[str, dict[str, list[str]]] = {
    "dxmi_2d": {"fast_all_transitions": [o for o in FAST_2D if not o.startswith("train.algo.td_sample")]},
}
#: quick / full plans per case: rounds, iterations per round, untimed iterations first, evaluation size
PLANS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "dxmi_2d": {"rounds": 6, "chunk": 10, "warmup": 2, "n_eval": 5000},
        "vgs_gmm": {"rounds": 6, "chunk": 20, "warmup": 2, "n_eval": 2000},
        "dxmi_digits": {"rounds": 8, "chunk": 2, "warmup": 30, "n_eval": 500, "pretrain_steps": 400},
        "anomaly_fit": {"rounds": 10, "chunk": 50, "datasets": ["cardio"]},
        "scaling": {"iterations": 5, "batch": [256, 512, 1024, 2048, 4096], "steps": [4, 10, 20, 50]},
    },
    "full": {
        "dxmi_2d": {"rounds": 10, "chunk": 100, "warmup": 0, "n_eval": 20000},
        "vgs_gmm": {"rounds": 10, "chunk": 80, "warmup": 0, "n_eval": 2000},
        "dxmi_digits": {"rounds": 9, "chunk": 30, "warmup": 30, "n_eval": 1000, "pretrain_steps": 1000},
        "anomaly_fit": {"rounds": 10, "chunk": 50, "datasets": ["cardio", "thyroid", "Pima", "vowels", "WBC",
                                                                 "Ionosphere"]},
        "scaling": {"iterations": 9, "batch": [256, 512, 1024, 2048, 4096], "steps": [4, 10, 20, 50]},
    },
}
#: a few seconds of everything (checks that the script runs; not for figures)
PLANS["smoke"] = {
    "dxmi_2d": {"rounds": 2, "chunk": 2, "warmup": 1, "n_eval": 500, "pretrain_steps": 20},
    "vgs_gmm": {"rounds": 2, "chunk": 2, "warmup": 1, "n_eval": 500},
    "dxmi_digits": {"rounds": 2, "chunk": 1, "warmup": 1, "n_eval": 100, "pretrain_steps": 5,
                    "classifier_steps": 5},
    "anomaly_fit": {"rounds": 0, "chunk": 250, "datasets": ["WBC"]},
    "scaling": {"iterations": 1, "batch": [256, 512], "steps": [4, 10]},
}
CASES = ["dxmi_2d", "vgs_gmm", "dxmi_digits", "anomaly_fit"]


def one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


# -- workers (run under either revision: only API both have) ----------------------------------------
def send(msg: dict[str, Any]) -> None:
    sys.stdout.write(FLAG + json.dumps(msg) + "\n")
    sys.stdout.flush()


def receive() -> dict[str, Any]:
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(0)  # the parent is gone
    return json.loads(line)  # type: ignore[no-any-return]


class RunCase:
    """DxMI from a preset (``dxmi_2d``, ``dxmi_digits``) over a DDPM pretrained by the parent."""

    def __init__(self, spec: dict[str, Any]):
        import torch

        from dxmi.config import load_config
        from dxmi.data.sources import data_source
        from dxmi.experiment import build_algorithm, build_base_model, build_dataset, data_shape, make_generator

        seed = spec["seed"]
        cfg = load_config(spec["preset"], ["progress=false", "tensorboard=false", f"seed={seed}",
                                           f"out={spec['workdir']}", *spec["overrides"]])
        dataset = build_dataset(cfg)
        model = build_base_model(cfg, data_shape(dataset))
        model.load_state_dict(torch.load(spec["pretrained"]))
        self.algo = build_algorithm(cfg, model, make_generator(cfg.device, seed + 2))
        self.source = data_source(dataset, 0)
        self.data_generator = torch.Generator().manual_seed(seed + 3)
        self.batch_size = cfg.train.algo.batch_size
        self.seed = seed

    def run(self, n: int) -> None:
        for _ in range(n):
            self.algo.update(self.source(self.batch_size, self.data_generator))

    def dump(self, path: str, n: int) -> None:
        import torch

        with torch.no_grad():
            x = self.algo.sampling_policy.sample(n, torch.Generator().manual_seed(20_000 + self.seed))
        torch.save(x.detach().cpu().contiguous(), path)


class VGSCase:
    def __init__(self, spec: dict[str, Any]):
        from dxmi.algorithms.vgs import VGS, make_config
        from dxmi.targets import make_target

        self.seed = spec["seed"]
        self.algo = VGS(make_target("gmm"), make_config("gmm", [*spec["overrides"], f"seed={self.seed}"]))

    def run(self, n: int) -> None:
        for _ in range(n):
            self.algo.update(None)

    def dump(self, path: str, n: int) -> None:
        import torch

        roll = self.algo.eval_rollout(n, torch.Generator().manual_seed(self.seed + 2))
        torch.save(roll.samples.detach().cpu().contiguous(), path)


def anomaly_worker(spec: dict[str, Any]) -> None:
    """Fit the DxMI detector in chunks: ``fit`` starts it and is answered with the setup seconds when
    the first update is due; each ``run`` then runs ``chunk`` updates (the training loop's own work
    between them included; the last chunk also the end of the fit) and is answered with their seconds."""
    import numpy as np

    from dxmi.anomaly import make_detector

    data = np.load(spec["data"])
    det = make_detector("dxmi", seed=spec["seed"], **spec["options"])
    chunk = spec["chunk"]
    state: dict[str, Any] = {"count": 0, "t0": 0.0, "start": 0.0}
    build = det.build_algorithm

    def build_algorithm(*args: Any, **kwargs: Any) -> Any:
        algo = build(*args, **kwargs)
        update = algo.update

        def paced_update(batch: Any) -> Any:
            if state["count"] % chunk == 0:
                now = time.perf_counter()
                send({"seconds": now - state["t0"]} if state["count"] else {"setup": now - state["start"]})
                if receive()["op"] != "run":
                    raise SystemExit("anomaly worker: expected 'run'")
                state["t0"] = time.perf_counter()
            state["count"] += 1
            return update(batch)

        algo.update = paced_update
        return algo

    det.build_algorithm = build_algorithm
    send({"ready": True, "dxmi": _dxmi_file()})
    if receive()["op"] != "fit":
        raise SystemExit("anomaly worker: expected 'fit'")
    state["start"] = time.perf_counter()
    det.fit(data["x_train"])
    send({"seconds": time.perf_counter() - state["t0"], "iterations": state["count"]})
    while True:
        cmd = receive()
        if cmd["op"] != "dump":
            return
        np.save(cmd["path"], np.asarray(det.decision_function(data["x_test"]), dtype=np.float64))
        send({"done": True})


def _dxmi_file() -> str:
    import dxmi

    return str(Path(dxmi.__file__).resolve())


def worker_main(spec: dict[str, Any]) -> None:
    one_thread()
    import warnings

    warnings.filterwarnings("ignore")
    if spec["case"] == "anomaly_fit":
        anomaly_worker(spec)
        return
    if spec["case"] == "scaling":
        scaling_worker(spec)
        return
    case: RunCase | VGSCase = VGSCase(spec) if spec["case"] == "vgs_gmm" else RunCase(spec)
    send({"ready": True, "dxmi": _dxmi_file()})
    while True:
        cmd = receive()
        if cmd["op"] == "run":
            t0 = time.perf_counter()
            case.run(cmd["n"])
            send({"seconds": time.perf_counter() - t0})
        elif cmd["op"] == "dump":
            case.dump(cmd["path"], cmd["n"])
            send({"done": True})
        else:
            return


def scaling_worker(spec: dict[str, Any]) -> None:
    """Seconds per iteration of dxmi_2d (this tree) for each (B, T) of the spec, with default settings
    and with the speed options: the two take turns iteration by iteration (medians)."""
    send({"ready": True, "dxmi": _dxmi_file()})
    rows = []
    for row in spec["rows"]:
        size = [f"train.algo.batch_size={row['B']}", f"sampler.num_steps={row['T']}"]
        cases = {label: RunCase({**spec, "overrides": [*size, *opts]}) for label, opts in spec["variants"].items()}
        times: dict[str, list[float]] = {label: [] for label in cases}
        for case in cases.values():
            case.run(1)  # warm-up
        for _ in range(spec["iterations"]):
            for label, case in cases.items():
                t0 = time.perf_counter()
                case.run(1)
                times[label].append(time.perf_counter() - t0)
        rec = {**row, **{f"{label}_s": statistics.median(ts) for label, ts in times.items()}}
        rec["fast_speedup"] = statistics.median([d / f for d, f in zip(times["default"], times["fast"])])
        rows.append(rec)
    send({"rows": rows})


# -- the parent ------------------------------------------------------------------------------------
class Worker:
    """One variant's worker process; ``call`` sends a command and returns its reply."""

    def __init__(self, name: str, spec: dict[str, Any], src: Path):
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        self.name = name
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
        ready = self.read()
        expected = (src / "dxmi" / "__init__.py").resolve()
        if Path(ready["dxmi"]) != expected:
            self.close()
            raise RuntimeError(f"worker {name} imported {ready['dxmi']}, not {expected}")

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker {self.name} exited (code {self.proc.wait()})")
            if line.startswith(FLAG):
                return json.loads(line[len(FLAG):])  # type: ignore[no-any-return]
            sys.stderr.write(f"[{self.name}] {line}")

    def write(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.write(cmd)
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.write({"op": "quit"})
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def baseline_tree(rev: str) -> Path:
    """A git worktree of ``rev`` under the temporary folder (made once, then reused)."""
    full = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"dxmi_base_{full[:12]}"
    if path.is_dir():
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()
        if head == full:
            return path
        raise RuntimeError(f"{path} exists but is not a checkout of {full}; remove it (git worktree remove)")
    subprocess.run(["git", "worktree", "add", "--detach", str(path), full], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    return path


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def race(specs: dict[str, tuple[dict[str, Any], Path]], rounds: int, chunk: int, warmup: int, log: str,
         start: dict[str, Any] | None = None) -> tuple[dict[str, list[float]], dict[str, Worker], dict[str, Any]]:
    """Start the variants' workers one after the other (each sends ``start``, or runs ``warmup`` untimed
    iterations), then run ``rounds`` rounds of ``chunk`` iterations in turn; returns the seconds per
    iteration of each round, the live workers and the replies to ``start``."""
    workers: dict[str, Worker] = {}
    started: dict[str, Any] = {}
    try:
        for name, (spec, src) in specs.items():
            workers[name] = Worker(name, spec, src)
            if start is not None:
                started[name] = workers[name].call(start)
            elif warmup:
                workers[name].call({"op": "run", "n": warmup})
        names = list(workers)
        per: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                per[name].append(workers[name].call({"op": "run", "n": chunk})["seconds"] / chunk)
            print(f"  {log} round {r + 1}/{rounds}: " + ", ".join(f"{n} {per[n][-1]:.4f}s" for n in names),
                  flush=True)
        return per, workers, started
    except BaseException:
        for w in workers.values():
            w.close()
        raise


def summarise(per: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = per["baseline"]
    for name, xs in per.items():
        out[f"{name}_s"] = median(xs)
    for name in per:
        if name == "baseline":
            continue
        key = "speedup" if name == "current" else f"{name}_speedup"
        out[key] = out["baseline_s"] / out[f"{name}_s"]
        out[f"{key}_paired"] = median([b / x for b, x in zip(base, per[name])])
    out["rounds"] = len(base)
    return out


def variants(case: str, base_src: Path, spec: dict[str, Any], base_overrides: list[str],
             extra: bool = False) -> dict[str, tuple[dict[str, Any], Path]]:
    """baseline, current and fast (and with ``extra`` the case's :data:`EXTRA` variants)."""
    cur = ROOT / "src"
    out = {"baseline": ({**spec, "overrides": base_overrides}, base_src),
           "current": ({**spec, "overrides": base_overrides}, cur),
           "fast": ({**spec, "overrides": [*base_overrides, *FAST[case]]}, cur)}
    for name, opts in (EXTRA.get(case, {}) if extra else {}).items():
        out[name] = ({**spec, "overrides": [*base_overrides, *opts]}, cur)
    return out


def pretrain(preset: str, steps: int | None, seed: int, path: Path, log: str) -> float:
    """The preset's DDPM (EMA weights when it keeps them) trained here, saved as a state dict."""
    import torch

    from dxmi.algorithms import DDPMTraining
    from dxmi.config import load_config
    from dxmi.data.sources import data_source
    from dxmi.experiment import build_base_model, build_dataset, data_shape

    cfg = load_config(preset, [f"seed={seed}"])
    steps = cfg.pretrain.steps if steps is None else steps
    dataset = build_dataset(cfg)
    torch.manual_seed(seed)
    model = build_base_model(cfg, data_shape(dataset))
    algo = DDPMTraining(model, lr=cfg.pretrain.lr, generator=torch.Generator().manual_seed(seed + 1),
                        lr_decay_steps=steps, ema=cfg.pretrain.ema)
    source, g = data_source(dataset, 0), torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        algo.update(source(cfg.pretrain.batch_size, g))
    torch.save((algo.ema_model or model).state_dict(), path)
    print(f"  {log}: pretrained {steps} steps in {time.perf_counter() - t0:.0f}s", flush=True)
    return steps


def dump_all(workers: dict[str, Worker], work: Path, n: int, suffix: str = ".pt") -> dict[str, Path]:
    paths = {}
    for name, w in workers.items():
        paths[name] = work / f"{name}_samples{suffix}"
        w.call({"op": "dump", "path": str(paths[name]), "n": n})
        w.close()
    return paths


def case_dxmi_2d(plan: dict[str, Any], base_src: Path, work: Path, seed: int) -> dict[str, Any]:
    import torch

    from dxmi import metrics as M
    from dxmi.config import load_config
    from dxmi.experiment import build_dataset

    ckpt = work / "ddpm_8gaussians.pt"
    pre_steps = pretrain("8gaussians", plan.get("pretrain_steps"), seed, ckpt, "dxmi_2d")
    spec = {"case": "dxmi_2d", "preset": "8gaussians", "pretrained": str(ckpt), "seed": seed,
            "workdir": str(work / "run2d")}
    per, workers, _ = race(variants("dxmi_2d", base_src, spec, [], plan.get("extra", False)), plan["rounds"],
                           plan["chunk"], plan["warmup"], "dxmi_2d")
    paths = dump_all(workers, work, plan["n_eval"])
    dataset = build_dataset(load_config("8gaussians", [f"seed={seed}"]))
    ref = dataset.sample(plan["n_eval"], torch.Generator().manual_seed(10_000 + seed))
    out = summarise(per)
    for name, p in paths.items():
        x = torch.load(p)
        out[f"{name}_quality"] = M.sliced_wasserstein(x, ref, generator=torch.Generator().manual_seed(seed))
        out[f"{name}_sinkhorn"] = M.sinkhorn(x[:500], ref[:500], reg=0.05, log_domain=False)
    out.update(quality_metric="sw (lower is better)", iterations=plan["warmup"] + plan["rounds"] * plan["chunk"],
               pretrain_steps=pre_steps, n_eval=plan["n_eval"])
    return out


def vgs_setting() -> list[str]:
    """The GMM quick setting of ``benchmarks/vgs.py`` (its ``vgs`` row)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import vgs as vgs_bench

    return [*vgs_bench.QUICK["gmm"], *vgs_bench.OURS["gmm"]]


def case_vgs_gmm(plan: dict[str, Any], base_src: Path, work: Path, seed: int) -> dict[str, Any]:
    import torch

    from dxmi import metrics as M
    from dxmi.metrics import synthetic_metrics
    from dxmi.targets import make_target

    setting = vgs_setting()
    spec = {"case": "vgs_gmm", "seed": seed}
    per, workers, _ = race(variants("vgs_gmm", base_src, spec, setting), plan["rounds"], plan["chunk"], plan["warmup"],
                        "vgs_gmm")
    paths = dump_all(workers, work, plan["n_eval"])
    target = make_target("gmm")
    ref = target.sample(plan["n_eval"], torch.Generator().manual_seed(seed + 1))
    out = summarise(per)
    for name, p in paths.items():
        x = torch.load(p)
        out[f"{name}_quality"] = synthetic_metrics(x, ref, target).sinkhorn
        out[f"{name}_sw"] = M.sliced_wasserstein(x, ref, generator=torch.Generator().manual_seed(seed))
    out.update(quality_metric="sinkhorn (lower is better)", iterations=plan["warmup"] + plan["rounds"] * plan["chunk"],
               n_eval=plan["n_eval"])
    return out


def case_dxmi_digits(plan: dict[str, Any], base_src: Path, work: Path, seed: int) -> dict[str, Any]:
    import torch

    from dxmi.config import load_config
    from dxmi.experiment import build_dataset
    from dxmi.metrics.classifier import ClassifierFeatureMetrics, load_or_train_classifier

    cfg = load_config("digits", [f"seed={seed}"])
    ckpt = work / "ddpm_digits.pt"
    pre_steps = pretrain("digits", plan["pretrain_steps"], seed, ckpt, "dxmi_digits")
    spec = {"case": "dxmi_digits", "preset": "digits", "pretrained": str(ckpt), "seed": seed,
            "workdir": str(work / "run_digits")}
    # the preset's first sampler_warmup (30) iterations (energy and value only) run untimed: the timed
    # ones are whole iterations
    per, workers, _ = race(variants("dxmi_digits", base_src, spec, []), plan["rounds"], plan["chunk"],
                           plan["warmup"], "dxmi_digits")
    paths = dump_all(workers, work, plan["n_eval"])
    dataset = build_dataset(cfg)
    clf, _ = load_or_train_classifier(work / "classifier.safetensors", dataset.images, dataset.labels, seed=seed,
                                      steps=plan.get("classifier_steps", cfg.eval.classifier_steps))
    metric = ClassifierFeatureMetrics(clf, dataset.images)
    out = summarise(per)
    for name, p in paths.items():
        out[f"{name}_quality"] = float(metric(torch.load(p)).fd)
    out.update(quality_metric="fd (lower is better)", pretrain_steps=pre_steps,
               iterations=plan["warmup"] + plan["rounds"] * plan["chunk"], n_eval=plan["n_eval"])
    return out


def case_anomaly(plan: dict[str, Any], base_src: Path, work: Path, seed: int) -> dict[str, Any]:
    import numpy as np

    from dxmi.anomaly.data import find_adbench, load_labelled, semi_supervised_split
    from dxmi.anomaly.detector import DxMIDetectorConfig
    from dxmi.metrics.anomaly import auroc

    iterations = DxMIDetectorConfig().iterations
    rounds = iterations // plan["chunk"]
    results: dict[str, Any] = {}
    for name in plan["datasets"]:
        x, y = load_labelled(find_adbench([name])[name])
        assert y is not None
        split = semi_supervised_split(x, y, seed, name)
        data = work / f"{name}.npz"
        np.savez(data, x_train=split.x_train, x_test=split.x_test)
        spec = {"case": "anomaly_fit", "seed": seed, "data": str(data), "chunk": plan["chunk"]}
        fast = {k: json.loads(v) for k, v in (o.split("=", 1) for o in FAST["anomaly_fit"])}
        specs = {"baseline": ({**spec, "options": {}}, base_src), "current": ({**spec, "options": {}}, ROOT / "src"),
                 "fast": ({**spec, "options": fast}, ROOT / "src")}
        per, workers, started = race(specs, rounds, plan["chunk"], 0, f"anomaly_fit {name}", start={"op": "fit"})
        scores = {}
        try:
            for v, w in workers.items():
                path = work / f"{name}_{v}_scores.npy"
                w.call({"op": "dump", "path": str(path)})
                scores[v] = np.load(path)
        finally:
            for w in workers.values():
                w.close()
        setup = {v: r["setup"] for v, r in started.items()}
        row = summarise(per)
        for v in workers:
            row[f"{v}_quality"] = auroc(scores[v], split.y_test)
            row[f"{v}_fit_s"] = setup[v] + sum(per[v]) * plan["chunk"]
        results[name] = row
    if len(results) == 1:
        (name, row), = results.items()
        return {**row, "dataset": name, "quality_metric": "auroc (higher is better)", "iterations": iterations}
    rows = list(results.values())
    out: dict[str, Any] = {k: median([r[k] for r in rows]) for k in rows[0] if k.endswith(("_s", "speedup",
                                                                                         "_paired"))}
    for v in ("baseline", "current", "fast"):
        out[f"{v}_quality"] = float(np.mean([r[f"{v}_quality"] for r in rows]))
    out.update(dataset="median / mean over " + ", ".join(results), quality_metric="mean auroc (higher is better)",
               iterations=iterations, per_dataset=results)
    return out


def scaling(plan: dict[str, Any], work: Path, seed: int, pretrain_steps: int | None) -> dict[str, Any]:
    """dxmi_2d with this tree: seconds per iteration over B (T = 4) and over T (B = 1024)."""
    ckpt = work / "ddpm_8gaussians.pt"
    if not ckpt.is_file():
        pretrain("8gaussians", pretrain_steps, seed, ckpt, "scaling")
    rows = [{"B": b, "T": 4} for b in plan["batch"]] + [{"B": 1024, "T": t} for t in plan["steps"] if t != 4]
    spec = {"case": "scaling", "preset": "8gaussians", "pretrained": str(ckpt), "seed": seed,
            "workdir": str(work / "scaling"), "iterations": plan["iterations"], "rows": rows,
            "variants": {"default": [], "fast": FAST_2D}}
    w = Worker("scaling", spec, ROOT / "src")
    try:
        got = w.read()["rows"]
    finally:
        w.close()
    table: dict[str, dict[str, dict[str, Any]]] = {"batch": {}, "steps": {}}
    for r in got:
        if r["T"] == 4:
            table["batch"][f"B={r['B']}"] = r
        if r["B"] == 1024:
            table["steps"][f"T={r['T']}"] = r
    return {"batch_T4": table["batch"], "steps_B1024": table["steps"], "iterations": plan["iterations"]}


def by_variant(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One case's figures as rows per variant (what ``variants`` in the output holds): seconds per
    iteration, speedup over the baseline (median and paired), the quality metrics."""
    names = [k[: -len("_s")] for k in case if k.endswith("_s") and not k.endswith("_fit_s")]
    rows: dict[str, dict[str, Any]] = {}
    for v in names:
        key = "speedup" if v == "current" else f"{v}_speedup"
        row: dict[str, Any] = {"s_per_iteration": case[f"{v}_s"],
                               "speedup": 1.0 if v == "baseline" else case[key],
                               "speedup_paired": 1.0 if v == "baseline" else case[f"{key}_paired"],
                               case.get("quality_metric", "quality").split(" ")[0]: case.get(f"{v}_quality")}
        for extra in ("sinkhorn", "sw", "fit_s"):
            if f"{v}_{extra}" in case:
                row[extra] = case[f"{v}_{extra}"]
        rows[v] = row
    return rows


RUNNERS = {"dxmi_2d": case_dxmi_2d, "vgs_gmm": case_vgs_gmm, "dxmi_digits": case_dxmi_digits,
           "anomaly_fit": case_anomaly}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", default="results/speed.json", help="output JSON")
    p.add_argument("--quick", action="store_true", help="fewer rounds and iterations (< 15 min on 2 CPU cores)")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help="the revision to compare with (git worktree)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    p.add_argument("--no-scaling", action="store_true", help="leave out the scaling table")
    p.add_argument("--extra", action="store_true", help="also the extra variants of a case (EXTRA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plan", default=None, choices=sorted(PLANS), help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        worker_main(json.loads(args.worker))
        return 0
    cases = args.cases.split(",")
    if set(cases) - set(CASES):
        p.error(f"unknown case(s) {sorted(set(cases) - set(CASES))}; choose from {CASES}")
    one_thread()
    plans = {k: {**v, "extra": args.extra} for k, v in PLANS[args.plan or ("quick" if args.quick else "full")].items()}
    base_src = baseline_tree(args.baseline) / "src"
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result: dict[str, Any] = {
        "cases": {}, "variants": {}, "options": {c: " ".join(FAST[c]) for c in cases},
        "settings": {"vgs_gmm": "gmm preset + " + " ".join(vgs_setting())},
        "baseline": args.baseline, "quick": args.quick, "seed": args.seed, "threads": 1,
        "note": (f"seconds per iteration on a shared 2-core CPU under contention from other jobs (load average "
                 f"{load:.1f} at the start): absolute times are noisy; the variants ran in turn in the same "
                 "run, so compare the ratios")}
    start = time.perf_counter()

    def save() -> None:
        result["seconds_total"] = time.perf_counter() - start
        write_json(out_path, result, "speed.py", argv)

    with tempfile.TemporaryDirectory(prefix="dxmi_speed_") as tmp:
        work = Path(tmp)
        for case in cases:
            t0 = time.perf_counter()
            print(f"[{time.perf_counter() - start:.0f}s] {case}", flush=True)
            result["cases"][case] = RUNNERS[case](plans[case], base_src, work, args.seed)
            result["cases"][case]["seconds"] = time.perf_counter() - t0
            result["variants"][case] = by_variant(result["cases"][case])
            r = result["cases"][case]
            print(f"  {case}: baseline {r['baseline_s']:.4f}s current {r['current_s']:.4f}s "
                  f"({r['speedup']:.2f}x) fast {r['fast_s']:.4f}s ({r['fast_speedup']:.2f}x); quality "
                  f"{r['baseline_quality']:.4g} / {r['current_quality']:.4g} / {r['fast_quality']:.4g}", flush=True)
            save()
        for case in cases:
            for name in EXTRA.get(case, {}) if args.extra else {}:
                result["options"][f"{case}/{name}"] = " ".join(EXTRA[case][name])
        if not args.no_scaling and "dxmi_2d" in cases:
            print(f"[{time.perf_counter() - start:.0f}s] scaling", flush=True)
            result["scaling"] = scaling(plans["scaling"], work, args.seed, plans["dxmi_2d"].get("pretrain_steps"))
            save()
    print(f"wrote {out_path} ({time.perf_counter() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
