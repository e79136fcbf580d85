"""Distillation through keras.distillation.Distiller: students, labels or none, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from core.compress.configs import DistillConfig, MeasureConfig
from core.engine.context import CancelToken, null_reporter
from core.errors import BadInputError, Cancelled
from tests.core import compress_models as cm

NO_MEASURE = MeasureConfig(measure=False)


def run(teacher, cfg, x, y=None, reporter=None, cancel=None, validation=None):
    from core.compress.distill import distill

    return distill(
        teacher, cfg, x, y, validation=validation, progress=reporter or null_reporter(), cancel=cancel or CancelToken()
    )


def test_output_distillation_loss_is_zero_for_identical_outputs_and_positive_otherwise():
    from core.compress.distill import _distillation_loss_class

    loss = _distillation_loss_class()(3.0, "softmax", 3)
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    q = np.array([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]], dtype="float32")
    assert float(loss.compute_loss(p, p)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss.compute_loss(p, q)) > 0.1
    binary = _distillation_loss_class()(2.0, "sigmoid", 1)
    s = np.array([[0.9], [0.05]], dtype="float32")
    assert float(binary.compute_loss(s, s)) == pytest.approx(0.0, abs=1e-6)
    assert float(binary.compute_loss(s, 1.0 - s)) > 0.1


def test_width_student_without_labels_leaves_the_teacher_alone():
    teacher = cm.residual_cnn(channels=8)
    before = [w.copy() for w in teacher.get_weights()]
    x, _ = cm.data(teacher, 32)
    result = run(teacher, DistillConfig(student="width:0.5", epochs=1, batch_size=16, measure=NO_MEASURE), x)
    assert not result.used_labels and result.student_kind == "width:0.5"
    assert result.params_student < result.params_teacher
    assert result.model.output_shape == teacher.output_shape
    assert result.model.get_layer("stem").filters == 4
    assert "distillation_loss" in result.history or "loss" in result.history
    assert teacher.trainable
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pruned_student_with_labels_and_a_sigmoid_output_converts():
    from core.compress import measure
    from core.optimize.runtime import SignatureModel

    teacher = cm.mlp(hidden=(16, 8), n_out=1, activation="sigmoid")
    x, _ = cm.data(teacher, 64)
    y = (x[:, 0] > 0).astype("int64")
    result = run(
        teacher,
        DistillConfig(student="pruned:0.5", epochs=2, batch_size=16, measure=MeasureConfig(latency_runs=10)),
        x,
        y,
        validation=(x, y),
    )
    assert result.used_labels and result.student_kind == "pruned:0.5"
    assert result.model.get_layer("hidden_0").units == 8
    assert result.latency_ratio is not None and result.tflite_size_student < result.tflite_size_teacher
    assert 0.0 <= result.student_accuracy <= 1.0
    tfl = SignatureModel(measure.to_tflite(result.model))
    (name,) = tfl.inputs
    (out,) = tfl.run({name: x[:3]}).values()
    np.testing.assert_allclose(out, result.model.predict(x[:3], verbose=0), atol=1e-5)


def test_student_from_a_model_file(tmp_path):
    from core.compress.structured import width_scaled_copy

    teacher = cm.mlp()
    path = tmp_path / "student.keras"
    width_scaled_copy(teacher, 0.25).save(path)
    x, y = cm.data(teacher, 32, classes=3)
    result = run(teacher, DistillConfig(student=str(path), epochs=1, measure=NO_MEASURE), x, y)
    assert result.student_kind == str(path) and result.model.get_layer("hidden_0").units == 4
    with pytest.raises(BadInputError):
        run(teacher, DistillConfig(student=str(tmp_path / "missing.keras"), epochs=1, measure=NO_MEASURE), x, y)
    wrong = cm.mlp(n_out=4)
    wrong.save(tmp_path / "wrong.keras")
    with pytest.raises(BadInputError):
        run(teacher, DistillConfig(student=str(tmp_path / "wrong.keras"), epochs=1, measure=NO_MEASURE), x, y)


def test_progress_every_batch_and_cancel_stops_at_the_next_batch(monkeypatch):
    from core.compress import training

    monkeypatch.setattr(training, "PROGRESS_MIN_INTERVAL_S", 0.0)
    teacher = cm.mlp()
    x, y = cm.data(teacher, 64, classes=3)
    rec = cm.Recorder()
    run(teacher, DistillConfig(epochs=2, batch_size=16, measure=NO_MEASURE), x, y, reporter=rec.reporter)
    assert len([e for e in rec.events if "batch" in e.message]) == 2 * 4
    assert all(e.stage == "distill" for e in rec.events)

    token = CancelToken()
    rec = cm.Recorder(token, cancel_after=3)  # building + two batches, then cancel
    with pytest.raises(Cancelled):
        run(
            teacher,
            DistillConfig(epochs=5, batch_size=16, measure=NO_MEASURE),
            x,
            y,
            reporter=rec.reporter,
            cancel=token,
        )
    assert len([e for e in rec.events if "batch" in e.message]) == 2
    assert teacher.trainable


def test_compare_scratch_needs_labels():
    teacher = cm.mlp()
    x, _ = cm.data(teacher, 16)
    with pytest.raises(BadInputError):
        run(teacher, DistillConfig(epochs=1, compare_scratch=True, measure=NO_MEASURE), x)


@pytest.mark.slow
def test_digits_distilled_half_width_student_beats_the_same_student_from_scratch(samples_dir):
    teacher, (xc, yc), (xe, ye) = cm.load_sample(samples_dir, "digits")
    cfg = DistillConfig(
        student="width:0.5", epochs=30, temperature=3.0, alpha=0.1, compare_scratch=True, measure=NO_MEASURE
    )
    result = run(teacher, cfg, xc, yc, validation=(xe, ye))
    assert result.params_student < 0.35 * result.params_teacher
    assert result.student_accuracy > result.scratch_accuracy, result.notes
    assert result.student_accuracy >= 0.95


def test_through_the_engine_progress_streams_per_batch_and_cancel_ends_the_job():
    from core.engine import Engine, ProgressEvent
    from core.errors import ErrorKind, JobFailed

    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as engine:
        events = []
        value = engine.run(cm.distill_job, 1, on_event=events.append)
        assert value["params_student"] < value["params_teacher"]
        assert len([e for e in events if isinstance(e, ProgressEvent) and "batch" in e.message]) == 4

        handle = engine.submit(cm.distill_job, 10_000)
        batches = 0
        with pytest.raises(JobFailed) as info:
            for event in handle.events():
                if isinstance(event, ProgressEvent) and "batch" in event.message:
                    batches += 1
                    if batches == 3:
                        handle.cancel()
            handle.result()
        assert info.value.error.kind == ErrorKind.CANCELLED
        assert 3 <= batches < 100
