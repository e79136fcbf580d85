"""One recommendation, explained from measurements (issue 12, items 2 and 3).

Oracles: throughputs and ratios worked out by hand from the crafted samples
(throughput = batch x 1000 / mean ms); op, quantize/dequantize and partition counts of
hand-written .tflite graphs (tests/core/handmade_tflite.py) counted by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.auto.pareto import auto_recommendation, choose
from core.auto.results import MEASURED, AutoCandidate
from core.benchmark.explain import cited_value, explain
from core.benchmark.facts import measure_facts
from core.benchmark.litert_runner import LiteRTRunner
from core.benchmark.measure import benchmark_variants
from core.benchmark.recommend import recommend
from core.benchmark.results import BenchConfig, BenchmarkResult, ConfigResult, VariantFacts
from core.benchmark.stats import compute_stats
from core.engine.context import CancelToken, null_reporter
from core.jsonout import dumps, stamp
from core.optimize.recipes import recipe_for_mode
from core.schemas import BENCH, validate
from tests.core.handmade_tflite import build

CANNED = (
    "small layers",
    "conversion overhead",
    "on the fly",
    "reference kernels",
    "float16 weights",
    "dot-product",
    "usually faster",
    "usually as fast",
)


def config(variant: str, batch: int, samples: list[float], threads: int | None = 1, runner: str = "litert"):
    label = f"{variant} b{batch}" + ("" if threads is None else f" t{threads}")
    return ConfigResult(
        label, runner, variant, batch, threads, compute_stats(samples, batch_size=batch), 100.0, 1.0, "vmhwm"
    )


def crafted_configs() -> list[ConfigResult]:
    """dynamic has the lowest p50 at batch 1; int8 at batch 8 has the highest throughput within 10 ms."""
    return [
        config("fp32", 1, [0.10, 0.10, 0.10]),  # 10,000 samples/s
        config("dynamic", 1, [0.05, 0.05, 0.05]),  # 20,000 samples/s, lowest p50
        config("int8", 1, [0.06, 0.06, 0.06]),  # 16,667 samples/s
        config("int8", 8, [0.20, 0.20, 0.20]),  # 8 x 1000 / 0.2 = 40,000 samples/s
        config("dynamic", 8, [0.50, 0.50, 0.50]),  # 16,000 samples/s
    ]


def test_fastest_p50_and_recommended_differ_by_throughput():
    rec = recommend(crafted_configs(), 10.0, batch=1, threads=1)
    assert (rec.variant, rec.label, rec.batch_size, rec.threads) == ("int8", "int8 b8 t1", 8, 1)
    assert (rec.fastest_variant, rec.fastest_label) == ("dynamic", "dynamic b1 t1")
    assert rec.fastest_p50_ms == pytest.approx(0.05) and rec.throughput == pytest.approx(40_000)
    assert rec.why_not_fastest_kind == "throughput"
    # 40,000 / 20,000 samples/s = 2.0x, at batch 8
    assert "2.0x its throughput at batch 8" in rec.why_not_fastest and "40,000 vs 20,000" in rec.why_not_fastest
    assert rec.headline() == "Recommended: int8 (batch 8, 1 thread)"


def test_fastest_p50_outside_the_p99_budget():
    configs = [
        config("dynamic", 1, [0.05] * 98 + [30.0, 30.0]),  # lowest p50, p99 far over 10 ms
        config("int8", 1, [0.08] * 100),
    ]
    rec = recommend(configs, 10.0)
    assert rec.variant == "int8" and rec.fastest_variant == "dynamic" and rec.why_not_fastest_kind == "p99_budget"
    assert "exceeds the 10 ms budget" in rec.why_not_fastest


def test_same_configuration_has_no_why_line():
    rec = recommend([config("fp32", 1, [0.1, 0.1]), config("int8", 1, [0.05, 0.05])], 10.0)
    assert rec.variant == "int8" and rec.fastest_is_recommended and rec.why_not_fastest == ""


def test_auto_recommendation_names_the_tie_breaker():
    def cand(name, latency, size):
        return AutoCandidate(
            name=name,
            recipe=recipe_for_mode("fp32", name=name),
            status=MEASURED,
            size_bytes=size,
            quality=0.99,
            quality_label="agreement 99%",
            meets_budget=True,
            meets_quality=True,
            latency_ms=latency,
            latency_config=f"{name} b1 t2",
            threads=2,
            batch_size=1,
            throughput=1000 / latency,
        )

    candidates = [cand("fp32", 1.0, 1000), cand("dynamic", 0.500, 400), cand("int8", 0.505, 300)]
    choice, reasons = choose(candidates)
    rec = auto_recommendation(candidates, choice, reasons)
    assert (rec.variant, rec.label, rec.batch_size, rec.threads) == ("int8", "int8 b1 t2", 1, 2)
    assert rec.fastest_variant == "dynamic" and rec.why_not_fastest_kind == "size"
    assert "smaller (300 B vs 400 B)" in rec.why_not_fastest


def test_auto_recommendation_gives_the_throughput_of_its_own_configuration():
    """The recommendation is one configuration (variant, batch, threads): its samples/s are that one's,
    hand-computed from the samples (1 x 1000 / 0.06 ms), not the best of the sweep (b8: 40,000/s)."""
    b1, b8 = config("int8", 1, [0.06, 0.06, 0.06]), config("int8", 8, [0.20, 0.20, 0.20])
    bench = BenchmarkResult(
        model="m", config=BenchConfig(), configs=(b1, b8), recommendation=recommend([b1, b8], budget_ms=10)
    )
    candidate = AutoCandidate(
        name="int8",
        recipe=recipe_for_mode("int8"),
        status=MEASURED,
        size_bytes=100,
        quality=0.99,
        quality_label="agreement 99%",
        meets_budget=True,
        meets_quality=True,
        latency_ms=0.06,
        latency_config="int8 b1 t1",
        threads=1,
        batch_size=1,
        throughput=40_000.0,
        throughput_config="int8 b8 t1",
        bench=bench,
    )
    rec = auto_recommendation([candidate], candidate, ["fastest"])
    assert rec.label == "int8 b1 t1" and rec.throughput == pytest.approx(1000 / 0.06)


def _facts(variant, **kw) -> VariantFacts:
    values = dict(
        total_ops=5,
        op_counts=(("FULLY_CONNECTED", 5),),
        quantize_ops=0,
        dequantize_ops=0,
        added_quantize_ops=0,
        added_dequantize_ops=0,
        delegated_ops=5,
        partitions=1,
        kept_ops=(),
        xnnpack_on_p50_ms=0.05,
        xnnpack_off_p50_ms=0.20,
        ablation_batch=1,
        ablation_threads=1,
        ablation_calls=40,
    )
    values.update(kw)
    return VariantFacts(variant, **values)


def test_every_explanation_cites_the_measured_value():
    configs = [config("fp32", 1, [0.10, 0.10]), config("int8", 1, [0.30, 0.30])]
    facts = (
        _facts("fp32"),
        _facts(
            "int8",
            total_ops=7,
            quantize_ops=1,
            dequantize_ops=1,
            added_quantize_ops=1,
            added_dequantize_ops=1,
            delegated_ops=6,
            partitions=2,
            kept_ops=(("CUMSUM", 1),),
            xnnpack_on_p50_ms=0.30,
            xnnpack_off_p50_ms=0.33,
        ),
    )
    explained = explain(configs, {}, facts=facts)
    result = BenchmarkResult(
        "m",
        BenchConfig(runs=2),
        tuple(configs),
        recommend(configs, 10.0),
        explanations=tuple(e.text for e in explained),
        explained=tuple(explained),
        variant_facts=facts,
    )
    assert explained and all(e.source_field for e in explained)
    for e in explained:
        assert e.cited or e.general_advice, e.text
        for field, value in e.cited:
            assert cited_value(field, result) == value, (field, e.text)
        assert e.general_advice == e.text.startswith("General advice:")
    text = "\n".join(result.explanations)
    # The figures quoted are the crafted measurements: 6 of 7 ops, 2 partitions, +1/+1 quantize ops, 3.0x slower.
    assert "int8: XNNPACK took 6 of 7 ops in 2 partitions." in text
    assert "+1 QUANTIZE and +1 DEQUANTIZE" in text
    assert "int8 is slower than fp32 at every batch size and thread count measured: up to 3.0x" in text
    why = next(e for e in explained if e.text.startswith("int8 vs fp32, measured:"))
    assert "1 of its ops stay outside XNNPACK (CUMSUM) in 2 partitions, against 0 for fp32" in why.text
    assert "XNNPACK speeds it up 1.1x against 4.0x for fp32" in why.text  # 0.33/0.30 and 0.20/0.05
    assert not any(word in text for word in CANNED)


@pytest.mark.parametrize("variant", ["int8", "dynamic", "float16", "int16x8"])
def test_a_variant_without_measurements_gets_no_name_based_sentence(variant):
    configs = [config("fp32", 1, [0.1, 0.1]), config(variant, 1, [0.5, 0.5])]
    explained = explain(configs, {}, facts=())
    texts = [e.text for e in explained if e.variant == variant]
    assert f"{variant}: why it is slower was not measured" in "\n".join(texts)
    assert not any(word in t for t in texts for word in CANNED)


@pytest.fixture(scope="module")
def handmade():
    return {"fp32": build(["FC", "FC"]), "int8": build(["QUANTIZE", "DEQUANTIZE", "FC", "CUMSUM", "FC"])}


def test_handmade_tflite_op_partition_and_quantize_counts(handmade):
    runners = [LiteRTRunner(handmade["fp32"], variant="fp32"), LiteRTRunner(handmade["int8"], variant="int8")]
    fp32, int8 = measure_facts(runners, calls=5)
    # Counted by hand: fp32 = FC, FC (one partition); int8 = QUANTIZE, DEQUANTIZE, FC, CUMSUM, FC. XNNPACK takes
    # QUANTIZE, DEQUANTIZE and FULLY_CONNECTED but not CUMSUM, which splits the chain into two partitions.
    assert (fp32.total_ops, fp32.delegated_ops, fp32.partitions, fp32.kept_count) == (2, 2, 1, 0)
    assert (int8.total_ops, int8.quantize_ops, int8.dequantize_ops) == (5, 1, 1)
    assert (int8.added_quantize_ops, int8.added_dequantize_ops) == (1, 1)
    assert (int8.delegated_ops, int8.partitions, int8.kept_ops) == (4, 2, (("CUMSUM", 1),))
    assert dict(int8.op_counts) == {"QUANTIZE": 1, "DEQUANTIZE": 1, "FULLY_CONNECTED": 2, "CUMSUM": 1}
    for f in (fp32, int8):
        assert f.xnnpack_on_p50_ms > 0 and f.xnnpack_off_p50_ms > 0 and f.ablation_calls >= 3


def test_the_xnnpack_ablation_times_invoke_alone_as_the_table_does(handmade, monkeypatch):
    """The ablation's p50 sits beside the table's, so it times the same call: `LiteRTRunner.invoker` (invoke()
    on inputs set once), never `run_once` (which also sets inputs and copies outputs). Counted by hand for
    16 calls per side in 8 rounds: each side 2 warm-ups + 16 timed, and XNNPACK-off 1 more (the probe that
    sizes the rounds)."""
    from collections import Counter

    from core.benchmark.facts import xnnpack_ablation

    calls: Counter[bool] = Counter()
    real_invoker = LiteRTRunner.invoker

    def counting_invoker(self):
        invoke = real_invoker(self)

        def call():
            calls[self.xnnpack] += 1
            invoke()

        return call

    def no_run_once(self, inputs):
        raise AssertionError("run_once is not the table's timed call")

    monkeypatch.setattr(LiteRTRunner, "invoker", counting_invoker)
    monkeypatch.setattr(LiteRTRunner, "run_once", no_run_once)
    like = LiteRTRunner(handmade["fp32"], variant="fp32")
    on_ms, off_ms, timed = xnnpack_ablation(handmade["fp32"], like, calls=16)
    assert timed == 16 and on_ms > 0 and off_ms > 0
    assert calls == {True: 18, False: 19}


def test_unreadable_delegation_is_unknown_not_zero(handmade, monkeypatch):
    import core.adapters.litert as litert_adapter

    def moved(*_args, **_kwargs):
        raise AttributeError("'Interpreter' has no attribute 'NodeName'")

    monkeypatch.setattr(litert_adapter, "delegation_info", moved)
    [facts] = measure_facts([LiteRTRunner(handmade["int8"], variant="int8")], ablation=False)
    assert facts.delegated_ops is None and facts.partitions is None and facts.kept_count is None
    assert "not readable" in facts.delegation_error and "NodeName" in facts.delegation_error
    assert facts.total_ops == 5  # the flatbuffer count still stands
    [line] = [e for e in explain([], {}, facts=(facts,)) if "XNNPACK took" in e.text]
    assert "unknown" in line.text and line.source_field.endswith("delegation_error")


def test_benchmark_of_handmade_variants_explains_and_validates(handmade):
    data = {"x": np.linspace(0, 1, 64, dtype=np.float32).reshape(16, 4)}
    result = benchmark_variants(
        dict(handmade), BenchConfig(runs=5, warmup=1), progress=null_reporter(), cancel=CancelToken(), data=data
    )
    assert any(e.source_field == "data_profile.data_share" for e in result.explained)
    assert [f.variant for f in result.variant_facts] == ["fp32", "int8"]
    assert list(result.explanations) == [e.text for e in result.explained]
    for e in result.explained:
        for field, value in e.cited:
            assert cited_value(field, result) == value
    rec = result.recommendation
    assert rec.variant in ("fp32", "int8") and rec.label == next(
        c.label for c in result.configs if c.variant == rec.variant and c.batch_size == 1
    )
    document = json.loads(dumps(stamp(BENCH, result)))
    assert validate(document) == BENCH
    assert document["recommendation"]["variant"] == rec.variant
    assert document["variant_facts"][1]["partitions"] == 2
