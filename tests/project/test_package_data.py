"""Package data reaches the installed package: every data file under src/dxmi (the YAML presets of every
method: ``dxmi/configs`` for DxMI, ``dxmi/configs/vgs`` for VGS, ``dxmi/mate/configs`` for MATE; ``py.typed``)
is matched by a pattern of ``[tool.setuptools.package-data]``, and (slow) a wheel built from the tree holds
them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "dxmi"

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def data_files() -> set[str]:
    """Non-Python files of the package, relative to src/dxmi: the tracked ones in a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "src/dxmi"], cwd=ROOT, capture_output=True, text=True, check=True)
        files = [ROOT / line for line in out.stdout.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in PKG.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return {p.relative_to(PKG).as_posix() for p in files if p.suffix not in (".py", ".pyc")}


#: the preset folders of the methods (relative to src/dxmi), each read with importlib.resources
PRESET_FOLDERS = ("configs", "configs/vgs", "mate/configs")


def presets() -> set[str]:
    """Every preset of every method, relative to src/dxmi, from the folders on disk (tracked or not)."""
    found = set()
    for folder in PRESET_FOLDERS:
        names = sorted(p.relative_to(PKG).as_posix() for p in (PKG / folder).glob("*.yaml"))
        assert names, f"no presets in src/dxmi/{folder}"
        found.update(names)
    return found


def package_data_patterns() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]["package-data"]["dxmi"]


def test_package_data_patterns_cover_every_data_file():
    files = data_files()
    assert "mate/configs/tmaze.yaml" in files and "configs/8gaussians.yaml" in files and "py.typed" in files
    covered = {p.relative_to(PKG).as_posix() for pattern in package_data_patterns() for p in PKG.glob(pattern)}
    missing = sorted(files - covered)
    assert not missing, f"not in [tool.setuptools.package-data] of pyproject.toml, so not installed: {missing}"


def test_every_preset_of_every_method_is_package_data():
    files, every = data_files(), presets()
    assert {"configs/8gaussians.yaml", "configs/vgs/gmm.yaml", "configs/vgs/default.yaml",
            "mate/configs/tmaze.yaml"} <= every
    covered = {p.relative_to(PKG).as_posix() for pattern in package_data_patterns() for p in PKG.glob(pattern)}
    assert not sorted(every - covered), f"presets no package-data pattern matches: {sorted(every - covered)}"
    assert not sorted(every - files), f"presets not tracked by git (a wheel built from a clone lacks them): " \
                                      f"{sorted(every - files)}"


@pytest.mark.slow
def test_the_wheel_holds_every_data_file(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(PKG, src / "dxmi", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src.parent / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src.parent), "-w", str(tmp_path / "whl"),
                           "--no-deps", "--no-build-isolation", "-q"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        pytest.skip("pip is not installed in this environment")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "whl").glob("dxmi-*.whl")
    names = {n.removeprefix("dxmi/") for n in zipfile.ZipFile(wheel).namelist() if n.startswith("dxmi/")}
    missing = sorted((data_files() | presets()) - names)
    assert not missing, f"not in the wheel: {missing}"
