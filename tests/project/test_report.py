"""benchmarks/report.py renders result files as Markdown; docs/results.md and the marked blocks of
README.md (and docs/*.md) are its current output."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
assert spec is not None and spec.loader is not None
report = importlib.util.module_from_spec(spec)
sys.modules["report"] = report
spec.loader.exec_module(report)


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def _fixture(folder: Path) -> None:
    _write(folder / "toy2d_tiny.json", {
        "command": "python benchmarks/toy2d.py --quick --out results/toy2d_tiny.json",
        "mode": "quick", "seeds": [0, 1],
        "datasets": {"8gaussians": {"base_4": {"sw": 0.3868, "sw_std": 0.012, "recall": 0.78},
                                    "dxmi_4": {"sw": 0.07210, "sw_std": 0.004, "recall": 0.995}}},
        "checks": {"dxmi_4.sw <= 0.5 * base_4.sw": True, "dxmi_10.sw <= dxmi_4.sw": False},
    })
    # images layout: the command lives in NAME.meta.json beside the results
    _write(folder / "images_tiny.json", {"datasets": {"digits": {
        "base_10": {"fd": 13.71, "precision": 0.932, "n_samples": 2000},
        "dxmi_10": {"fd": 3.877, "precision": 0.885, "n_samples": 2000}}}})
    _write(folder / "images_tiny.meta.json", {"command": "benchmarks/images.py --quick --out results/images_tiny.json",
                                              "seed": 0})
    # a list of rows, each holding records (the budget-sweep layout), and no command
    _write(folder / "vgs_budget_tiny.json", {"target": "dw4", "rows": [
        {"batch_size": 16, "vgs": {"tvd_e": 0.69, "w2": 2.0}, "mala": {"tvd_e": 0.82, "w2": 2.3}}]})
    # nothing to tabulate: listed with its command only
    _write(folder / "odd.json", {"command": "python odd.py", "values": [1, 2, 3]})


def test_report_renders_the_fixture_layouts(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _fixture(results)
    out = tmp_path / "results.md"
    assert report.main(["--results", str(results), "--out", str(out)]) == 0
    page = out.read_text()
    # one section per file, named by the file, meta files folded into their results
    assert "### `toy2d_tiny.json`" in page and "### `images_tiny.json`" in page
    assert "images_tiny.meta.json`" not in page.split("## Contents")[1].split("\n## ")[0]
    # the stored command, from the file or from its meta file
    assert "Command: `python benchmarks/toy2d.py --quick --out results/toy2d_tiny.json`" in page
    assert "Command: `benchmarks/images.py --quick --out results/images_tiny.json`" in page
    assert "Command: not recorded in the file." in page
    # datasets -> methods -> metrics: a table per dataset, mean ± std, settings, checks
    assert "|  | sw | recall |" in page
    assert "| dxmi_4 | 0.0721 ± 0.004 | 0.995 |" in page
    assert "mode quick; seeds [0, 1]" in page
    assert "- PASS: `dxmi_4.sw <= 0.5 * base_4.sw`" in page and "- FAIL: `dxmi_10.sw <= dxmi_4.sw`" in page
    assert "| dxmi_10 | 3.877 | 0.885 | 2000 |" in page
    # rows of records: one table per row
    assert "**rows [0]**" in page and "| mala | 0.82 | 2.3 |" in page
    # an unknown layout is listed, not dropped
    assert "### `odd.json`" in page and "Layout not rendered as a table" in page
    # sections by area, each pointing at the guide that explains it
    assert page.index("## DxMI on 2D data") < page.index("## DxMI on images") < page.index("## Value Gradient Sampler")
    assert "[`docs/dxmi.md`](dxmi.md)" in page
    # --check agrees with the page it wrote and notices a changed file
    assert report.main(["--results", str(results), "--out", str(out), "--check"]) == 0
    _write(results / "toy2d_tiny.json", {"command": "changed", "datasets": {}})
    assert report.main(["--results", str(results), "--out", str(out), "--check"]) == 1


def test_one_file_prints_its_tables(tmp_path: Path, capsys) -> None:
    _fixture(tmp_path)
    assert report.main([str(tmp_path / "toy2d_tiny.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## `toy2d_tiny.json`") and "| base_4 | 0.3868 ± 0.012 | 0.78 |" in out


def test_docs_results_page_matches_the_result_files() -> None:
    page = report.render_page(ROOT / "results")
    assert (ROOT / "docs" / "results.md").read_text() == page, (
        "docs/results.md is out of date: run python benchmarks/report.py --out docs/results.md")


def _block_fixture(folder: Path) -> None:
    rows = {"dxmi_4": {"sw": 0.0721, "n_samples": 2000.0}, "dxmi_10": {"sw": 0.05, "n_samples": 2000.0},
            "ddpm_1000": {"sw": 0.0586, "n_samples": 500},
            "ddim_best_4": {"sw": 0.2957, "n_samples": 2000.0, "solver": "ddim", "spacing": "trailing"},
            "unipc_4": {"sw": 0.1245, "n_samples": 2000.0, "solver": "unipc", "spacing": "leading"},
            "dpmsolver_10": {"sw": 0.0913, "n_samples": 2000.0, "solver": "dpmsolver++3m", "spacing": "leading"},
            "unipc_10": {"sw": 0.0979, "n_samples": 2000.0, "solver": "unipc", "spacing": "leading"}}
    _write(folder / "toy2d_tiny.json", {"command": "python benchmarks/toy2d.py --tiny",
                                        "datasets": {"8gaussians": rows}})
    _write(folder / "anomaly_tiny.json", {"summary": {"n": 3, "auroc": {"dxmi": 0.9114, "knn": 0.91, "lof": 0.905}},
                                          "cost": {"mate": 0.00136}})


TINY = (report.FewStep("toy2d_tiny.json", "8gaussians", "8 Gaussians", "sw", "SW ↓"),
        report.Row("anomaly_tiny.json", "{summary.n} sets, AUROC ↑", report.Num("summary.auroc.dxmi", "DxMI"),
                   (report.Best("best detector", (("KNN", "summary.auroc.knn"), ("LOF", "summary.auroc.lof")),
                                lower_is_better=False),
                    report.Num("cost.mate", "step", 1000, " ms")), command="python anomaly_tiny.py"))


def test_marked_blocks_are_filled_from_the_result_files(tmp_path: Path, monkeypatch) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _block_fixture(results)
    monkeypatch.setitem(report.BLOCKS, "tiny", TINY)
    doc = tmp_path / "doc.md"
    doc.write_text("# Doc\n\nBefore.\n\n<!-- report:tiny -->\n| stale | table |\n<!-- /report:tiny -->\n\nAfter.\n")
    out = tmp_path / "results.md"
    assert report.main(["--results", str(results), "--out", str(out), "--blocks", str(doc)]) == 0
    text = doc.read_text()
    # the text around the block is kept, the block is the generated table between the markers
    assert text.startswith("# Doc\n\nBefore.\n\n<!-- report:tiny -->\n| result") and text.endswith(
        "|\n\n<!-- /report:tiny -->\n\nAfter.\n")
    assert "stale" not in text
    # DxMI-T against the best solver at NFE T (named with its spacing) and the DDPM with its sample count;
    # the file and its stored command on the file's first row
    assert ("| 8 Gaussians, 4 steps, SW ↓, 2000 samples (`toy2d_tiny.json`) | DxMI-4 **0.072** | best training-free"
            " solver (UniPC, leading spacing) 0.124, 1000-step DDPM 0.059 (500 samples, fewer than the 2000 of the"
            " others) | `python benchmarks/toy2d.py --tiny` |") in text
    assert ("| DxMI-10 **0.05** | best training-free solver (DPM-Solver++ 3M, leading spacing) 0.091, "
            "1000-step DDPM 0.059 (500 samples, fewer than the 2000 of the others) | same file |") in text
    # a plain row: a templated title, the best of several named, a scaled figure, a command not in the file
    assert ("| 3 sets, AUROC ↑ (`anomaly_tiny.json`) | DxMI **0.911** | best detector (KNN) 0.910, step 1.36 ms "
            "| `python anomaly_tiny.py` (not stored in the file) |") in text
    # regenerating changes nothing; --check notices a changed result file
    assert report.main(["--results", str(results), "--out", str(out), "--blocks", str(doc), "--check"]) == 0
    _write(results / "anomaly_tiny.json", {"summary": {"n": 3, "auroc": {"dxmi": 0.95, "knn": 0.91, "lof": 0.905}},
                                           "cost": {"mate": 0.00136}})
    assert report.main(["--results", str(results), "--out", str(out), "--blocks", str(doc), "--check"]) == 1
    assert report.main(["--results", str(results), "--out", str(out), "--blocks", str(doc)]) == 0
    assert "DxMI **0.950**" in doc.read_text()
    # an unknown block, an unclosed block or a missing entry is an error, not a silent table
    for bad in ("<!-- report:nope -->\n<!-- /report:nope -->\n", "<!-- report:tiny -->\n"):
        doc.write_text(bad)
        assert report.main(["--results", str(results), "--out", str(out), "--blocks", str(doc), "--check"]) == 1
    _write(results / "anomaly_tiny.json", {"summary": {"n": 3, "auroc": {"knn": 0.91, "lof": 0.9}}, "cost": {}})
    with pytest.raises(report.BlockError, match="anomaly_tiny.json: no entry 'cost.mate'"):
        report.render_block("tiny", results)


def test_block_paths_index_lists_and_show_a_spread(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path / "vgs_budget_tiny.json", {"command": "python benchmarks/vgs_budget.py --tiny", "rows": [
        {"batch_size": 16, "vgs": {"tvd_e": 0.69}, "mala": {"tvd_e": 0.8185}},
        {"batch_size": 64, "vgs": {"tvd_e": 0.106, "tvd_e_std": 0.0172}, "mala": {"tvd_e": 0.527, "chains": 64}}]})
    monkeypatch.setitem(report.BLOCKS, "lists", (report.Row(
        "vgs_budget_tiny.json", "batch {rows.1.batch_size}, TVD-E ↓",
        report.Num("rows.1.vgs.tvd_e", "VGS", std="rows.1.vgs.tvd_e_std"),
        (report.Num("rows.1.mala.tvd_e", "MALA"), report.Num("rows.1.mala.chains", "chains"),
         report.Num("rows.0.vgs.tvd_e", "VGS at batch {rows.0.batch_size}"))),))
    text = report.render_block("lists", tmp_path)
    # a number in a path indexes a list, in the figures and in the templates of titles and labels; a count
    # is shown as a count
    assert ("| batch 64, TVD-E ↓ (`vgs_budget_tiny.json`) | VGS **0.106 ± 0.017** | MALA 0.527, chains 64, VGS at"
            " batch 16 0.690 | `python benchmarks/vgs_budget.py --tiny` |") in text
    # an index past the list's end is an error naming the file and the path
    monkeypatch.setitem(report.BLOCKS, "lists", (report.Row(
        "vgs_budget_tiny.json", "x", report.Num("rows.2.vgs.tvd_e", "VGS"), ()),))
    with pytest.raises(report.BlockError, match="vgs_budget_tiny.json: no entry 'rows.2.vgs.tvd_e'"):
        report.render_block("lists", tmp_path)


def test_readme_blocks_match_the_result_files() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "<!-- report:headline -->" in readme, "README's headline results are the generated block"
    assert report.fill_blocks(readme, ROOT / "results") == readme, (
        "README.md's generated blocks are out of date: run python benchmarks/report.py --out docs/results.md")
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text()
        assert report.fill_blocks(text, ROOT / "results") == text, f"{page.name}'s generated blocks are out of date"


def test_figures_are_drawn_from_their_result_file_and_go_stale_with_it(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    results, img = tmp_path / "results", tmp_path / "img"
    results.mkdir()
    rows = [{"batch_size": b, "n_energy_evals": 100 * b,
             "vgs": {"tvd_e": 0.5 / b, "seconds": 1.0 * b, "n_energy_evals": 100 * b},
             "mala": {"tvd_e": 0.8 / b, "seconds": 0.5 * b}, "reference": {"tvd_e": 0.02, "seconds": 0.0}}
            for b in (16, 32)]
    _write(results / "budget_tiny.json", {"target": "dw4", "rows": rows})
    monkeypatch.setattr(report, "FIGURES", {"budget_tiny.png": ("budget_tiny.json", report.figures.budget_figure)})
    out = tmp_path / "results.md"
    args = ["--results", str(results), "--out", str(out), "--figures", str(img)]
    assert report.main([*args, "--check"]) == 1  # not drawn yet
    assert report.main(args) == 0
    png = img / "budget_tiny.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.figures.read_stamp(png) == report.figures.source_stamp(results / "budget_tiny.json")
    assert report.main([*args, "--check"]) == 0
    rows[0]["vgs"]["tvd_e"] = 0.9  # the figures change: the drawn figure is stale until redrawn
    _write(results / "budget_tiny.json", {"target": "dw4", "rows": rows})
    assert report.main([*args, "--check"]) == 1
    assert report.main(args) == 0 and report.main([*args, "--check"]) == 0
    (results / "budget_tiny.json").unlink()  # a figure whose source is gone is an error, not a silent pass
    assert report.main([*args, "--check"]) == 1


def test_every_image_in_the_docs_comes_from_a_result_file() -> None:
    """A picture in README.md or docs/ is either drawn by report.py from a result file (docs/img/, FIGURES,
    stamped with that file's hash) or written into results/ by the benchmark whose JSON names it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            target = (page.parent / link).resolve()
            assert target.is_file(), f"{page.name} shows {link}, which does not exist"
            if target.parent == (ROOT / "docs" / "img").resolve():
                assert target.name in report.FIGURES, f"{page.name} shows {link}, which report.py does not draw"
            else:
                assert target.parent == (ROOT / "results").resolve(), (
                    f"{page.name} shows {link}, which is neither a drawn figure nor a result file")
                assert any(target.name in p.read_text() or target.name.startswith(p.stem + "_")
                           for p in (ROOT / "results").glob("*.json")), (
                    f"{link} is named by no result file (which command wrote it?)")
    extra = {p.name for p in (ROOT / "docs" / "img").glob("*.png")} - set(report.FIGURES)
    assert not extra, f"docs/img holds images report.py does not draw: {sorted(extra)}"
    for name, (source, _) in report.FIGURES.items():
        png = ROOT / "docs" / "img" / name
        assert report.figures.read_stamp(png) == report.figures.source_stamp(ROOT / "results" / source), (
            f"docs/img/{name} is stale: run python benchmarks/report.py --out docs/results.md")
