"""On-policy trajectory buffers (preallocated; never grown by concatenation)."""

from dxmi.buffers.trajectory import TrajectoryBuffer

__all__ = ["TrajectoryBuffer"]
