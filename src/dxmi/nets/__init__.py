"""Network backbones. They know nothing of the algorithms: a backbone maps tensors to tensors."""

from dxmi.nets.mlp import MLP, SinusoidalEmbedding, TimeMLP, check_shape

__all__ = ["MLP", "SinusoidalEmbedding", "TimeMLP", "check_shape"]
