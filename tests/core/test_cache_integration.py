"""The result cache wired into measuring: a repeated measurement is served from disk and says so."""

from __future__ import annotations

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
    for kwargs in ({"config": BenchConfig(runs=6, warmup=1), "variant": "fp32"},
                   {"config": config, "variant": "int8"}):
        with pytest.raises(AssertionError, match="served from the cache"):
            measure_tflite(tflite_bytes, kwargs["config"], variant=kwargs["variant"], cache=cache)


def test_without_a_cache_nothing_is_stored(tflite_bytes, tmp_path):
    result = measure_tflite(tflite_bytes, BenchConfig(runs=3, warmup=0))
    assert not served_from_cache(result)
    assert not list(tmp_path.iterdir())


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "c"))
    cache = ResultCache()
    assert cache.folder == tmp_path / "c"
    cache.put("k", 1)
    assert cache.stats().entries == 1 and cache.clear() == 1
