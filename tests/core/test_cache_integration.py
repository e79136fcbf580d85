"""The result cache wired into measuring: a repeated measurement is served from disk and says so."""

from __future__ import annotations

import numpy as np
import pytest

from core.benchmark.measure import CACHE_NOTE, measure_tflite, served_from_cache
from core.benchmark.results import BenchConfig
from core.cache import ResultCache


@pytest.fixture(scope="module")
def tflite_bytes():
    from core.tf_runtime import import_keras, import_tensorflow

    keras = import_keras()
    tf = import_tensorflow()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def test_measurement_is_cached_by_model_and_config(tflite_bytes, tmp_path, monkeypatch):
    cache = ResultCache(tmp_path)
    config = BenchConfig(runs=5, warmup=1)
    first = measure_tflite(tflite_bytes, config, variant="fp32", cache=cache)
    assert not served_from_cache(first) and cache.stats().entries == 1

    import core.benchmark.measure as measure

    def refuse(*args, **kwargs):
        raise AssertionError("served from the cache: nothing is measured")

    monkeypatch.setattr(measure, "run_benchmark", refuse)
    again = measure_tflite(tflite_bytes, config, variant="fp32", cache=cache)
    assert served_from_cache(again) and CACHE_NOTE in again.notes
    assert again.configs == first.configs
    # Another config, another variant name or other bytes: a miss.
    for kwargs in ({"config": BenchConfig(runs=6, warmup=1), "variant": "fp32"}, {"config": config, "variant": "int8"}):
        with pytest.raises(AssertionError, match="served from the cache"):
            measure_tflite(tflite_bytes, kwargs["config"], variant=kwargs["variant"], cache=cache)


def test_without_a_cache_nothing_is_stored(tflite_bytes, tmp_path, monkeypatch):
    """No cache given: nothing in the folder a default cache would use, and no cache written anywhere."""
    import core.cache as cache_module

    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "cache"))  # where ResultCache() would write
    writes = []
    monkeypatch.setattr(cache_module.ResultCache, "put", lambda self, *a, **k: writes.append(self.folder))
    result = measure_tflite(tflite_bytes, BenchConfig(runs=3, warmup=0))
    assert not served_from_cache(result) and result.configs
    assert writes == [] and not (tmp_path / "cache").exists()
    # The check can fail: the same call with a default cache writes exactly there.
    measure_tflite(tflite_bytes, BenchConfig(runs=3, warmup=0), cache=ResultCache())
    assert writes == [tmp_path / "cache"]


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "c"))
    cache = ResultCache()
    assert cache.folder == tmp_path / "c"
    cache.put("k", 1)
    assert cache.stats().entries == 1 and cache.clear() == 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.core.optimize_models import classifier

    return classifier(tmp_path_factory.mktemp("cache-model"), n=200)


def test_optimize_model_serves_a_repeated_run_from_the_cache(tiny, tmp_path, monkeypatch):
    from core.engine.context import CancelToken, null_reporter
    from core.optimize import session as session_module
    from core.optimize.pipeline import CACHE_NOTE, optimize_model
    from core.optimize.session import OptimizeSession

    model, data = tiny
    cache = ResultCache(tmp_path)
    spec = {"path": str(data), "calibration_samples": 32}
    first = optimize_model(
        str(model), ["fp32", "int8"], spec, progress=null_reporter(), cancel=CancelToken(), cache=cache
    )
    assert not any(CACHE_NOTE in v.warnings for v in first.variants)

    built: list[str] = []
    real_build = OptimizeSession.build_state

    def counting(self, recipe, progress):
        built.append(recipe.name)
        return real_build(self, recipe, progress)

    monkeypatch.setattr(OptimizeSession, "build_state", counting)
    # Everything cached: the model is not even opened.
    real_open = session_module.open_source

    def refuse(path, **kwargs):
        raise AssertionError("the model was opened")

    monkeypatch.setattr(session_module, "open_source", refuse)
    again = optimize_model(
        str(model), ["fp32", "int8"], spec, progress=null_reporter(), cancel=CancelToken(), cache=cache
    )
    assert [v.name for v in again.variants] == ["fp32", "int8"]
    assert all(CACHE_NOTE in v.warnings for v in again.variants)
    assert again.variant("int8").tflite_bytes == first.variant("int8").tflite_bytes
    assert again.original_evaluation == first.original_evaluation and not built
    # One new recipe: only that one is built (plus the fp32 baseline every run makes).
    monkeypatch.setattr(session_module, "open_source", real_open)
    mixed = optimize_model(
        str(model), ["int8", "float16"], spec, progress=null_reporter(), cancel=CancelToken(), cache=cache
    )
    assert CACHE_NOTE in mixed.variant("int8").warnings and CACHE_NOTE not in mixed.variant("float16").warnings
    assert "float16" in built and "int8" not in built
    # Other data: a miss.
    other = tmp_path / "other.npz"
    with np.load(data) as f:
        np.savez(other, x=f["x"][:100], y=f["y"][:100])
    fresh = optimize_model(
        str(model),
        ["int8"],
        {"path": str(other), "calibration_samples": 32},
        progress=null_reporter(),
        cancel=CancelToken(),
        cache=cache,
    )
    assert CACHE_NOTE not in fresh.variant("int8").warnings


def test_cli_optimize_says_when_variants_come_from_the_cache(tiny, tmp_path, capsys, monkeypatch):
    from core.cli import optimize as optimize_cli
    from core.cli.main import main
    from core.engine import Engine

    monkeypatch.setattr(optimize_cli, "make_engine", lambda args: Engine(isolated=False))
    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "cache"))
    model, data = tiny
    argv = ["optimize", str(model), "-q", "dynamic", "--data", str(data), "--no-export"]
    assert main(argv) == 0
    assert "result cache" not in capsys.readouterr().out
    assert main(argv) == 0
    assert "dynamic: served from the result cache" in capsys.readouterr().out
    assert main(argv + ["--no-cache"]) == 0
    assert "result cache" not in capsys.readouterr().out
