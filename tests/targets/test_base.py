"""dxmi.targets.base: user energies (callables, module functions) and shape errors."""

import sys
import types

import pytest
import torch

from dxmi.targets import DW4, from_callable, load_target, make_target


def test_user_energy_callable_and_module_function(monkeypatch):
    t = from_callable(lambda x: (x**2).sum(1), dim=3)
    assert t(torch.ones(4, 3)).tolist() == [3.0] * 4 and t.effective_dim == 3
    mod = types.ModuleType("my_energies")
    mod.quartic = lambda x: (x**4).sum(1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "my_energies", mod)
    u = make_target("my_energies:quartic", dim=2)
    assert u(torch.full((2, 2), 2.0)).tolist() == [32.0, 32.0]
    with pytest.raises(ValueError, match="--dim"):
        load_target("my_energies:quartic")
    with pytest.raises(ValueError, match="no attribute"):
        load_target("my_energies:missing", 2)
    with pytest.raises(ValueError, match="unknown target"):
        make_target("nope")


def test_shape_errors_print_what_was_received():
    with pytest.raises(ValueError, match=r"received \(3, 5\)"):
        DW4()(torch.zeros(3, 5))
