"""Frozen-config helpers: typed construction from dicts, dotted replacement, identity hash."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.config import check, config_hash, field_paths, from_dict, replace_path, replace_paths, to_dict
from core.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class _Inner:
    widths: tuple[int, ...] = (4, 4)
    lr: float = 0.1


@dataclass(frozen=True, kw_only=True)
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    target: int = 6
    name: str = "a"

    def __post_init__(self) -> None:  # an invariant tying two fields together
        check(self.target < sum(self.inner.widths), "target", f"expected < {sum(self.inner.widths)}, got {self.target}")


def test_from_dict_types_and_paths() -> None:
    cfg = from_dict(_Outer, {"inner": {"widths": [2, 3], "lr": 1}, "target": 4})
    assert cfg.inner.widths == (2, 3) and cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float)
    for bad, where in [
        ({"inner": {"lr": "x"}}, "inner.lr"),
        ({"inner": {"wid": 1}}, "inner.wid"),
        ({"target": True}, "target"),
        ({"inner": {"widths": [1, "a"]}}, "inner.widths[1]"),
    ]:
        with pytest.raises(ConfigError) as info:
            from_dict(_Outer, bad)
        assert info.value.path == where


def test_replace_paths_checks_the_combination_not_each_step() -> None:
    cfg = _Outer()
    with pytest.raises(ConfigError, match="target"):  # one at a time, the first step is invalid
        replace_path(cfg, "target", 12)
    both = replace_paths(cfg, {"target": 12, "inner.widths": (10, 10)})
    assert both.target == 12 and both.inner.widths == (10, 10)
    with pytest.raises(ConfigError) as info:
        replace_paths(cfg, {"inner.nope": 1})
    assert info.value.path == "inner.nope"


def test_hash_is_identity_of_the_full_config() -> None:
    a, b = _Outer(), from_dict(_Outer, {"target": 6})
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(replace_path(a, "inner.lr", 0.2))
    assert from_dict(_Outer, to_dict(a)) == a
    assert set(field_paths(_Outer)) == {"inner.widths", "inner.lr", "target", "name"}
