"""dxmi.values.time_dependent: shapes and shape errors of the time-dependent value."""

import pytest
import torch

from dxmi.nets import TimeMLP
from dxmi.values import TimeDependentValue


def test_time_dependent_value_shapes():
    v = TimeDependentValue(TimeMLP(3, 1, hidden=16, depth=2), (3,), 4)
    out = v(torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0]))
    assert out.shape == (5,)
    with pytest.raises(ValueError, match="received x"):
        v(torch.randn(5, 2), torch.zeros(5, dtype=torch.long))
