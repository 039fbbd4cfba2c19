"""benchmarks/toy2d.py --merge: runs of other seeds combine into one file of means, standard deviations and
per-seed checks; a seed in two files joins their rows, and a row they disagree on is refused."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def toy2d(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run: it imports benchmarks/provenance.py
    spec = importlib.util.spec_from_file_location("toy2d_bench", ROOT / "benchmarks" / "toy2d.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _file(path: Path, per_seed: dict, n: int = 20000) -> Path:
    path.write_text(json.dumps({"per_seed": per_seed, "n_eval_samples": n,
                                "command": f"python benchmarks/toy2d.py --out {path.name}", "commit": "abc1234"}))
    return path


def _run(dxmi4: float, warm4: float) -> dict:
    return {"dxmi_4": dxmi4, "warm_4": warm4, "unipc_4": 0.2, "dpmsolver_4": 0.25, "ddim_best_4": 0.3,
            "dxmi_10": 0.05, "ddpm_1000": 0.04, "dpmsolver_10": 0.08}


def test_merge_means_stds_and_seed_checks(toy2d, tmp_path, monkeypatch):
    a = _file(tmp_path / "a.json", {"moons/seed0": _run(0.10, 0.15)})
    b = _file(tmp_path / "b.json", {"moons/seed1": _run(0.14, 0.15), "moons/seed2": _run(0.30, 0.25)})
    out = tmp_path / "m.json"
    monkeypatch.setattr(sys, "argv", ["benchmarks/toy2d.py", "--merge", str(a), str(b), "--out", str(out)])
    assert toy2d.main() == 0
    res = json.loads(out.read_text())
    moons = res["datasets"]["moons"]
    assert moons["dxmi_4"]["sw"] == pytest.approx(0.18) and moons["dxmi_4"]["n_seeds"] == 3
    assert moons["dxmi_4"]["sw_std"] == pytest.approx(0.0864, abs=1e-4)
    assert res["seeds"] == [0, 1, 2] and [s["file"] for s in res["sources"]] == ["a.json", "b.json"]
    checks = res["checks"]
    # seed 2 loses to UniPC (0.30 > 0.2) and to its warm start: 2/3 is below 80 %
    assert checks["[moons] dxmi_4 below the best solver on >= 80% of seeds (2/3)"] is False
    assert checks["[moons] dxmi_4 no worse than its warm start on every seed (2/3)"] is False
    assert checks["[moons] dxmi_10 below the best solver on >= 80% of seeds (3/3)"] is True
    assert checks["[moons] dxmi_10.sw <= 1.5 * ddpm_1000.sw"] is True
    assert "command" in res and res["per_seed"]["moons/seed2"]["dxmi_4"] == 0.30
    assert moons["unipc_4"]["n_samples"] == 20000 and res["n_eval_samples"] == 20000
    assert res["seed_counts"]["moons"] == {"n_seeds": 3, "dxmi_4_below_solver": 2, "dxmi_4_kept_start": 2,
                                           "dxmi_10_below_solver": 3}


def test_merge_joins_the_rows_of_one_seed_and_refuses_a_row_that_differs(toy2d, tmp_path):
    a = _file(tmp_path / "a.json", {"moons/seed0": _run(0.1, 0.2)})
    # a later baselines-only run of the same seed: the same solver rows, plus one more
    b = _file(tmp_path / "b.json", {"moons/seed0": {"unipc_4": 0.2, "dpmsolver_4": 0.25, "deis_4": 0.05}})
    runs, sources = toy2d.merge([str(a), str(b)])
    assert len(runs) == 1 and [s["file"] for s in sources] == ["a.json", "b.json"]
    assert runs[0]["methods"]["deis_4"]["sw"] == 0.05 and runs[0]["methods"]["dxmi_4"]["sw"] == 0.1
    # the added row is the best solver now: dxmi_4 (0.1) is no longer below it
    assert toy2d.seed_counts(runs)["moons"]["dxmi_4_below_solver"] == 0
    other = _file(tmp_path / "o.json", {"moons/seed0": {"unipc_4": 0.21}})
    with pytest.raises(ValueError, match="moons seed 0: unipc_4 is 0.2 in .*a.json and 0.21 in .*o.json"):
        toy2d.merge([str(a), str(other)])


def test_merge_takes_the_solver_rows_of_a_later_baselines_run(toy2d, tmp_path):
    a = _file(tmp_path / "a.json", {"moons/seed0": _run(0.1, 0.2)})
    rerun = {"moons/seed0": {"ddpm_1000": 0.04, "unipc_4": 0.19, "dpmsolver_4": 0.09, "deis_4": 0.12}}
    b = _file(tmp_path / "b.json", rerun)
    data = json.loads(b.read_text())
    with pytest.raises(ValueError, match="unipc_4 is 0.2 in"):  # not marked as a baselines run: no replacing
        toy2d.merge([str(a), str(b)])
    b.write_text(json.dumps({**data, "parts": ["baselines"]}))
    runs, _ = toy2d.merge([str(a), str(b)])
    ms = runs[0]["methods"]
    assert ms["unipc_4"]["sw"] == 0.19 and ms["dpmsolver_4"]["sw"] == 0.09 and ms["dxmi_4"]["sw"] == 0.1
    assert toy2d.seed_counts(runs)["moons"]["dxmi_4_below_solver"] == 0  # 0.1 is above the new best, 0.09
    # its other rows check that it ran on the same base model
    b.write_text(json.dumps({**data, "parts": ["baselines"], "per_seed": {"moons/seed0": {"ddpm_1000": 0.05}}}))
    with pytest.raises(ValueError, match="ddpm_1000 is 0.04 in"):
        toy2d.merge([str(a), str(b)])
    c = _file(tmp_path / "c2.json", {"moons/seed5": _run(0.1, 0.2)}, n=3000)
    with pytest.raises(ValueError, match="different sample counts"):
        toy2d.merge([str(a), str(c)])
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ValueError, match="no per_seed"):
        toy2d.merge([str(tmp_path / "c.json")])


def test_parts_log_keeps_finished_jobs_of_the_same_plan(toy2d, tmp_path):
    import numpy as np

    plan = {"datasets": ["moons"], "seeds": [1], "n_eval": 20000}
    log = toy2d.PartsLog(str(tmp_path / "r.json"), plan)
    assert log.path.name == "r.parts.jsonl" and log.load() == {}
    log.append("moons", 1, "dxmi_4", {"methods": {"dxmi_4": {"sw": np.float32(0.1)}}})
    log.append("moons", 1, "baselines", {"methods": {"ddim_4": {"sw": 0.3}}})
    with log.path.open("a") as f:
        f.write('{"dataset": "moons", "seed": 1, "part": "gcd')  # torn by a kill mid-write
    other = toy2d.PartsLog(str(tmp_path / "r.json"), {**plan, "n_eval": 3000})
    other.append("moons", 1, "gcd_4", {"methods": {}})  # another plan's line is not reused
    done = log.load()
    assert set(done) == {("moons", 1, "dxmi_4"), ("moons", 1, "baselines")}
    assert done[("moons", 1, "dxmi_4")]["methods"]["dxmi_4"]["sw"] == pytest.approx(0.1)
    assert set(other.load()) == {("moons", 1, "gcd_4")}
    log.remove()
    assert not log.path.exists()


def test_run_parallel_reports_each_job_as_it_ends(toy2d):
    seen: list[tuple[int, int]] = []
    out = toy2d.run_parallel(abs, [-3, 4, -5], 1, on_result=lambda i, r: seen.append((i, r)))
    assert out == [3, 4, 5] and seen == [(0, 3), (1, 4), (2, 5)]


def test_best_choice_is_the_lowest_validation_score_over_every_row_at_that_nfe(toy2d):
    from solver_rows import best_choice  # on the path the toy2d fixture set up

    choices = {"unipc_4": {"nfe": 4, "validation": {"unipc/leading": 0.12, "unipc/trailing": 0.3}},
               "deis_4": {"nfe": 4, "validation": {"deis3_full/leading": 0.2, "deis/leading": 0.15}},
               "deis_10": {"nfe": 10, "validation": {"deis/leading": 0.01}}}
    assert best_choice(choices, 4) == "unipc/leading"
    assert best_choice(choices, 10) == "deis/leading"
    with pytest.raises(ValueError, match="no solver row at NFE 7"):
        best_choice(choices, 7)
