"""Training configuration: a typed record, YAML presets and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dxmi.io import read_yaml, shorten
from dxmi.mate.agents import AgentConfig
from dxmi.validation import check_ranges


class ConfigError(ValueError):
    """A bad configuration (unknown key, wrong type); the message is one line."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a MATE training run needs.

    task / env: task name and its options; memory / memory_kwargs: memory name and options;
    width, embed_blocks, dropout: tokenizer; iterations: rollouts of ``num_envs`` episodes each;
    updates_per_step: gradient steps per environment step (0.1 in the reference);
    batch_episodes: episodes per update; warmup_iterations: rollouts before the first update;
    eps_*: epsilon-greedy schedule (DQN), linear over ``eps_decay_frac * iterations``;
    eval_every / eval_episodes: greedy evaluation; checkpoint_every: rollouts between saves.
    """

    task: str = "tmaze"
    env: dict[str, Any] = field(default_factory=dict)
    memory: str = "mate"
    memory_kwargs: dict[str, Any] = field(default_factory=dict)
    width: int = 64
    embed_blocks: int = 1
    dropout: float = 0.0
    seed: int = 0
    iterations: int = 100
    num_envs: int = 8
    batch_episodes: int = 32
    updates_per_step: float = 0.1
    replay_capacity: int = 2000
    warmup_iterations: int = 4
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_frac: float = 0.5
    eval_every: int = 20
    eval_episodes: int = 64
    checkpoint_every: int = 50
    agent: AgentConfig = field(default_factory=AgentConfig)

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("width", "embed_blocks", "num_envs", "batch_episodes", "replay_capacity",
                                         "eval_episodes", "eval_every", "checkpoint_every"),
                     non_negative=("iterations", "updates_per_step", "warmup_iterations"),
                     fraction=("dropout", "eps_start", "eps_end", "eps_decay_frac"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        full = [f"{where}.{k}" if where != "config" else k for k in unknown]
        raise ConfigError(f"unknown config key(s) {full} in {where}; valid: {sorted(names)}")


def _check_types(cls: type, cfg: Any, prefix: str = "") -> None:
    """Every field of ``cfg`` has the type of ``cls``'s default (ints accepted for floats)."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        want, got = type(getattr(defaults, f.name)), getattr(cfg, f.name)
        if want is float and isinstance(got, int) and not isinstance(got, bool):
            continue
        if not isinstance(got, want) or (want is not bool and isinstance(got, bool)):
            raise ConfigError(f"config key {prefix + f.name!r} must be {want.__name__}; got {got!r}")


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig`, rejecting unknown keys and mistyped values."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping; got {type(data).__name__}")
    _check_keys(TrainConfig, data, "config")
    data = dict(data)
    agent = data.pop("agent", {}) or {}
    if not isinstance(agent, dict):
        raise ConfigError(f"'agent' must be a mapping; got {agent!r}")
    _check_keys(AgentConfig, agent, "agent")
    for key in ("env", "memory_kwargs"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"{key!r} must be a mapping; got {data[key]!r}")
    try:
        agent_cfg = AgentConfig(**agent)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"agent.{e}") from None
    try:
        cfg = TrainConfig(agent=agent_cfg, **data)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    _check_types(AgentConfig, agent_cfg, "agent.")
    _check_types(TrainConfig, cfg)
    return cfg


def preset_path(name: str) -> Path:
    """Path of a packaged preset (``configs/<name>.yaml``)."""
    return Path(str(resources.files("dxmi.mate") / "configs" / f"{name}.yaml"))


def load_config(path_or_preset: str | None, overrides: list[str] | None = None) -> TrainConfig:
    """Load a YAML file (or packaged preset name), then apply ``key=value`` overrides.

    Nested keys use dots: ``agent.lr=1e-3``, ``env.length=20``, ``memory_kwargs.gate=true``;
    values are parsed as YAML.
    """
    data: dict[str, Any] = {}
    if path_or_preset:
        path = Path(path_or_preset)
        if not path.exists():
            path = preset_path(path_or_preset)
        if not path.exists():
            raise ConfigError(f"config {path_or_preset!r} is neither a file nor a preset")
        data = read_yaml(path, "config") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a mapping")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"override {shorten(item)!r}: the value is not valid YAML "
                              f"({shorten(str(getattr(e, 'problem', None) or e))})") from None
    return config_from_dict(data)
