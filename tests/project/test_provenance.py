"""benchmarks/provenance.py is the one place a result's command and commit are made: every benchmark that
writes a JSON result goes through it (``made_by`` / ``write_json``), none builds its own ``"command"``."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
spec = importlib.util.spec_from_file_location("provenance", BENCHMARKS / "provenance.py")
assert spec is not None and spec.loader is not None
provenance = importlib.util.module_from_spec(spec)
spec.loader.exec_module(provenance)

#: the module itself, and the renderer that reads the fields
EXEMPT = {"provenance.py", "report.py"}


def test_made_by_names_the_script_its_arguments_and_the_commit():
    stamp = provenance.made_by("toy2d.py", ["--quick", "--out", "results/x.json"])
    assert stamp["command"] == "python benchmarks/toy2d.py --quick --out results/x.json"
    assert set(stamp) == {"command", "commit"}
    assert stamp["commit"] is None or re.fullmatch(r"[0-9a-f]{4,40}(-dirty)?", stamp["commit"])
    assert stamp["commit"] == provenance.STARTED_AT  # the code the run started from, not a later HEAD
    assert provenance.made_by("vgs.py", [])["command"] == "python benchmarks/vgs.py"


def test_made_by_defaults_to_sys_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["benchmarks/vgs.py", "--quick"])
    assert provenance.made_by("vgs.py", None)["command"] == "python benchmarks/vgs.py --quick"


def test_git_commit_is_none_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert provenance.git_commit() is None


def test_git_commit_marks_uncommitted_code(monkeypatch):
    class Done:
        def __init__(self, out: str):
            self.stdout, self.returncode = out, 0

    calls: list[list[str]] = []

    def fake_git(args, **kwargs):
        calls.append(args)
        return Done("abc1234\n") if "rev-parse" in args else Done(status)

    monkeypatch.setattr(subprocess, "run", fake_git)
    status = ""
    assert provenance.git_commit() == "abc1234"
    status = " M src/dxmi/baselines/mala.py\n"
    assert provenance.git_commit() == "abc1234-dirty"
    assert calls[-1][-2:] == ["src", "benchmarks"]  # only code counts, not docs or results


def test_write_json_writes_payload_command_and_commit_and_no_temp_file(tmp_path):
    path = tmp_path / "new" / "r.json"
    assert provenance.write_json(path, {"rows": [1, 2]}, "vgs.py", ["--quick"]) == path
    data = json.loads(path.read_text())
    assert data["rows"] == [1, 2] and data["command"] == "python benchmarks/vgs.py --quick" and "commit" in data
    # written again (as vgs.py does after each target): replaced whole; a payload that cannot be written
    # leaves the last complete file
    provenance.write_json(str(path), {"rows": [3]}, "vgs.py", ["--quick"])
    assert json.loads(path.read_text())["rows"] == [3]
    with pytest.raises(TypeError):
        provenance.write_json(path, {"rows": object()}, "vgs.py", [])
    assert json.loads(path.read_text())["rows"] == [3]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def own_command(source: str) -> list[str]:
    """Where ``source`` makes a command or commit field itself instead of through provenance: a
    ``"command"`` / ``"commit"`` string outside docstrings (a dict key, ``d["command"] = ...``), a
    ``command=`` keyword, or a ``"python benchmarks/..."`` string."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value in ("command", "commit") or "python benchmarks/" in node.value:
                found.append(f"line {node.lineno}: {node.value[:60]!r}")
        elif isinstance(node, ast.keyword) and node.arg in ("command", "commit"):
            found.append(f"line {node.lineno}: {node.arg}=")
    return found


def test_the_check_sees_a_script_that_builds_its_own_command():
    assert own_command('out = {"rows": [], "command": "python benchmarks/x.py " + " ".join(sys.argv[1:])}')
    assert own_command('report = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}')
    assert own_command('result["command"] = cmd')
    assert own_command('out = dict(rows=[], command=cmd)')
    assert not own_command('"""JSON: {"rows": [...], "command": str}"""\nwrite_json(out, {"rows": []}, "x.py", argv)')


