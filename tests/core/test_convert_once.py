"""Convert once: variants derived from the fp32 .tflite against the TFLite converter's own output.

Oracles: the converter run on the same Keras model in each mode (size, op set,
outputs), and the Keras model itself. The pipeline tests count calibrations and
check the converter fallback when ai-edge-quantizer fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DataSpec
from core.engine import CancelToken, null_reporter
from core.optimize.recipes import recipe_for_mode

SIGNATURE = "serving_default"


def _model():
    """A small CNN + dense head with weights over 1,024 elements (so dynamic range quantizes them)."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(16, 3, activation="relu", name="conv_a")(inputs)
    h = keras.layers.Conv2D(16, 3, activation="relu", name="conv_b")(h)  # 3x3x16x16 = 2,304 weights
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(64, activation="relu", name="dense")(h)  # 16x64 = 1,024 weights
    out = keras.layers.Dense(5, activation="softmax", name="probs")(h)
    return keras.Model(inputs, out)


@pytest.fixture(scope="module")
def converted():
    """(model, calibration x, probe x, {mode: converter bytes}, fp32 bytes)."""
    from core.optimize.convert import ConverterFactory
    from core.optimize.quantize import configure_converter, representative_dataset
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    model = _model()
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (32, 12, 12, 3)).astype(np.float32)
    probe = rng.uniform(0, 1, (16, 12, 12, 3)).astype(np.float32)
    factory = ConverterFactory(keras_model=model)
    try:
        out = {}
        for mode, io in (
            ("fp32", "float"),
            ("dynamic", "float"),
            ("float16", "float"),
            ("int8", "float"),
            ("int16x8", "float"),
        ):
            base = mode.split("-")[0]
            rep = representative_dataset({"image": calib}) if base in ("int8", "int16x8") else None
            out[mode], _, _ = factory.convert(
                lambda c, base=base, rep=rep, io=io: configure_converter(tf, c, base, representative=rep, io_dtype=io)
            )
    finally:
        factory.close()
    return model, calib, probe, out


def _ops(data: bytes) -> set[str]:
    from core.models.tflite_graph import read_tflite_graph

    return {op.name for sg in read_tflite_graph(data).subgraphs for op in sg.ops}


def _constant_dtypes(data: bytes) -> set[str]:
    from core.models.tflite_graph import read_tflite_graph

    return {t.dtype for sg in read_tflite_graph(data).subgraphs for t in sg.tensors if t.constant}


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from core.optimize.runtime import run_tflite

    return run_tflite(data, {"image": x}, signature=SIGNATURE)["probs"]


def _assert_like(derived: bytes, reference: bytes, probe: np.ndarray, *, atol: float) -> None:
    # Size: within 2% (or 2 KiB, the converter's metadata on a model this small).
    assert abs(len(derived) - len(reference)) <= max(0.02 * len(reference), 2048), (len(derived), len(reference))
    assert _ops(derived) == _ops(reference)
    np.testing.assert_allclose(_run(derived, probe), _run(reference, probe), atol=atol)


@pytest.mark.parametrize("mode", ["dynamic", "float16"])
def test_aeq_weight_variants_match_the_converter(converted, mode):
    from core.adapters.ai_edge_quantizer import derive_weight_variant

    model, _calib, probe, conv = converted
    derived = derive_weight_variant(conv["fp32"], mode)
    _assert_like(derived, conv[mode], probe, atol=2e-3)
    # The weights really are stored in the mode's type, as in the converter's file.
    wanted = "int8" if mode == "dynamic" else "float16"
    assert wanted in _constant_dtypes(derived) and wanted in _constant_dtypes(conv[mode])
    keras_out = np.asarray(model(probe, training=False))
    np.testing.assert_allclose(_run(derived, probe), keras_out, atol=2e-2)


def test_one_calibration_gives_the_converters_int8_int8_io_and_16x8(converted):
    from core.optimize.calibration import calibrate, float_ops, int8_model, int16x8_model

    model, calib, probe, conv = converted
    calibration = calibrate(conv["fp32"], {"image": calib}, signature=SIGNATURE)
    assert calibration.samples == 32
    step = 1 / 256  # one int8 step of a softmax output in [0, 1]
    int8 = int8_model(calibration)
    _assert_like(int8, conv["int8"], probe, atol=2 * step)
    assert float_ops(int8) == []
    int8_io = int8_model(calibration, io_dtype="int8")
    from core.optimize.runtime import SignatureModel

    # Same quantized graph as int8, with the float I/O boundary taken off: the converter's int8 I/O.
    assert SignatureModel(int8_io, SIGNATURE).inputs["image"].dtype == "int8"
    assert _ops(int8_io) == _ops(conv["int8"]) - {"QUANTIZE", "DEQUANTIZE"}
    np.testing.assert_allclose(_run(int8_io, probe), _run(conv["int8"], probe), atol=2 * step)
    int16x8 = int16x8_model(calibration)
    _assert_like(int16x8, conv["int16x8"], probe, atol=2e-3)
    from core.models.tflite_graph import read_tflite_graph

    assert "int16" in {t.dtype for sg in read_tflite_graph(int16x8).subgraphs for t in sg.tensors}
    keras_out = np.asarray(model(probe, training=False))
    np.testing.assert_allclose(_run(int8, probe), keras_out, atol=0.1)


def test_not_like_converter_names_a_float_weight_left(converted):
    from core.adapters.ai_edge_quantizer import not_like_converter

    _model_, _calib, _probe, conv = converted
    assert not_like_converter(conv["fp32"], "dynamic") is not None  # nothing quantized: every weight float32
    assert not_like_converter(conv["dynamic"], "dynamic") is None  # the converter's own output passes


def test_pipeline_calibrates_once_and_falls_back_to_the_converter(tmp_path, monkeypatch):
    """int8, int8 I/O and 16x8 share one calibration; an AEQ failure converts that variant the usual way."""
    import core.adapters.ai_edge_quantizer as adapter
    import core.optimize.calibration as calibration
    from core.errors import ConversionError
    from core.optimize.convert import NAMED_EXPORT
    from core.optimize.pipeline import optimize_model

    model = _model()
    path = tmp_path / "cnn.keras"
    model.save(path)
    x = np.random.default_rng(1).uniform(0, 1, (40, 12, 12, 3)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    calls = []
    real = calibration.calibrate
    monkeypatch.setattr(calibration, "calibrate", lambda *a, **k: calls.append(1) or real(*a, **k))

    def broken(*_args, **_kwargs):
        raise ConversionError("ai-edge-quantizer broke (test)")

    monkeypatch.setattr(adapter, "derive_weight_variant", broken)
    recipes = [
        recipe_for_mode("dynamic"),
        recipe_for_mode("int8"),
        recipe_for_mode("int8", io_dtype="int8"),
        recipe_for_mode("int16x8"),
    ]
    result = optimize_model(
        str(path),
        recipes,
        DataSpec(path=str(tmp_path / "data.npz"), calibration_samples=16),
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert not result.failures, [f.message for f in result.failures]
    assert len(calls) == 1
    assert result.variant("dynamic").converter_path == NAMED_EXPORT  # the converter made it
    assert result.variant("int8-int8io").io_dtype == "int8"
    for variant in result.variants:
        assert variant.evaluation.fidelity.cosine_similarity > 0.99, variant.name
