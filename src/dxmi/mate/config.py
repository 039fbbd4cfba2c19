"""Training configuration: a typed record, YAML presets and ``key=value`` overrides.

Built with the package's settings machinery (:mod:`dxmi.settings`), as the run configuration
(:mod:`dxmi.config`) is: unknown keys, wrong types and out-of-range values are a one-line
:class:`~dxmi.settings.ConfigError` naming the key in full (and the file, when the file's own
settings are at fault).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dxmi.io import read_yaml
from dxmi.mate.agents import AgentConfig
from dxmi.settings import ConfigError, from_dict, merge, parse_override, to_dict
from dxmi.validation import check_ranges

__all__ = ["ConfigError", "MATEConfig", "config_from_dict", "load_config", "preset_names", "preset_path"]


@dataclass(frozen=True)
class MATEConfig:
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
        return to_dict(self)


def config_from_dict(data: dict[str, Any]) -> MATEConfig:
    """Build a :class:`MATEConfig` (:func:`dxmi.settings.from_dict`): unknown keys and mistyped
    or out-of-range values are a :class:`~dxmi.settings.ConfigError` naming the key in full."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping; got {type(data).__name__}")
    return from_dict(MATEConfig, data)


def preset_names() -> list[str]:
    """The packaged presets (``dxmi/mate/configs/<name>.yaml``)."""
    return sorted(p.name[:-5] for p in (resources.files("dxmi.mate") / "configs").iterdir()
                  if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    """Path of a packaged preset (``configs/<name>.yaml``)."""
    return Path(str(resources.files("dxmi.mate") / "configs" / f"{name}.yaml"))


def load_config(path_or_preset: str | None, overrides: list[str] | None = None) -> MATEConfig:
    """Load a YAML file (or packaged preset name), then apply ``key=value`` overrides.

    Nested keys use dots: ``agent.lr=1e-3``, ``env.length=20``, ``memory_kwargs.gate=true``;
    values are parsed as YAML.
    """
    data: dict[str, Any] = {}
    source = None
    if path_or_preset:
        path = Path(path_or_preset)
        if not path.exists():
            path = preset_path(path_or_preset)
        if not path.exists():
            raise ConfigError(f"config {path_or_preset!r} is neither a file nor a preset")
        data = read_yaml(path, "config") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping")
        source = path
    file_data = data
    for item in overrides or []:
        data = merge(data, parse_override(item))
    try:
        return config_from_dict(data)
    except ConfigError:
        if source is not None and file_data:  # an error of the file's own settings names the file
            try:
                config_from_dict(file_data)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from None
        raise
