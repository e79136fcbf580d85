"""Magnitude pruning on Keras 3: schedule, exact per-layer sparsity, baking, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from core.compress.configs import MagnitudePruneConfig, MeasureConfig, config_from_dict
from core.compress.schedule import PolynomialDecay, default_schedule
from core.engine.context import CancelToken, null_reporter
from core.errors import BadInputError, Cancelled
from tests.core import compress_models as cm

NO_MEASURE = MeasureConfig(measure=False)


def test_polynomial_decay_schedule():
    s = PolynomialDecay(0.0, 0.5, begin_step=10, end_step=110, power=3.0, frequency=20)
    assert s.sparsity(0) == 0.0 and s.sparsity(10) == 0.0
    assert s.sparsity(60) == pytest.approx(0.5 - 0.5 * 0.5**3)
    assert s.sparsity(110) == 0.5 and s.sparsity(500) == 0.5
    assert [step for step in range(0, 200) if s.should_update(step)] == [10, 30, 50, 70, 90, 110]
    d = default_schedule(0.5, 100)
    assert d.end_step == 70 and d.frequency == 7


def test_magnitude_mask_removes_exactly_the_smallest():
    from core.compress.magnitude import magnitude_mask

    w = np.arange(1, 21, dtype="float32").reshape(4, 5) * np.where(np.arange(20) % 2, 1, -1).reshape(4, 5)
    mask = magnitude_mask(w, 0.3)
    assert int((mask == 0).sum()) == 6
    assert set(np.abs(w[mask == 0]).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}


def test_configs_are_validated():
    with pytest.raises(BadInputError):
        MagnitudePruneConfig(sparsity=1.0)
    with pytest.raises(BadInputError):
        config_from_dict(MagnitudePruneConfig, {"sparsity": 0.5, "bogus": 1})
    cfg = config_from_dict(MagnitudePruneConfig, {"sparsity": 0.7, "measure": {"measure": False}})
    assert cfg.sparsity == 0.7 and cfg.measure.measure is False


def test_prunes_each_layer_to_target_and_bakes_masks_into_plain_weights():
    model = cm.mlp()
    original = [w.copy() for w in model.get_weights()]
    x, y = cm.data(model, 96, classes=3)
    cfg = MagnitudePruneConfig(sparsity=0.6, per_layer={"out": 0.0}, epochs=2, batch_size=16, measure=NO_MEASURE)
    result = cm_prune(model, cfg, x, y)

    assert set(result.target_sparsity) == {"hidden_0", "hidden_1"}
    for name in ("hidden_0", "hidden_1"):
        assert result.layer_sparsity[name] == pytest.approx(0.6, abs=0.01)
    assert np.count_nonzero(result.model.get_layer("out").kernel.numpy() == 0) == 0
    # an ordinary model: same layers, same variables, no masks
    assert [type(l).__name__ for l in result.model.layers] == [type(l).__name__ for l in model.layers]
    assert len(result.model.weights) == len(model.weights)
    assert result.params == model.count_params()
    # the input model is untouched
    for before, after in zip(original, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert result.gzip_weights_after < result.gzip_weights_before
    assert len(result.history["loss"]) == 2


def test_without_labels_fine_tunes_on_the_original_outputs():
    model = cm.mlp(activation="sigmoid", n_out=1, sequential=False)
    x, _ = cm.data(model, 64)
    result = cm_prune(model, MagnitudePruneConfig(sparsity=0.5, epochs=1, measure=NO_MEASURE), x, None)
    assert result.overall_sparsity == pytest.approx(0.5, abs=0.01)
    assert "loss" in result.history


def test_progress_per_batch_and_cancel_at_the_next_batch(monkeypatch):
    from core.compress import training

    monkeypatch.setattr(training, "PROGRESS_MIN_INTERVAL_S", 0.0)
    model = cm.mlp()
    x, y = cm.data(model, 64, classes=3)
    rec = cm.Recorder()
    cm_prune(model, MagnitudePruneConfig(epochs=2, batch_size=16, measure=NO_MEASURE), x, y, reporter=rec.reporter)
    batch_events = [e for e in rec.events if "batch" in e.message]
    assert len(batch_events) == 2 * 4
    assert all(e.stage == "magnitude-prune" for e in rec.events)
    fractions = [e.fraction for e in rec.events if e.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    token = CancelToken()
    rec = cm.Recorder(token, cancel_after=3)
    with pytest.raises(Cancelled):
        cm_prune(
            model,
            MagnitudePruneConfig(epochs=5, batch_size=16, measure=NO_MEASURE),
            x,
            y,
            reporter=rec.reporter,
            cancel=token,
        )
    assert len([e for e in rec.events if "batch" in e.message]) <= 3


def test_unknown_per_layer_name_is_bad_input():
    model = cm.mlp()
    x, y = cm.data(model, 16, classes=3)
    with pytest.raises(BadInputError):
        cm_prune(model, MagnitudePruneConfig(per_layer={"nope": 0.5}, measure=NO_MEASURE), x, y)


def test_digits_50_percent_keeps_accuracy_and_reports_sizes(samples_dir):
    model, (xc, yc), (xe, ye) = cm.load_sample(samples_dir, "digits")
    before = cm.accuracy(model, xe, ye)
    cfg = MagnitudePruneConfig(sparsity=0.5, epochs=6, batch_size=32, measure=MeasureConfig(latency_runs=30))
    result = cm_prune(model, cfg, xc, yc)
    for name, s in result.layer_sparsity.items():
        assert s == pytest.approx(0.5, abs=0.01), name
    assert result.overall_sparsity == pytest.approx(0.5, abs=0.01)
    after = cm.accuracy(result.model, xe, ye)
    assert after >= before - 0.02, (before, after)
    # zeros compress; the flat .tflite size does not change; latency is measured and explained
    assert result.gzip_tflite_after < 0.8 * result.gzip_tflite_before
    assert abs(result.tflite_size_after - result.tflite_size_before) < 0.02 * result.tflite_size_before
    assert result.latency_ratio is not None and result.latency_ratio > 0
    assert any("latency" in note for note in result.notes)


def cm_prune(model, cfg, x, y, reporter=None, cancel=None):
    from core.compress.magnitude import magnitude_prune

    return magnitude_prune(model, cfg, x, y, progress=reporter or null_reporter(), cancel=cancel or CancelToken())
