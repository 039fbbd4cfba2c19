"""dxmi.baselines.ais: log Z of the normalised GMM by AIS."""

import pytest
import torch

from dxmi.baselines import ais
from dxmi.targets import GridGMM


def test_log_z_of_normalised_gmm_by_ais():
    res = ais(GridGMM(), 2000, n_levels=200, init_std=5.0, step_size=0.1, generator=torch.Generator().manual_seed(0))
    assert res.log_z == pytest.approx(0.0, abs=0.15)
    assert res.n_energy_evals == 2000 * 201
