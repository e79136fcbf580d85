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


@dataclass(frozen=True)
class Numbers:
    epochs: int = 1
    rate: float = 0.1
    seed: int | None = 0
    flag: bool = False


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 2.7, "epochs must be a whole number, got 2.7"),  # crashed inside Keras's fit
        ("epochs", True, "epochs must be a whole number"),  # JSON true is not 1
        ("rate", float("nan"), "rate must be a finite number, got nan"),  # json.loads reads NaN
        ("rate", float("inf"), "rate must be a finite number"),
        ("seed", True, "seed must be a whole number (or null)"),
        ("flag", 1, "flag must be true or false"),
        ("epochs", "3", "epochs must be a whole number"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_plain(Numbers, {field: value})


def test_json_values_of_the_right_type_are_read():
    assert from_plain(Numbers, {"epochs": 3, "rate": 1, "seed": None, "flag": True}) == Numbers(3, 1, None, True)
