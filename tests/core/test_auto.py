"""Auto mode: budget checks, the Pareto front and the recommendation, skipping, cancel, the cache, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.auto import (
    FAILED,
    MEASURED,
    MISSES_BUDGET,
    PENDING,
    SKIPPED,
    AutoBudget,
    AutoCandidate,
    AutoSettings,
    auto_optimize,
    check_budget,
    choose,
    pareto_front,
)
from core.auto.search import _data_parts
from core.data.loaders import DataSpec
from core.engine.context import CancelToken, Reporter, null_reporter
from core.engine.events import PartialEvent, ProgressEvent
from core.errors import BadInputError
from core.evaluation import Evaluation, evaluate_outputs
from core.evaluation.metrics import AccuracyMetrics, FidelityMetrics
from core.optimize.recipes import recipe_for_mode

# ---------------------------------------------------------------------------
# Budget (pure)


def _multiclass(accuracy: float | None, agreement: float) -> Evaluation:
    acc = None if accuracy is None else AccuracyMetrics(task="multiclass", samples=100, accuracy=accuracy)
    fid = FidelityMetrics(
        task="multiclass",
        samples=100,
        max_abs_diff=0.1,
        mean_abs_diff=0.01,
        cosine_similarity=0.999,
        cosine_over="sample",
        top1_agreement=agreement,
    )
    return Evaluation(task="multiclass", accuracy=acc, fidelity=fid)


def _binary(pr_auc: float, flipped_fraction: float) -> Evaluation:
    acc = AccuracyMetrics(task="binary", samples=100, accuracy=0.99, pr_auc=pr_auc, roc_auc=0.9)
    fid = FidelityMetrics(
        task="binary",
        samples=100,
        max_abs_diff=0.1,
        mean_abs_diff=0.01,
        cosine_similarity=0.99,
        cosine_over="array",
        flipped=int(flipped_fraction * 100),
        flipped_fraction=flipped_fraction,
        threshold=0.5,
    )
    return Evaluation(task="binary", accuracy=acc, fidelity=fid)


def test_accuracy_budget_multiclass_in_points():
    original = _multiclass(0.95, 1.0)
    budget = AutoBudget(max_accuracy_drop=0.01)
    assert check_budget(_multiclass(0.941, 0.97), original, 1000, budget).meets
    miss = check_budget(_multiclass(0.93, 0.99), original, 1000, budget)
    assert not miss.meets and not miss.meets_quality and miss.meets_size
    assert "accuracy drops by 0.0200" in miss.misses[0]
    assert miss.quality == pytest.approx(0.93)
    # Better than the original is fine (a negative drop).
    assert check_budget(_multiclass(0.97, 0.9), original, 1000, budget).meets


def test_accuracy_budget_binary_uses_pr_auc():
    original = _binary(0.80, 0.0)
    budget = AutoBudget(max_accuracy_drop=0.01)
    assert check_budget(_binary(0.795, 0.02), original, 10, budget).meets
    miss = check_budget(_binary(0.78, 0.0), original, 10, budget)
    assert not miss.meets and "PR-AUC drops by 0.0200" in miss.misses[0]


def test_accuracy_budget_regression_is_mae_increase():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    original = evaluate_outputs(y + 0.1, labels=y, task="regression")
    worse = evaluate_outputs(y + 0.5, labels=y, reference_outputs=y + 0.1, task="regression")
    assert check_budget(worse, original, 10, AutoBudget(max_accuracy_drop=0.5)).meets
    check = check_budget(worse, original, 10, AutoBudget(max_accuracy_drop=0.3))
    assert not check.meets and "MAE drops by 0.4000" in check.misses[0]
    assert check.quality_label.startswith("MAE 0.5000 (+0.4000)")


def test_agreement_budget_and_its_default():
    original = _multiclass(None, 1.0)
    assert check_budget(_multiclass(None, 0.995), original, 10, AutoBudget()).meets  # default: 99%
    check = check_budget(_multiclass(None, 0.98), original, 10, AutoBudget())
    assert not check.meets and "agreement 98.00% < 99%" in check.misses[0]
    assert check_budget(_binary(0.5, 0.02), _binary(0.5, 0.0), 10, AutoBudget(min_agreement=0.98)).meets
    assert not check_budget(_binary(0.5, 0.03), _binary(0.5, 0.0), 10, AutoBudget(min_agreement=0.98)).meets


def test_size_budget_and_nan():
    original = _multiclass(None, 1.0)
    check = check_budget(_multiclass(None, 1.0), original, 3 * 2**20, AutoBudget(max_size_bytes=2**20))
    assert check.meets_quality and not check.meets_size and "size 3 MiB > 1 MiB" in check.misses[0]
    nan = check_budget(_multiclass(None, float("nan")), original, 10, AutoBudget(min_agreement=0.5))
    assert not nan.meets


def test_accuracy_budget_without_labels_is_bad_input():
    with pytest.raises(BadInputError, match="labelled"):
        check_budget(_multiclass(None, 1.0), _multiclass(None, 1.0), 10, AutoBudget(max_accuracy_drop=0.01))


def test_budget_values_are_checked():
    with pytest.raises(BadInputError):
        AutoBudget(min_agreement=1.5)
    with pytest.raises(BadInputError):
        AutoBudget(max_accuracy_drop=-0.1)
    with pytest.raises(BadInputError):
        AutoBudget(max_size_bytes=0)


# ---------------------------------------------------------------------------
# Pareto front and recommendation (pure, fake candidates)


def _cand(name, latency, size, quality, meets=True, status=MEASURED, reason=""):
    return AutoCandidate(
        name=name,
        recipe=recipe_for_mode("fp32", name=name),
        status=status,
        reason=reason,
        size_bytes=size,
        quality=quality,
        quality_label=f"q {quality}",
        meets_budget=meets,
        meets_quality=meets,
        latency_ms=latency if status == MEASURED else None,
        threads=1,
        batch_size=1,
    )


def test_pareto_front_drops_dominated_candidates():
    fp32 = _cand("fp32", 1.0, 1000, 0.99)
    int8 = _cand("int8", 0.5, 300, 0.98)
    dyn = _cand("dynamic", 0.6, 300, 0.98)  # dominated by int8 (slower, same size and quality)
    f16 = _cand("float16", 0.9, 500, 0.99)  # faster and smaller than fp32, same quality: dominates it
    missed = _cand("int16x8", None, 100, 0.5, meets=False, status=MISSES_BUDGET)
    front = pareto_front([fp32, int8, dyn, f16, missed])
    assert [c.name for c in front] == ["int8", "float16"]


def test_nan_quality_counts_as_worst_in_the_front():
    good = _cand("a", 1.0, 100, 0.9)
    nan = _cand("b", 1.0, 100, float("nan"))
    assert [c.name for c in pareto_front([good, nan])] == ["a"]


def test_recommendation_is_the_fastest_within_budget_ties_go_to_smaller():
    fp32 = _cand("fp32", 1.0, 1000, 0.99)
    dyn = _cand("dynamic", 0.500, 400, 0.98)
    int8 = _cand("int8", 0.505, 300, 0.98)  # within 2% of dynamic: a tie, and smaller
    slow_small = _cand("x", 0.8, 100, 0.99)
    choice, reasons = choose([fp32, dyn, int8, slow_small])
    assert choice.name == "int8"
    assert "fastest of the 4 candidate(s)" in reasons[0]
    assert any("tie" in r for r in reasons)
    assert any("fp32 1.98x" in r for r in reasons)
    assert any("3.33x smaller than the fp32" in r for r in reasons)


def test_recommendation_ignores_candidates_outside_the_budget():
    fp32 = _cand("fp32", 1.0, 1000, 0.99)
    fast_bad = _cand("int8", None, 300, 0.90, meets=False, status=MISSES_BUDGET, reason="misses the budget: x")
    choice, reasons = choose([fp32, fast_bad])
    assert choice.name == "fp32"
    assert any("int8 (misses the budget: x)" in r for r in reasons)


def test_no_candidate_meets_the_budget():
    bad = _cand("fp32", None, 1000, 0.5, meets=False, status=MISSES_BUDGET, reason="misses the budget: size")
    choice, reasons = choose([bad])
    assert choice is None and "no candidate meets the budget" in reasons[0]
    assert pareto_front([bad]) == []


# ---------------------------------------------------------------------------
# Real runs on the fraud sample (tiny bench settings)

TINY = dict(threads=(1,), batch_sizes=(1,), seconds_per_config=0.05, warmup=2)


def _fraud_data(samples_dir):
    return DataSpec(
        path=str(samples_dir / "fraud_calib.npz"),
        eval_path=str(samples_dir / "fraud_eval.npz"),
        calibration_samples=100,
        eval_samples=2000,
    )


class Recorder:
    def __init__(self, cancel_after: int | None = None, token: CancelToken | None = None):
        self.partials: list[dict] = []
        self.messages: list[str] = []
        self.logs: list[str] = []
        self.cancel_after, self.token = cancel_after, token

    def __call__(self, event):
        if isinstance(event, PartialEvent) and event.kind == "auto_candidate":
            self.partials.append(event.payload)
            if self.cancel_after is not None and len(self.partials) >= self.cancel_after:
                self.token.cancel()
        elif isinstance(event, ProgressEvent) and event.stage == "auto":
            self.messages.append(event.message)
        elif hasattr(event, "level"):
            self.logs.append(event.message)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("auto-cache")


@pytest.fixture(scope="module")
def first_run(samples_dir, cache_dir):
    settings = AutoSettings(cache_dir=str(cache_dir), **TINY)
    recorder = Recorder()
    result = auto_optimize(
        str(samples_dir / "fraud.keras"),
        AutoBudget(max_accuracy_drop=0.01),
        _fraud_data(samples_dir),
        settings,
        progress=Reporter(recorder),
        cancel=CancelToken(),
    )
    return result, recorder, settings


def test_real_auto_run_on_the_fraud_sample(first_run):
    result, recorder, _ = first_run
    names = [c.name for c in result.candidates]
    assert names[:5] == ["fp32", "dynamic", "float16", "int8", "int16x8"]
    assert not result.cancelled and not result.setup_from_cache
    assert not any(c.from_cache for c in result.candidates)
    fp32 = result.candidate("fp32")
    assert fp32.status == MEASURED and fp32.latency_ms > 0 and fp32.meets_budget
    assert result.baseline_size_bytes == fp32.size_bytes
    # A candidate that misses the budget is evaluated but never benchmarked, and says why.
    for c in result.candidates:
        if c.status == MISSES_BUDGET:
            assert c.bench is None and c.latency_ms is None and c.reason.startswith("misses the budget")
        if c.status == SKIPPED:
            assert c.reason
    # Selective int8 is tried only when plain int8 misses the budget.
    selective = result.candidate("int8-selective")
    if result.candidate("int8").meets_budget:
        assert selective.status == SKIPPED and "already meets" in selective.reason
    elif selective.status == FAILED:
        assert selective.reason, selective  # a failure says why
    else:  # tried and built: benchmarked exactly when its figures keep the budget
        assert selective.meets_budget is not None, selective
        assert selective.status == (MEASURED if selective.meets_budget else MISSES_BUDGET), selective.reason
    # Pruning is ruled out with a stated reason (the fraud MLP runs at the per-call overhead floor).
    pruned = [c for c in result.candidates if c.name.startswith("structured")]
    assert len(pruned) == 2 and all(c.status == SKIPPED and "per call" in c.reason for c in pruned)
    # The recommendation: the fastest within the budget, with its bytes for export.
    within = [c for c in result.candidates if c.measured and c.meets_budget]
    assert result.recommended is not None
    chosen = result.candidate(result.recommended)
    assert chosen.latency_ms <= min(c.latency_ms for c in within) * 1.02 + 1e-12
    assert result.recommended_variant.name == result.recommended
    assert len(result.recommended_variant.tflite_bytes) == chosen.size_bytes
    assert result.reasons and result.recommended in result.reasons[0]
    assert set(result.pareto) <= {c.name for c in within} and result.pareto
    # Streaming: one partial per candidate, progress says done/total and the best so far.
    assert [p["name"] for p in recorder.partials] == names
    assert recorder.partials[-1]["done"] == len(names) == recorder.partials[-1]["total"]
    assert recorder.messages[-1].startswith(f"{len(names)}/{len(names)} candidates, best so far: ")
    json.dumps(result.summary())  # JSON-ready


def test_second_run_comes_from_the_cache_without_converting_or_measuring(first_run, samples_dir, monkeypatch):
    result, _, settings = first_run

    def refuse(*args, **kwargs):
        raise AssertionError("the second run must not open, convert or measure anything")

    import core.benchmark.measure as measure
    import core.optimize.session as session
    import core.optimize.source as source

    monkeypatch.setattr(source, "open_source", refuse)
    monkeypatch.setattr(session, "open_source", refuse)  # where OptimizeSession.open looks it up
    monkeypatch.setattr(session.OptimizeSession, "build_state", refuse)
    monkeypatch.setattr(measure, "run_benchmark", refuse)
    recorder = Recorder()
    again = auto_optimize(
        str(samples_dir / "fraud.keras"),
        AutoBudget(max_accuracy_drop=0.01),
        _fraud_data(samples_dir),
        settings,
        progress=Reporter(recorder),
        cancel=CancelToken(),
    )
    assert again.setup_from_cache and again.all_from_cache
    for c in again.candidates:
        if c.status in (MEASURED, MISSES_BUDGET, FAILED):
            assert c.from_cache, c.name
        if c.status == MEASURED:
            assert c.bench_from_cache, c.name
            assert c.latency_ms == result.candidate(c.name).latency_ms
    assert again.recommended == result.recommended
    assert again.recommended_variant.tflite_bytes == result.recommended_variant.tflite_bytes
    assert any(p["from_cache"] for p in recorder.partials)
    assert any("came from the cache" in m for m in recorder.logs)


def test_cancel_keeps_the_candidates_measured_so_far(samples_dir, tmp_path):
    token = CancelToken()
    recorder = Recorder(cancel_after=2, token=token)
    settings = AutoSettings(
        cache_dir=str(tmp_path), modes=("fp32", "dynamic", "float16"), selective=False, pruning="never", **TINY
    )
    result = auto_optimize(
        str(samples_dir / "fraud.keras"),
        AutoBudget(min_agreement=0.98),
        _fraud_data(samples_dir),
        settings,
        progress=Reporter(recorder),
        cancel=token,
    )
    assert result.cancelled
    assert [c.status for c in result.candidates[:2]] == [MEASURED, MEASURED]
    assert result.candidate("float16").status == PENDING
    # The recommendation comes from what was measured before the cancel, never from the pending float16.
    measured = {c.name for c in result.candidates if c.status == MEASURED}
    assert measured == {"fp32", "dynamic"} and result.recommended in measured
    assert result.recommended_variant is not None
    assert any("cancelled" in r for r in result.reasons)


def test_cache_keys_differ_when_the_data_file_changes(tmp_path, samples_dir):
    a = tmp_path / "a.npz"
    b = tmp_path / "b.npz"
    with np.load(samples_dir / "fraud_eval.npz") as f:
        x, y = f["x"][:50], f["y"][:50]
    np.savez(a, x=x, y=y)
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    np.savez(b, x=x, y=y2)
    check = lambda: None  # noqa: E731
    parts_a = _data_parts(DataSpec(path=str(a)), check)
    parts_b = _data_parts(DataSpec(path=str(b)), check)
    assert parts_a["path"] != parts_b["path"]
    from core.optimize.pipeline import variant_cache_key
    from core.optimize.session import SessionOptions

    recipe = recipe_for_mode("int8")
    at_05, at_04 = SessionOptions(threshold=0.5), SessionOptions(threshold=0.4)
    assert variant_cache_key("m", recipe, parts_a, at_05) != variant_cache_key("m", recipe, parts_b, at_05)
    assert variant_cache_key("m", recipe, parts_a, at_05) != variant_cache_key("m", recipe, parts_a, at_04)
    # The path itself does not matter, only the content.
    c = tmp_path / "c.npz"
    c.write_bytes(a.read_bytes())
    assert _data_parts(DataSpec(path=str(c)), check) == parts_a
    with pytest.raises(BadInputError, match="no such data file"):
        _data_parts(DataSpec(path=str(tmp_path / "missing.npz")), check)


def test_changed_data_is_not_served_from_the_cache(samples_dir, tmp_path):
    data = tmp_path / "eval.npz"
    with np.load(samples_dir / "fraud_eval.npz") as f:
        x, y = f["x"][:1000], f["y"][:1000]
    np.savez(data, x=x, y=y)
    settings = AutoSettings(
        cache_dir=str(tmp_path / "cache"), modes=("fp32",), selective=False, pruning="never", **TINY
    )
    spec = DataSpec(path=str(data), calibration_samples=50)

    def run():
        return auto_optimize(
            str(samples_dir / "fraud.keras"),
            AutoBudget(),
            spec,
            settings,
            progress=null_reporter(),
            cancel=CancelToken(),
        )

    assert not run().candidates[0].from_cache
    assert run().candidates[0].from_cache
    np.savez(data, x=x * 1.01, y=y)
    again = run()
    assert not again.setup_from_cache and not again.candidates[0].from_cache


def test_accuracy_budget_without_labels_fails_cleanly(samples_dir, tmp_path):
    data = tmp_path / "x.npy"
    with np.load(samples_dir / "fraud_eval.npz") as f:
        np.save(data, f["x"][:200])
    settings = AutoSettings(
        cache_dir=str(tmp_path / "cache"), modes=("fp32",), selective=False, pruning="never", **TINY
    )
    with pytest.raises(BadInputError, match="labelled"):
        auto_optimize(
            str(samples_dir / "fraud.keras"),
            AutoBudget(max_accuracy_drop=0.01),
            DataSpec(path=str(data)),
            settings,
            progress=null_reporter(),
            cancel=CancelToken(),
        )


def test_settings_are_checked():
    with pytest.raises(ValueError):
        AutoSettings(modes=("int8",))
    with pytest.raises(ValueError):
        AutoSettings(pruning="sometimes")
    with pytest.raises(ValueError):
        AutoSettings(prune_levels=(1.0,))


# ---------------------------------------------------------------------------
# CLI


@pytest.fixture
def inline_engine(monkeypatch):
    from core.cli import auto_mode
    from core.engine import Engine

    monkeypatch.setattr(auto_mode, "make_engine", lambda args: Engine(isolated=False))


def test_cli_auto_prints_the_table_and_exports_the_recommendation(
    samples_dir, tmp_path, capsys, monkeypatch, inline_engine
):
    from core.cli.main import main

    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "best.tflite"
    argv = [
        "optimize",
        str(samples_dir / "fraud.keras"),
        "--auto",
        "--min-agreement",
        "0.99",
        "--data",
        str(samples_dir / "fraud_calib.npz"),
        "--eval-data",
        str(samples_dir / "fraud_eval.npz"),
        "--eval-samples",
        "1000",
        "--calibration-samples",
        "100",
        "--threads",
        "1",
        "--seconds",
        "0.05",
        "-q",
        "dynamic,int8",
        "--no-prune",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "candidate" in text and "Pareto front" in text and "Recommended: " in text  # Recommendation.headline()
    assert "fp32" in text and "int8" in text and f"wrote {out}" in text
    report = json.loads(out.with_name("best.report.json").read_text())
    assert report["auto"]["recommended"] == report["variant"]
    # The same run again: served from the cache, and the table says so.
    assert main(argv + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["all_from_cache"] and summary["exports"][0]["tflite"] == str(out)
    assert all(c["from_cache"] for c in summary["candidates"] if c["status"] != "skipped")


def test_cli_auto_usage_errors(samples_dir, capsys):
    from core.cli.main import main

    model = str(samples_dir / "fraud.keras")
    assert main(["optimize", model, "--auto"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["optimize", model, "--auto", "--no-export", "--prune", "0.5"]) == 2
    assert (
        main(["optimize", model, "--auto", "--max-accuracy-drop", "0.01", "--min-agreement", "0.9", "--no-export"]) == 2
    )
    assert main(["optimize", model, "--max-size", "1", "--no-export"]) == 2
    assert "--auto" in capsys.readouterr().err
    assert main(["optimize", model, "--auto", "--no-export", "--threads", "0"]) == 2
    assert main(["optimize", model, "--auto", "--no-export", "--min-agreement", "2"]) == 2


def test_cache_command_info_and_clear(tmp_path, capsys, monkeypatch):
    from core.cache import ResultCache
    from core.cli.main import main

    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path))
    ResultCache().put("k1", b"x" * 100)
    ResultCache().put("k2", b"y" * 100)
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert str(tmp_path) in text and "entries: 2" in text
    assert main(["cache", "clear"]) == 0
    assert "cleared 2 entries" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_pruning_candidates_are_built_when_asked(samples_dir, tmp_path):
    settings = AutoSettings(
        cache_dir=str(tmp_path),
        modes=("fp32",),
        selective=False,
        pruning="always",
        prune_levels=(0.5,),
        prune_epochs=1,
        **TINY,
    )
    result = auto_optimize(
        str(samples_dir / "fraud.keras"),
        AutoBudget(min_agreement=0.5),
        _fraud_data(samples_dir),
        settings,
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    pruned = result.candidate("structured50+fp32")
    assert pruned.quality is not None, pruned.reason
    # min_agreement=0.5: measured when its agreement keeps the budget, else evaluated and left out.
    assert pruned.status == (MEASURED if pruned.quality >= 0.5 else MISSES_BUDGET), (pruned.quality, pruned.reason)
    assert pruned.size_bytes < result.candidate("fp32").size_bytes


def test_tflite_source_rules_out_pruning_and_selective(first_run, samples_dir, tmp_path):
    from core.auto import candidate_variant

    result, _, settings = first_run
    fp32 = candidate_variant(result, "fp32", _fraud_data(samples_dir))
    assert fp32 is not None and fp32.name == "fp32"
    model = tmp_path / "fraud.tflite"
    model.write_bytes(fp32.tflite_bytes)
    tiny = AutoSettings(cache_dir=str(tmp_path / "cache"), modes=("fp32", "int8"), **TINY)
    again = auto_optimize(
        str(model),
        AutoBudget(min_agreement=1.0),
        _fraud_data(samples_dir),
        tiny,
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    pruned = [c for c in again.candidates if c.name.startswith("structured")]
    assert pruned and all(c.status == SKIPPED and "needs a Keras model" in c.reason for c in pruned)
    selective = again.candidate("int8-selective")
    assert selective.status == SKIPPED
    assert any(s in selective.reason for s in ("needs a Keras or SavedModel", "already meets", "failed"))


def test_a_model_that_predicts_one_class_is_flagged(tmp_path):
    from core.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(
        3,
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([1.0, 0.0, 0.0]),
    )(inputs)
    path = tmp_path / "constant.keras"
    keras.Model(inputs, outputs).save(path)
    settings = AutoSettings(
        cache_dir=str(tmp_path / "cache"), modes=("fp32",), selective=False, pruning="never", **TINY
    )
    result = auto_optimize(
        str(path), AutoBudget(), DataSpec(), settings, progress=null_reporter(), cancel=CancelToken()
    )
    assert any("same class for every evaluation sample" in w for w in result.warnings)
    assert result.data.synthetic_data and result.recommended == "fp32"
