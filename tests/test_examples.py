"""The README's library example runs, matches examples/library_api.py, and learns."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_the_example_file():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "library_api.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert example in blocks, "README's library block and examples/library_api.py differ"


def test_library_example_learns(capsys):
    torch.set_num_threads(1)
    ns = runpy.run_path(str(ROOT / "examples" / "library_api.py"))
    assert ns["sw_after"] <= 0.5 * ns["sw_before"], (ns["sw_before"], ns["sw_after"])
    assert ns["metrics"].all_finite()
    assert "before DxMI" in capsys.readouterr().out
