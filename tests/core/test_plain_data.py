"""core.plain_data: the one dict <-> dataclass converter of recipe step configs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.compress.configs import MagnitudePruneConfig, config_from_dict
from core.errors import BadInputError
from core.optimize.recipes import RecipeError, SelectiveConfig
from core.optimize.registry import dataclass_parser
from core.plain_data import from_plain, to_plain


@dataclass(frozen=True)
class Inner:
    depth: int = 1


@dataclass(frozen=True)
class Outer:
    names: tuple[str, ...] = ()
    inner: Inner | None = None
    scale: float = 1.0


def test_reads_and_writes_plain_json():
    data = {"names": ["a", "b"], "inner": {"depth": 3}}  # scale left out: its default stays
    config = from_plain(Outer, data, nested={"inner": Inner})
    assert config == Outer(names=("a", "b"), inner=Inner(depth=3), scale=1.0)
    assert to_plain(config) == {"names": ["a", "b"], "inner": {"depth": 3}, "scale": 1.0}
    assert from_plain(Outer, {"inner": None}, nested={"inner": Inner}) == Outer()


def test_unknown_fields_and_non_objects_raise_the_callers_error():
    with pytest.raises(KeyError, match=r"Outer: unknown field\(s\) colour, size"):
        from_plain(Outer, {"size": 1, "colour": 2}, error=KeyError)
    with pytest.raises(ValueError, match="Inner must be an object"):
        from_plain(Outer, {"inner": [1]}, nested={"inner": Inner})


def test_the_registry_and_the_compression_configs_read_alike():
    # Same reader, each with its own error class: a recipe error, or bad input (exit 3).
    with pytest.raises(RecipeError, match=r"unknown field\(s\) bogus"):
        dataclass_parser(SelectiveConfig)({"bogus": 1})
    with pytest.raises(BadInputError, match=r"unknown field\(s\) bogus"):
        config_from_dict(MagnitudePruneConfig, {"sparsity": 0.5, "bogus": 1})
    config = config_from_dict(MagnitudePruneConfig, {"sparsity": 0.25, "measure": {"latency_runs": 7}})
    assert config.sparsity == 0.25 and config.measure.latency_runs == 7
    assert config_from_dict(MagnitudePruneConfig, to_plain(config)) == config
