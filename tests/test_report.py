"""benchmarks/report.py renders result files as Markdown, and docs/results.md is its current output."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
