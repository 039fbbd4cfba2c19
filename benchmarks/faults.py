"""Fault injection at scale: SIGKILLed runs resumed to the end, and fuzzed command lines.

    python benchmarks/faults.py --out results/faults.json            # >= 50 kills, 2000 fuzz cases (~15 min, 2 cores)
    python benchmarks/faults.py --quick --out /tmp/faults_quick.json  # 10 kills, 200 cases (~3 min)

Kills (``tests/faults/kill_harness.py``): tiny runs of five kinds (``dxmi pretrain``, ``dxmi train``,
``dxmi vgs train``, ``dxmi anomaly fit --resume``, ``dxmi mate train --resume``) are run once
uninterrupted, then as child processes killed with SIGKILL at random moments (from outside at a
random time, or at a random rename of an atomic write: just before it, or with the temporary file cut
to half), ``--per-episode`` times each, and resumed with the same command until it exits 0. A kill
counts as identical when its run's final checkpoints equal the uninterrupted run's byte for byte
(every tensor and the metadata); ``rows_lost`` counts rows of the metrics logs missing after the
resumes (``rows_repeated`` / ``rows_differ``: rows there twice / with other values), ``tmp_left``
temporary files left in the run folders.

Fuzz (``tests/faults/fuzz_cases.py``): hypothesis draws random ``--set`` overrides of the four kinds of
settings, YAML config files, data files and damaged run folders, each run through ``dxmi``'s ``main``
in this process; ``tracebacks`` counts cases where an exception escaped (or an error took more than one
line), ``silent_wrong`` cases that exited 0 with a wrong result, ``unnamed`` one-line errors naming
neither the setting nor the file.

The tiny runs and checks are the test suites' own (``tests/faults/test_kills.py``, ``test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "faults")]

import fuzz_cases as fc  # noqa: E402
import kill_harness as kh  # noqa: E402

from provenance import write_json  # noqa: E402

#: fuzz cases per category in a full run (2000 in all); --quick takes a tenth
FUZZ_CASES = {"settings_dxmi": 300, "settings_vgs": 250, "settings_anomaly": 250, "settings_mate": 200,
              "config_file": 250, "data_dxmi": 250, "data_anomaly": 250, "damaged": 250}


def run_kills(total: int, per_episode: int, seed: int, work: Path, log: Any) -> dict[str, Any]:
    """At least ``total`` kills spread evenly over the five kinds."""
    kinds = list(kh.KINDS)
    want = {k: total // len(kinds) + (1 if i < total % len(kinds) else 0) for i, k in enumerate(kinds)}
    detail: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for kind in kinds:
        t0 = time.time()
        ref = kh.make_reference(kh.KINDS[kind], work / kind)
        problems = kh.log_steps_once(ref)
        rng = random.Random(f"{seed}-{kind}")
        d = {"kills": 0, "identical": 0, "episodes": 0, "runs": 0, "rows_lost": 0, "rows_repeated": 0,
             "rows_differ": 0, "tmp_left": 0, "failed_runs": 0, "reference_seconds": round(ref.seconds, 1),
             "renames_per_run": len(ref.renames), "kills_by_mode": Counter()}
        while d["kills"] < want[kind] and d["episodes"] < 4 * want[kind]:
            ep = kh.kill_episode(ref, work / kind / f"episode_{d['episodes']}", rng,
                                 kills=min(per_episode, want[kind] - d["kills"]))
            d["episodes"] += 1
            d["runs"] += ep.runs
            d["kills"] += ep.kills
            d["kills_by_mode"].update(ep.modes)
            d["identical"] += ep.kills if ep.identical and not ep.failures else 0
            for key in ("rows_lost", "rows_repeated", "rows_differ"):
                d[key] += getattr(ep, key)
            d["tmp_left"] += len(ep.tmp_left)
            d["failed_runs"] += len(ep.failures)
            if not ep.ok:
                failures.append(f"{kind}: {ep.summary()[:1500]}")
            print(f"  {kind} episode {d['episodes']}: {ep.kills} kills {ep.modes}, "
                  f"{'ok' if ep.ok else 'FAILED'} ({ep.seconds:.0f}s)", file=log, flush=True)
            shutil.rmtree(work / kind / f"episode_{d['episodes'] - 1}", ignore_errors=True)
        d["kills_by_mode"] = dict(d["kills_by_mode"])
        d["reference_log_problems"] = len(problems)
        d["seconds"] = round(time.time() - t0, 1)
        detail[kind] = d
    return {"kinds": detail, "failures": failures}


def run_fuzz(cases: dict[str, int], seed: int, work: Path, log: Any) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis import strategies as st

    verdicts: dict[str, list[fc.Verdict]] = {}

    def sweep(name: str, n: int, strategy: Any, run: Any) -> None:
        out: list[fc.Verdict] = []

        @fixed_seed(seed)
        @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def case(args: Any) -> None:
            out.append(run(args))

        t0 = time.time()
        case()
        verdicts[name] = out
        print(f"  {name}: {len(out)} cases, {dict(Counter(v.outcome for v in out))} ({time.time() - t0:.0f}s)",
              file=log, flush=True)

    for kind in fc.CONFIG_KINDS:
        name = f"settings_{kind}"
        if cases.get(name):
            keys = fc.CONFIG_KINDS[kind]()
            sweep(name, cases[name], fc.overrides(list(keys), fc.UNKNOWN_KEYS, fc.BIG_INT_KEYS, fc.WORK_KEYS, keys),
                  lambda g, k=kind: fc.config_case(k, g, work / k))
    if cases.get("config_file"):
        (work / "config_files").mkdir(parents=True, exist_ok=True)
        sweep("config_file", cases["config_file"], fc.yaml_documents(),
              lambda text: fc.config_file_case(text, work / "config_files"))
    for target in ("dxmi", "anomaly"):
        name = f"data_{target}"
        if cases.get(name):
            sweep(name, cases[name], st.tuples(fc.data_arrays(), st.booleans()),
                  lambda a, t=target: fc.data_case(t, a[0][0], a[0][1], a[1], work / f"data_{t}"))
    if cases.get("damaged"):
        folders = fc.make_folders(work / "folders")
        refs = fc.damaged_references(folders, work)
        files = [(k, f) for k, spec in fc.FOLDERS.items() for f in spec.files]
        sweep("damaged", cases["damaged"], st.tuples(st.sampled_from(files), st.floats(0, 1)),
              lambda a: fc.damaged_case(a[0][0], a[0][1], a[1], folders, work, refs))
    per = {name: {o: sum(v.outcome == o for v in vs) for o in fc.OUTCOMES} | {"cases": len(vs)}
           for name, vs in verdicts.items()}
    bad = [str(v)[:800] for vs in verdicts.values() for v in vs if not v.good]
    return {"categories": per, "bad": bad}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the JSON file to write")
    ap.add_argument("--quick", action="store_true", help="10 kills and 200 fuzz cases")
    ap.add_argument("--kills", type=int, default=None, help="kills across the five kinds (default 60; quick 10)")
    ap.add_argument("--per-episode", type=int, default=3, help="kills of one run before it is let finish")
    ap.add_argument("--fuzz-scale", type=float, default=None,
                    help="multiplies the fuzz cases per category (default 1: 2000 cases; quick 0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    kills = args.kills if args.kills is not None else (10 if args.quick else 60)
    scale = args.fuzz_scale if args.fuzz_scale is not None else (0.1 if args.quick else 1.0)
    cases = {k: max(1, round(n * scale)) for k, n in FUZZ_CASES.items()}
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dxmi_faults_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        print(f"kills: {kills} across {list(kh.KINDS)}", flush=True)
        k = run_kills(kills, args.per_episode, args.seed, work / "kills", sys.stdout)
        print(f"fuzz: {sum(cases.values())} cases", flush=True)
        f = run_fuzz(cases, args.seed, work / "fuzz", sys.stdout)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    kinds, cats = k["kinds"], f["categories"]
    result = {
        "kills": sum(d["kills"] for d in kinds.values()),
        "identical": sum(d["identical"] for d in kinds.values()),
        "rows_lost": sum(d["rows_lost"] for d in kinds.values()),
        "tmp_left": sum(d["tmp_left"] for d in kinds.values()),
        "fuzz_cases": sum(c["cases"] for c in cats.values()),
        "tracebacks": sum(c["traceback"] + c["not_one_line"] for c in cats.values()),
        "silent_wrong": sum(c["silent_wrong"] for c in cats.values()),
        "unnamed_errors": sum(c["unnamed"] for c in cats.values()),
        "rows_repeated": sum(d["rows_repeated"] for d in kinds.values()),
        "rows_differ": sum(d["rows_differ"] for d in kinds.values()),
        "failed_runs": sum(d["failed_runs"] for d in kinds.values()),
        "seconds": round(time.time() - t0, 1),
        "kinds": kinds,
        "fuzz": cats,
        "kill_failures": k["failures"][:10],
        "fuzz_failures": f["bad"][:20],
    }
    out = write_json(args.out, result, "faults.py", argv)
    print(json.dumps({key: result[key] for key in list(result)[:13]}, indent=1))
    print(f"wrote {out}")
    ok = (result["identical"] == result["kills"] and not result["rows_lost"] and not result["tmp_left"]
          and not result["tracebacks"] and not result["silent_wrong"] and not result["failed_runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
