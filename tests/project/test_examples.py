"""The README's library example is examples/quickstart.py and runs; examples/library_api.py learns."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def test_readme_python_blocks_are_example_files():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    examples = {p.name: p.read_text() for p in (ROOT / "examples").glob("*.py")}
    assert examples["quickstart.py"] in blocks, "README's library block and examples/quickstart.py differ"
    for block in blocks:
        assert block in examples.values(), "every python block of the README is a file in examples/"


@pytest.mark.slow
def test_quickstart_example_runs(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)  # the example writes runs/quickstart under the working directory
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"))
    out = capsys.readouterr().out
    sw = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+): sliced Wasserstein to the data ([\d.]+)", out)}
    assert set(sw) == {"base", "ddim", "dxmi"}, out
    assert sw["dxmi"] < sw["base"], sw
    assert (tmp_path / "runs" / "quickstart" / "config.yaml").exists()


def test_library_example_learns(capsys):
    torch.set_num_threads(1)
    ns = runpy.run_path(str(ROOT / "examples" / "library_api.py"))
    assert ns["sw_after"] <= 0.5 * ns["sw_before"], (ns["sw_before"], ns["sw_after"])
    assert ns["metrics"].all_finite()
    assert "before DxMI" in capsys.readouterr().out
