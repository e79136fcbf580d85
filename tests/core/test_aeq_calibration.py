"""int8 of a .tflite input (ai-edge-quantizer): the calibrated input range covers the calibration data.

AEQ's `Quantizer.calibrate` keeps a moving average of each calibration call's min/max, so calibrating one
sample at a time let the last ~20 samples set the range and clipped an extreme seen earlier. Oracle: the
data's own min and max, by hand, against the range the quantized model's int8 input tensor can represent
(read with LiteRT), for a free batch axis (one call) and a batch fixed at 1 (one call per sample).
"""

from __future__ import annotations

import numpy as np

from core.adapters.ai_edge_quantizer import calibration_batch, quantize_tflite
from core.optimize.recipes import INT8
from core.tf_runtime import import_keras
from tests.model_factory import DENSE_INPUT, dense_model, save_tflite


def _input_range(tflite_bytes: bytes) -> tuple[float, float]:
    """The float range the quantized model's int8 input tensor represents: scale x (-128 - zp, 127 - zp)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=tflite_bytes).get_signature_runner().get_input_details()
    (detail,) = details.values()
    scale, zero_point = detail["quantization"]
    assert detail["dtype"] == np.int8 and scale > 0, detail
    return scale * (-128 - zero_point), scale * (127 - zero_point)


def _data_with_early_extremes() -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (200,) + DENSE_INPUT).astype("float32")
    x[50, 0], x[50, 1] = 8.0, -8.0  # the extremes, in one early sample: 150 later samples hold about +-3
    return x


def _batch_one_model():
    """`dense_model`'s layers behind an Input whose batch is fixed at 1 (as many exported mobile models)."""
    keras = import_keras()
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [keras.Input(DENSE_INPUT, batch_size=1), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )


def _assert_range_covers(quantized: bytes, x: np.ndarray) -> None:
    low, high = _input_range(quantized)
    step = (high - low) / 255
    assert low <= x.min() + step and high >= x.max() - step, (low, high)
    assert high - low <= (x.max() - x.min()) * 1.02  # and no wider than the data (plus rounding)


def test_int8_of_a_tflite_with_batch_one_is_calibrated_over_the_whole_data(tmp_path):
    model = _batch_one_model()
    tflite = save_tflite(model, tmp_path, "batch1").read_bytes()
    (name,) = (t.name for t in model.inputs)
    x = _data_with_early_extremes()
    assert calibration_batch(tflite, "serving_default", {name: x}) == 1  # 200 calls of one sample each
    quantized, _ = quantize_tflite(tflite, INT8, calibration_x={name: x})
    _assert_range_covers(quantized, x)


def test_int8_of_a_tflite_is_calibrated_over_the_whole_data(tmp_path):
    model = dense_model()
    tflite = save_tflite(model, tmp_path, "dense").read_bytes()
    (name,) = (t.name for t in model.inputs)
    x = _data_with_early_extremes()
    assert calibration_batch(tflite, "serving_default", {name: x}) >= 200  # a free batch axis: one call
    quantized, _ = quantize_tflite(tflite, INT8, calibration_x={name: x})
    _assert_range_covers(quantized, x)
