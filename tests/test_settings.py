"""The settings machinery shared by every config: free-form mappings, override merging, resume diffs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from dxmi.settings import ConfigError, changed_settings, from_dict, merge, parse_override


@dataclass
class _Section:
    rate: float = 0.1


@dataclass
class _Config:
    options: dict[str, Any] = field(default_factory=dict)
    section: _Section = field(default_factory=_Section)
    steps: int = 3


def test_a_free_form_mapping_must_be_a_mapping() -> None:
    assert from_dict(_Config, {"options": {"a": 1}}).options == {"a": 1}
    with pytest.raises(ConfigError, match=r"^options: expected a mapping, got 5$"):
        from_dict(_Config, {"options": 5})


def test_overrides_merge_into_mappings_and_an_empty_mapping_replaces() -> None:
    base = {"options": {"a": 1, "b": 2}, "section": {"rate": 0.5}}
    assert merge(base, parse_override("options.a=3")) == {"options": {"a": 3, "b": 2}, "section": {"rate": 0.5}}
    assert merge(base, parse_override("options={c: 1}"))["options"] == {"a": 1, "b": 2, "c": 1}
    assert merge(base, parse_override("options={}"))["options"] == {}
    with pytest.raises(ConfigError, match="steps is 3, not a mapping"):
        merge({"steps": 3}, parse_override("steps.x=1"))


def test_changed_settings_names_each_key_and_skips_the_free_ones() -> None:
    old = {"steps": 3, "section": {"rate": 0.1}, "options": {"a": 1}}
    assert changed_settings(old, old) == []
    new = {"steps": 5, "section": {"rate": 0.2}, "options": {"a": 1, "b": 2}}
    assert changed_settings(old, new) == ["options.b (run: None, now: 2)", "section.rate (run: 0.1, now: 0.2)",
                                          "steps (run: 3, now: 5)"]
    assert changed_settings(old, new, free=("section",), may_grow=("steps",)) == ["options.b (run: None, now: 2)"]
    assert changed_settings(old, {**old, "steps": 2}, may_grow=("steps",)) == ["steps (run: 3, now: 2)"]
    assert changed_settings(old, new, only=("section",)) == ["section.rate (run: 0.1, now: 0.2)"]
