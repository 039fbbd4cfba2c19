"""One command-line grammar: ``dxmi <app> <verb>``; the old hyphenated spellings are hidden aliases."""

import subprocess
import sys

import pytest

import dxmi.cli.vgs as vgs_cli
import dxmi.mate.cli as mate_cli
from dxmi.cli.aliases import RENAMED, rewrite
from dxmi.cli.main import main

# old spelling -> (module, function name the verb dispatches to, arguments the verb needs)
DISPATCH = {
    "vgs-train": (vgs_cli, "cmd_train", ["--out", "RUN"]),
    "vgs-sample": (vgs_cli, "cmd_sample", ["--out", "RUN", "--n", "3", "--file", "x.npy"]),
    "vgs-evaluate": (vgs_cli, "cmd_evaluate", ["--out", "RUN", "--n", "3"]),
    "vgs-plot": (vgs_cli, "cmd_plot", ["--out", "RUN"]),
    "mate-train": (mate_cli, "_train", ["--config", "tmaze", "--out", "RUN", "--quiet"]),
    "mate-evaluate": (mate_cli, "_evaluate", ["RUN", "--episodes", "2"]),
}


def _help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_the_apps_not_the_old_spellings(capsys):
    out = _help(["--help"], capsys)
    for app in ("vgs", "mate", "anomaly", "train", "demo"):
        assert f"\n    {app} " in out, app
    for old in RENAMED:
        assert old not in out


@pytest.mark.parametrize("app, verbs", [("vgs", ["train", "sample", "evaluate", "plot"]),
                                        ("mate", ["train", "evaluate"])])
def test_each_app_and_verb_explains(app, verbs, capsys):
    out = _help([app, "--help"], capsys)
    assert f"usage: dxmi {app}" in out
    for verb in verbs:
        assert f"\n    {verb} " in out, verb
        text = _help([app, verb, "--help"], capsys)
        assert f"usage: dxmi {app} {verb}" in text
        if (app, verb) == ("vgs", "train"):
            assert "--ckpt-every" in text


def test_an_app_without_a_verb_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["vgs"])
    assert e.value.code == 2
    assert "ACTION" in capsys.readouterr().err


@pytest.mark.parametrize("old", sorted(DISPATCH))
def test_old_spelling_notes_the_new_one_and_runs_the_same_command(old, monkeypatch, capsys):
    module, name, rest = DISPATCH[old]
    calls = []
    monkeypatch.setattr(module, name, lambda args: calls.append(vars(args)) or 0)
    new = list(RENAMED[old])
    assert main([*new, *rest]) == 0
    assert capsys.readouterr().err == ""  # the new spelling: no note
    assert main([old, *rest]) == 0
    err = capsys.readouterr().err
    assert err == f"dxmi: `{old}` is now `dxmi {' '.join(new)}`\n"
    assert len(calls) == 2
    strip = {"func"}  # a wrapped function object per parser build
    assert {k: v for k, v in calls[0].items() if k not in strip} == \
           {k: v for k, v in calls[1].items() if k not in strip}
    assert calls[1][f"{new[0]}_command"] == new[1]


def test_rewrite_skips_global_options_and_leaves_other_commands_alone(capsys):
    assert rewrite(["--threads", "2", "vgs-plot", "--out", "r"]) == ["--threads", "2", "vgs", "plot", "--out", "r"]
    assert "`vgs-plot` is now `dxmi vgs plot`" in capsys.readouterr().err
    for argv in (["train", "--out", "vgs-train"], ["anomaly", "fit"], ["--help"], []):
        assert rewrite(argv) == argv
    assert capsys.readouterr().err == ""


def test_a_real_verb_runs_under_both_spellings(tmp_path, capsys):
    missing = str(tmp_path / "none")
    assert main(["vgs", "sample", "--target", "gmm", "--out", missing, "--n", "3"]) == 2
    assert "run dxmi vgs train first" in capsys.readouterr().err
    assert main(["vgs-sample", "--target", "gmm", "--out", missing, "--n", "3"]) == 2
    note, error = capsys.readouterr().err.splitlines()
    assert note == "dxmi: `vgs-sample` is now `dxmi vgs sample`" and "run dxmi vgs train first" in error


def test_python_m_dxmi_mate_takes_the_verbs_and_the_old_spellings(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(mate_cli, "_evaluate", lambda args: calls.append(args.run) or 0)
    assert mate_cli.main(["evaluate", "r1"]) == 0
    assert capsys.readouterr().err == ""
    assert mate_cli.main(["mate-evaluate", "r2"]) == 0
    assert capsys.readouterr().err == "python -m dxmi.mate: `mate-evaluate` is now `python -m dxmi.mate evaluate`\n"
    assert calls == ["r1", "r2"]
    proc = subprocess.run([sys.executable, "-m", "dxmi.mate", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: python -m dxmi.mate" in proc.stdout and "evaluate" in proc.stdout
