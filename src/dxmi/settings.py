"""Typed settings from nested dicts: the machinery behind every config of the package.

:func:`from_dict` builds a (nested) dataclass from a dict such as a parsed YAML file, rejecting
unknown keys and wrong types with a :class:`ConfigError` that names the key in full;
:func:`parse_override` reads ``key.sub=value`` overrides and :func:`merge` lays them over a dict.
The run configuration (:mod:`dxmi.config`) and the algorithms' own configs (VGS, anomaly
detection, MATE) are built with it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

import yaml

from dxmi.io import shorten

__all__ = ["ConfigError", "changed_settings", "flatten", "from_dict", "merge", "parse_override", "to_dict"]


class ConfigError(ValueError):
    """A setting that is unknown, of the wrong type or out of range (the message names its key)."""


T = TypeVar("T")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, key)  # type: ignore[arg-type]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys by name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for k in data:
        if k not in names:
            where = f"{prefix}.{k}" if prefix else k
            raise ConfigError(f"unknown config key {where!r}; valid keys here: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(_name_key(str(e), prefix, names, cls.__name__)) from None


def _name_key(message: str, prefix: str, names: set[str], cls_name: str) -> str:
    """A dataclass's check message with its key in full: "sampler_lr must be >= 0" in section
    train.algo -> "train.algo.sampler_lr must be >= 0" (other messages: "train.algo: ...")."""
    first = message.split(" ", 1)[0]
    if first in names:
        return f"{prefix}.{message}" if prefix else message
    return f"{prefix or cls_name}: {message}"


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"a.b.c": leaf}`` (a leaf: anything that is not a dict)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def changed_settings(old: dict[str, Any], new: dict[str, Any], free: tuple[str, ...] = (),
                     may_grow: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> list[str]:
    """The settings that differ between two nested dicts (a run's recorded settings and the ones it
    is resumed with), one ``"key (run: old, now: new)"`` each, sorted by key. ``free``: keys (and the
    sections under them) that may change; ``may_grow``: integer keys that may only grow (train longer);
    ``only``: when given, the keys outside these sections are not compared."""
    a, b = flatten(old), flatten(new)
    diff = []
    for k in sorted(set(a) | set(b)):
        if _under(k, free) or (only is not None and not _under(k, only)):
            continue
        x, y = a.get(k), b.get(k)
        if x == y or (k in may_grow and isinstance(x, int) and isinstance(y, int) and y >= x):
            continue
        diff.append(f"{k} (run: {shorten(repr(x), 40)}, now: {shorten(repr(y), 40)})")
    return diff


def merge(base: dict[str, Any], update: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``update`` laid over ``base``, nested mappings merged key by key (neither is modified). An empty
    mapping replaces the value (``env={}``: no options, as given). Keys inside a value that is not a
    mapping (``a.b=1`` after ``a=5``) are an error naming the key: laying them over it would drop the
    value without a word."""
    out = dict(base)
    for k, v in update.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v, key)
        elif isinstance(v, dict) and v and out.get(k) is not None:
            raise ConfigError(f"{key} is {shorten(repr(out[k]), 60)}, not a mapping: it has no key "
                              f"{next(iter(v), '')!r}")
        else:
            out[k] = v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> {"a": {"b": {"c": value}}}; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key part")
    try:
        value: Any = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {shorten(text)!r}: the value is not valid YAML "
                          f"({shorten(str(getattr(e, 'problem', None) or e))})") from None
    for part in reversed(key.split(".")):
        value = {part: value}
    return value  # type: ignore[no-any-return]
