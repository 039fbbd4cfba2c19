"""The outer loop: devices, distributed wrapping, logging, checkpoints, resume. One thin place."""

from dxmi.training.checkpoint import CheckpointManager, load_checkpoint, save_checkpoint
from dxmi.training.loggers import CSVLogger, Logger, MultiLogger, TensorBoardLogger
from dxmi.training.loop import NonFiniteLossError, Trainer
from dxmi.training.selection import BestCheckpoint

__all__ = [
    "BestCheckpoint",
    "CSVLogger",
    "CheckpointManager",
    "Logger",
    "MultiLogger",
    "NonFiniteLossError",
    "TensorBoardLogger",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
]
