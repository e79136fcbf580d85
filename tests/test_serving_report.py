"""The serving study's text and HTML renderings, and its partial payloads through the engine's unpickler."""

from __future__ import annotations

import pickle

import pytest

from core.engine.unpickle import loads_from_child
from core.serving.api import (
    BatchPolicy,
    CacheEffect,
    LatencyParts,
    LoadPoint,
    Percentiles,
    ServingStudy,
    VariantServing,
)
from core.serving.report import format_study, serving_html, study_document


def _study() -> ServingStudy:
    pct = Percentiles(1.0, 2.0, 3.0, 4.0, 1.5)
    real = LoadPoint(
        "a<b>",
        BatchPolicy(8, 1.0, 2),
        800.0,
        790.0,
        0.3,
        True,
        2400,
        LatencyParts(pct, pct, pct, pct),
        simulated=False,
        saturated=False,
        mean_batch=3.2,
    )
    cache = CacheEffect(100, 0.4, 2.0, 3.0, 0.6, False, "an LRU of 100 predictions answers 40.0% of requests")
    variant = VariantServing(
        "a<b>",
        "/m/a.tflite",
        {1: (0.1, 0.2), 8: (0.3,)},
        (real,),
        900.0,
        300.0,
        BatchPolicy(8, 1.0, 2),
        1000.0,
        real,
        0.08,
        cache,
        None,
        caches=(cache,),
    )
    return ServingStudy(
        5.0, (800.0,), (variant,), "a<b>", BatchPolicy(8, 1.0, 2), 0.25, ("note & more",), target_rps=800.0
    )


def test_html_escapes_and_says_the_recommendation():
    page = serving_html(_study())
    assert "a&lt;b&gt;" in page and "a<b>" not in page and "note &amp; more" in page
    assert "+25% headroom" in page and "batch&lt;=8" in page


def test_text_and_document():
    text = format_study(_study())
    assert "recommendation: a<b> with batch<=8, wait<=1 ms, 2 workers (+25% headroom over 800/s)" in text
    assert "differs from the real runs by 8%" in text
    doc = study_document(_study())
    first = doc["variants"][0]["service_ms"][0]
    assert (first["batch"], first["samples"]) == (1, 2)
    assert first["p50_ms"] == pytest.approx(0.15) and first["mean_ms"] == pytest.approx(0.15)
    assert "service_ms_by_batch" not in doc["variants"][0]


def test_partial_payload_passes_the_engines_unpickler():
    point = _study().variants[0].curve[0]
    assert repr(loads_from_child(pickle.dumps(point))) == repr(point)  # repr: its NaN fields compare unequal