def scripts() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*.py") if p.name not in EXEMPT)


@pytest.mark.parametrize("script", scripts(), ids=lambda p: p.name)
def test_no_benchmark_builds_its_own_command(script):
    found = own_command(script.read_text())
    assert not found, f"{script.name} makes its own command/commit ({'; '.join(found)}): use provenance.write_json"


@pytest.mark.parametrize("script", scripts(), ids=lambda p: p.name)
def test_every_benchmark_with_an_output_file_writes_through_provenance(script):
    source = script.read_text()
    if '"--out"' not in source:
        return
    # images_curve.py and images_sampler_grads.py write through images.write_result, which calls write_json
    assert "from provenance import" in source or "write_result(" in source, (
        f"{script.name} writes a result but not with provenance.write_json / made_by")


def test_made_by_quotes_arguments_so_the_command_reruns():
    stamp = provenance.made_by("vgs_funnel_bound.py", ["--extra-noise", "", "--set", "a b"])
    assert stamp["command"] == "python benchmarks/vgs_funnel_bound.py --extra-noise '' --set 'a b'"


def test_portable_command_names_the_published_file_and_no_scratch_folder():
    cmd = ("python benchmarks/images.py --quick --seed 1 --out /work/scratch/e_s1.json "
           "--workdir /work/scratch/runs_s1 --set train.algo.policy_ema=0.99")
    assert provenance.portable_command(cmd, "results/images_quick_seed1.json") == (
        "python benchmarks/images.py --quick --seed 1 --out results/images_quick_seed1.json "
        "--workdir runs/runs_s1 --set train.algo.policy_ema=0.99")
    # the older form without "python", and --out=
    assert provenance.portable_command("benchmarks/toy2d.py --out=/tmp/x.json", "results/t.json") == (
        "python benchmarks/toy2d.py --out=results/t.json")


def test_publish_copies_the_result_its_meta_file_and_samples(tmp_path):
    scratch, results = tmp_path / "scratch", tmp_path / "results"
    scratch.mkdir()
    cmd = f"python benchmarks/images.py --quick --out {scratch}/e_s0.json --workdir {scratch}/runs"
    (scratch / "e_s0.json").write_text(json.dumps({"fd": 5.26, "command": cmd, "commit": "abc1234"}))
    (scratch / "e_s0.meta.json").write_text(json.dumps({"n": 2000, "command": cmd, "commit": "abc1234"}))
    (scratch / "e_s0_digits_samples.png").write_bytes(b"png")
    (scratch / "e_s0_old.json").write_text("{}")  # another result with the same prefix: not copied
    (scratch / "e_s0_old_digits_samples.png").write_bytes(b"other")  # nor its grid
    written = provenance.publish(scratch / "e_s0.json", results / "images_quick.json")
    assert sorted(p.name for p in written) == ["images_quick.json", "images_quick.meta.json",
                                               "images_quick_digits_samples.png"]
    data = json.loads((results / "images_quick.json").read_text())
    assert data == {"fd": 5.26, "commit": "abc1234", "command": (
        f"python benchmarks/images.py --quick --out {results / 'images_quick.json'} --workdir runs/runs")}
    assert json.loads((results / "images_quick.meta.json").read_text())["n"] == 2000
    # in place: the command is rewritten, the figures stay
    provenance.publish(results / "images_quick.json", results / "images_quick.json")
    assert json.loads((results / "images_quick.json").read_text())["fd"] == 5.26
    with pytest.raises(ValueError, match="holds no 'command'"):
        provenance.publish(scratch / "e_s0_old.json", results / "x.json")
    with pytest.raises(FileNotFoundError, match="no result file"):
        provenance.publish(scratch / "missing.json", results / "x.json")
