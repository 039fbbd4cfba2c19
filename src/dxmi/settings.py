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

__all__ = ["ConfigError", "from_dict", "merge", "parse_override", "to_dict"]


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


def merge(base: dict[str, Any], update: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``update`` laid over ``base``, nested mappings merged key by key (neither is modified). Keys
    inside a value that is not a mapping (``a.b=1`` after ``a=5``) are an error naming the key:
    laying them over it would drop the value without a word."""
    out = dict(base)
    for k, v in update.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v, key)
        elif isinstance(v, dict) and out.get(k) is not None:
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
