"""dxmi.nets.mlp: Fourier features, TimeMLP on features, and the value net's features from a config."""

import torch

from dxmi.nets import TimeMLP
from dxmi.values import TimeDependentValue


def test_fourier_features_are_fixed_and_deterministic():
    from dxmi.nets import FourierFeatures

    a, b = FourierFeatures(2, 8, scale=0.5, seed=3), FourierFeatures(2, 8, scale=0.5, seed=3)
    x = torch.randn(5, 2)
    assert torch.equal(a(x), b(x)) and a(x).shape == (5, 2 + 16)
    assert torch.equal(a(x)[:, :2], x)
    assert torch.allclose(a(x)[:, 2:10] ** 2 + a(x)[:, 10:] ** 2, torch.ones(5, 8), atol=1e-6)


def test_time_mlp_with_features_sees_the_features():
    """TimeMLP(features=phi) is TimeMLP on phi(x): its first layer takes phi's width, and two
    nets with the same weights but different feature maps disagree."""
    from dxmi.nets import FourierFeatures

    torch.manual_seed(0)
    a = TimeMLP(2, 1, hidden=16, depth=2, features=FourierFeatures(2, 8, scale=0.5, seed=1))
    b = TimeMLP(2, 1, hidden=16, depth=2, features=FourierFeatures(2, 8, scale=0.5, seed=2))
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.endswith(".B")}, strict=False)
    assert a.inp.in_features == 2 + 16
    x, t = torch.randn(6, 2), torch.arange(6).float()
    assert a(x, t).shape == (6, 1)
    assert not torch.allclose(a(x, t), b(x, t))
    b.features.B.copy_(a.features.B)
    assert torch.allclose(a(x, t), b(x, t))


def test_value_net_fourier_features_come_from_the_config():
    from dxmi.config import load_config
    from dxmi.energies import MLPEnergy
    from dxmi.experiment import build_value

    cfg = load_config("2spirals", ["sampler.value_net.fourier_features=4", "sampler.value_net.fourier_scale=0.3"])
    v = build_value(cfg, 2, MLPEnergy(2, hidden=8, depth=2))
    assert isinstance(v, TimeDependentValue) and v.net.features.B.shape == (4, 2)
    assert torch.allclose(v.net.features.B.std(), torch.tensor(0.3), rtol=0.9)
