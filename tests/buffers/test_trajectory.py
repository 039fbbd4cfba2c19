"""dxmi.buffers.trajectory: the trajectory buffer is preallocated and samples every step."""

import pytest
import torch

from dxmi.buffers import TrajectoryBuffer
from dxmi.records import Trajectory


def test_buffer_is_preallocated_and_samples_every_step():
    T, B = 4, 8
    buf = TrajectoryBuffer(T, B, (2,))
    ptr = buf.states.data_ptr()
    states = torch.arange((T + 1) * B * 2, dtype=torch.float32).reshape(T + 1, B, 2)
    buf.store(Trajectory(states=states, log_sigma=torch.zeros(T)))
    buf.store(Trajectory(states=states + 1, log_sigma=torch.zeros(T)))
    assert buf.states.data_ptr() == ptr
    batch = buf.sample(4000, torch.Generator().manual_seed(0))
    assert set(batch.t.tolist()) == set(range(T))
    # next_x is the successor of x in the same chain
    b = ((batch.x[:, 0] - 1) / 2 % B).long()
    assert torch.equal(batch.next_x, states[batch.t + 1, b] + 1)
    with pytest.raises(ValueError, match="does not fit"):
        buf.store(Trajectory(states=torch.zeros(T, B, 2), log_sigma=torch.zeros(T)))
