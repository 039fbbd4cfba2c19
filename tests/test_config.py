"""dxmi.config: every preset loads; overrides and their errors."""

import pytest

from dxmi.config import ConfigError, load_config, parse_override, preset_names


def test_every_preset_loads():
    names = preset_names()
    assert {"8gaussians", "2spirals", "checkerboard"} <= set(names)
    from dxmi.experiment import DATASETS

    for n in names:
        cfg = load_config(n)
        # a built-in dataset of the preset's own name, or a registered loader (the GPU paper presets
        # read CIFAR-10 batches or an image folder / array named by data.path)
        assert cfg.data.name == n or cfg.data.name in DATASETS, (n, cfg.data.name)


def test_overrides_and_errors():
    cfg = load_config("8gaussians", ["train.algo.tau1=0.0", "sampler.num_steps=10", "seed=4"])
    assert cfg.train.algo.tau1 == 0.0 and cfg.sampler.num_steps == 10 and cfg.seed == 4
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    assert load_config("8gaussians", ["train.algo.sampler_lr=3e-5"]).train.algo.sampler_lr == 3e-5
    with pytest.raises(ConfigError, match="unknown config key 'train.algo.tau3'"):
        load_config("8gaussians", ["train.algo.tau3=1"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config("8gaussians", ["sampler.num_steps=abc"])
    with pytest.raises(ConfigError, match="velocity_init"):
        load_config("8gaussians", ["train.algo.velocity_init=bad"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("no_such_preset")
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("novalue")
