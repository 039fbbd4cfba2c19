"""Network backbones. They know nothing of the algorithms: a backbone maps tensors to tensors."""

from dxmi.nets.egnn import EGNN
from dxmi.nets.ema import ema_update
from dxmi.nets.mlp import MLP, FourierFeatures, SinusoidalEmbedding, TimeMLP, check_shape

__all__ = ["EGNN", "MLP", "FourierFeatures", "SinusoidalEmbedding", "TimeMLP", "check_shape", "ema_update"]
