"""The VGS presets are YAML files (``dxmi/configs/vgs/<target>.yaml`` and ``default.yaml``) read by
:func:`~dxmi.algorithms.vgs.make_config`. They hold the settings of the Python dicts they replaced: the full
:class:`~dxmi.algorithms.vgs.VGSConfig` each one built then is frozen below."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest
import yaml

from dxmi.algorithms.vgs import VGSConfig, make_config, preset_names, read_preset
from dxmi.settings import ConfigError

# dataclasses.asdict(make_config(name)) when the presets were dicts in dxmi/algorithms/vgs.py
FROZEN: dict[str, dict] = {
    "gmm": {"num_steps": 20, "schedule": "quad", "s2_start": 0.2, "s2_end": 0.1, "variant": "vp", "tau": 1.0,
        "ema": 0.9, "batch_size": 128, "iterations": 3000, "n_update": 1, "td_batch": 0, "value_lr": 0.0001,
        "s_init_lr": 0.001, "s_init": 3.0, "learn_s_init": True, "s_init_per_dim": False, "explore_noise": 1.2,
        "sample_noise": 1.0, "sample_value": "online", "energy_clip": None, "energy_clip_kind": "hard",
        "drift_clip": None, "max_grad_norm": 1.0, "td_loss": "l2", "td_lambda": None, "replay_chains": 0,
        "replay_steps": 1, "fused_adam": False,
        "net": {"hidden": 1024, "depth": 3, "time_dim": 1024,
                "features": "identity", "scale_with_d": False, "dedup_times": False},
        "seed": 0, "device": "cpu"},
    "funnel": {"num_steps": 30, "schedule": "quad", "s2_start": 0.5, "s2_end": 0.0005, "variant": "ve", "tau": 1.0,
        "ema": 0.95, "batch_size": 1024, "iterations": 2000, "n_update": 1, "td_batch": 0, "value_lr": 0.0001,
        "s_init_lr": 0.01, "s_init": 1.0, "learn_s_init": True, "s_init_per_dim": False, "explore_noise": 1.1,
        "sample_noise": 1.0, "sample_value": "online", "energy_clip": 100.0, "energy_clip_kind": "hard",
        "drift_clip": None, "max_grad_norm": 1.0, "td_loss": "l2", "td_lambda": None, "replay_chains": 0,
        "replay_steps": 1, "fused_adam": False,
        "net": {"hidden": 1024, "depth": 4, "time_dim": 1024,
                "features": "identity", "scale_with_d": True, "dedup_times": False},
        "seed": 0, "device": "cpu"},
    "dw4": {"num_steps": 30, "schedule": "quad", "s2_start": 0.3, "s2_end": 0.01, "variant": "ve", "tau": 1.0,
        "ema": 0.95, "batch_size": 512, "iterations": 3000, "n_update": 1, "td_batch": 0, "value_lr": 0.0001,
        "s_init_lr": 0.003, "s_init": 2.0, "learn_s_init": True, "s_init_per_dim": False, "explore_noise": 1.1,
        "sample_noise": 1.0, "sample_value": "online", "energy_clip": 100.0, "energy_clip_kind": "hard",
        "drift_clip": 10.0, "max_grad_norm": 1.0, "td_loss": "l2", "td_lambda": None, "replay_chains": 0,
        "replay_steps": 1, "fused_adam": False,
        "net": {"hidden": 256, "depth": 3, "time_dim": 64,
                "features": "distances", "scale_with_d": True, "dedup_times": False},
        "seed": 0, "device": "cpu"},
    "lj13": {"num_steps": 100, "schedule": "quad", "s2_start": 0.05, "s2_end": 0.0001, "variant": "ve", "tau": 1.0,
        "ema": 0.95, "batch_size": 512, "iterations": 3000, "n_update": 1, "td_batch": 0, "value_lr": 0.0001,
        "s_init_lr": 0.01, "s_init": 1.0, "learn_s_init": True, "s_init_per_dim": False, "explore_noise": 1.1,
        "sample_noise": 0.9, "sample_value": "online", "energy_clip": 100.0, "energy_clip_kind": "hard",
        "drift_clip": 10.0, "max_grad_norm": 1.0, "td_loss": "l2", "td_lambda": None, "replay_chains": 0,
        "replay_steps": 1, "fused_adam": False,
        "net": {"hidden": 256, "depth": 3, "time_dim": 64,
                "features": "distances", "scale_with_d": True, "dedup_times": False},
        "seed": 0, "device": "cpu"},
    "default": {"num_steps": 20, "schedule": "quad", "s2_start": 0.2, "s2_end": 0.01, "variant": "ve", "tau": 1.0,
        "ema": 0.9, "batch_size": 256, "iterations": 1000, "n_update": 1, "td_batch": 0, "value_lr": 0.001,
        "s_init_lr": 0.001, "s_init": 1.0, "learn_s_init": True, "s_init_per_dim": False, "explore_noise": 1.1,
        "sample_noise": 1.0, "sample_value": "online", "energy_clip": 10000.0, "energy_clip_kind": "hard",
        "drift_clip": None, "max_grad_norm": 1.0, "td_loss": "l2", "td_lambda": None, "replay_chains": 0,
        "replay_steps": 1, "fused_adam": False,
        "net": {"hidden": 128, "depth": 3, "time_dim": 64,
                "features": "identity", "scale_with_d": False, "dedup_times": False},
        "seed": 0, "device": "cpu"},
}


def test_every_preset_ships_as_a_yaml_file():
    assert preset_names() == sorted(FROZEN)
    folder = resources.files("dxmi.configs") / "vgs"
    for name in FROZEN:
        text = (folder / f"{name}.yaml").read_text()
        assert text.startswith("# "), f"{name}.yaml: a comment header says where its settings come from"
        assert yaml.safe_load(text) == read_preset(name)


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_make_config_builds_the_same_config_as_before(name):
    target = name if name != "default" else "banana"  # a target without a preset of its own
    cfg = make_config(target)
    assert dataclasses.asdict(cfg) == FROZEN[name]
    for key, value in FROZEN[name].items():  # the types too (0.0001 a float, not the string "1e-4")
        assert type(getattr(cfg, key)) is type(value) or key == "net", key


def test_key_fields_of_the_presets():
    gmm, funnel, lj13, other = (make_config(n) for n in ("gmm", "funnel", "lj13", "u1"))
    assert (gmm.num_steps, gmm.variant, gmm.s2_end, gmm.batch_size, gmm.net.hidden) == (20, "vp", 0.1, 128, 1024)
    assert (funnel.num_steps, funnel.s2_end, funnel.energy_clip, funnel.net.scale_with_d) == (30, 0.0005, 100.0, True)
    assert (lj13.num_steps, lj13.sample_noise, lj13.net.features) == (100, 0.9, "distances")
    assert (other.num_steps, other.variant, other.energy_clip, other.value_lr) == (20, "ve", 1e4, 1e-3)
    assert make_config("mypkg.energies:banana") == other  # a module:function target: the generic preset


def test_overrides_base_and_yaml_floats():
    cfg = make_config("gmm", ["value_lr=3e-5", "energy_clip=1e4", "net.hidden=64", "td_lambda=5e-1",
                              "explore_noise=1.0"])
    assert (cfg.value_lr, cfg.energy_clip, cfg.net.hidden, cfg.td_lambda) == (3e-5, 1e4, 64, 0.5)
    assert cfg.net.time_dim == 1024  # the rest of the preset stays
    saved = dataclasses.asdict(make_config("dw4"))
    assert make_config("gmm", ["seed=3"], base=saved) == dataclasses.replace(make_config("dw4"), seed=3)
    assert make_config("gmm", [], base={}) == VGSConfig()
    with pytest.raises(ConfigError, match="unknown VGS preset 'nope'"):
        read_preset("nope")
    with pytest.raises(ConfigError, match="value_lr: expected a number"):
        make_config("gmm", ["value_lr=fast"])
