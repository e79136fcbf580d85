"""Selective int8 quantization: per-layer error, and keeping the most sensitive layers in float.

`tf.lite.experimental.QuantizationDebugger` runs an instrumented int8 model
(NumericVerify ops) written from the pipeline's one calibration of the fp32
model (`core.optimize.calibration`; through the converter only when that
calibration is unavailable) over the calibration data; the
per-layer error it measures is normalised by the quantization scale
(``rmse/scale``: about 0.29 is the ideal rounding error, much larger means the
layer's range is badly served by 8 bits).

`auto` mode ranks layers by sensitivity (the model's fidelity when that layer
alone is quantized) and keeps the most sensitive in float, one more at a time,
until the fidelity target against the original model, on the calibration data,
is met.
Each candidate is re-quantized from the same calibrated model
(`mlir_quantize` with ``denylisted_nodes``, through `core.adapters.tf_converter`;
the debugger's public route when that private call moved), so calibration runs
once for plain int8, int8 I/O, selective and 16x8 alike.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np

from core.adapters import UpstreamChanged, tf_converter
from core.engine.context import CancelToken, Reporter
from core.errors import ConversionError
from core.evaluation import MULTICLASS, evaluate_outputs
from core.optimize.calibration import Calibration, int8_model
from core.optimize.recipes import SelectiveConfig
from core.optimize.results import LayerError

MAX_CANDIDATES = 20
HIGHER_IS_BETTER = {
    "top1_agreement": True,
    "cosine_similarity": True,
    "flipped_fraction": False,
    "mean_abs_diff": False,
    "max_abs_diff": False,
}


@dataclass
class SelectiveOutcome:
    """What selective quantization made: the model, the per-layer errors (kept-float marked), the layers
    kept in float, notes for the variant, and the auto search's trail."""

    tflite_bytes: bytes
    layer_errors: tuple[LayerError, ...]
    float_layers: tuple[str, ...]
    notes: list[str]
    trail: list[tuple[int, float]]  # (layers kept float, metric value) per attempt


def resolve_metric(config: SelectiveConfig, task: str) -> tuple[str, float]:
    """(fidelity metric, target) for the auto search: the configured ones, else by the primary output's task."""
    if config.metric != "auto":
        default_targets = {
            "top1_agreement": 0.99,
            "cosine_similarity": 0.999,
            "flipped_fraction": 0.01,
            "mean_abs_diff": 0.01,
            "max_abs_diff": 0.05,
        }
        return config.metric, config.target if config.target is not None else default_targets[config.metric]
    if task == MULTICLASS:
        return "top1_agreement", config.target if config.target is not None else 0.99
    # Binary scores of rare positives sit near 0, so few decisions flip even when the
    # ranking (PR-AUC) is ruined: the cosine of the scores catches that.
    return "cosine_similarity", config.target if config.target is not None else 0.999


def metric_value(
    outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], metric: str, tasks: dict[str, str]
) -> float:
    """The fidelity `metric` of the WORST output (outputs matched by name).

    An output the metric does not apply to (top-1 agreement of a regression
    head) is judged by its cosine similarity when the metric is higher-is-better,
    by its mean absolute difference otherwise.
    """
    values = []
    for name, ref in reference.items():
        if name not in outputs:
            raise ConversionError(f"the re-quantized model has no output named {name!r}")
        fidelity = evaluate_outputs(outputs[name], reference_outputs=ref, task=tasks[name]).fidelity
        if fidelity is None:  # given a reference, every output is judged: never None here
            raise ConversionError(f"no fidelity measured for the output {name!r}")
        value = getattr(fidelity, metric, None)
        if value is None:
            value = fidelity.cosine_similarity if HIGHER_IS_BETTER[metric] else fidelity.mean_abs_diff
        values.append(float(value))
    if not values:
        raise ConversionError("no output to measure fidelity on")
    if any(math.isnan(v) for v in values):
        return float("nan")
    return min(values) if HIGHER_IS_BETTER[metric] else max(values)


def meets(value: float, target: float, metric: str) -> bool:
    """Whether `value` of `metric` reaches `target` (NaN never does)."""
    if math.isnan(value):
        return False
    return value >= target if HIGHER_IS_BETTER[metric] else value <= target


def better(a: float, b: float, metric: str) -> bool:
    """Whether `a` is a better value of `metric` than `b` (a number beats NaN)."""
    if math.isnan(b):
        return not math.isnan(a)
    if math.isnan(a):
        return False
    return a > b if HIGHER_IS_BETTER[metric] else a < b


def _parse_layer_stats(debugger: Any) -> list[LayerError]:
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    rows = []
    for row in csv.DictReader(buffer):
        scale = float(row.get("scale") or 0.0)
        mse = float(row.get("mean_squared_error") or 0.0)
        rmse_scale = math.sqrt(max(mse, 0.0)) / scale if scale > 0 else float("inf")
        rows.append(
            LayerError(
                tensor_name=row["tensor_name"],
                op_name=row.get("op_name", ""),
                rmse_over_scale=float(rmse_scale),
                mean_abs_error=abs(float(row.get("mean_error") or 0.0)),
                max_abs_error=float(row.get("max_abs_error") or 0.0),
                scale=scale,
            )
        )
    rows.sort(key=lambda e: -e.rmse_over_scale if math.isfinite(e.rmse_over_scale) else float("-inf"))
    return rows


def _run_debugger(build: Callable[[], Any]) -> Any:
    """`build()` a QuantizationDebugger and run it, with the native log captured.

    Raises ConversionError (the converter's log as details) when either step fails."""
    from core.native_output import quiet_native

    with quiet_native() as captured:
        try:
            debugger = build()
            debugger.run()
            return debugger
        except Exception as exc:  # noqa: BLE001 - any converter failure fails this variant, with its log
            failure = exc
    raise ConversionError(
        f"per-layer quantization analysis failed: {type(failure).__name__}: {failure}", details=captured.text
    ) from None


def debug_layers(
    make_converter: Callable[[], Any],
    representative: Callable[[], Iterator[Any]],
    *,
    debug_dataset: Callable[[], Iterator[Any]] | None = None,
    progress: Reporter | None = None,
) -> tuple[Callable[[list[str]], bytes], list[LayerError]]:
    """Calibrate through the converter and measure per-layer int8 error; returns (requantize, errors worst first).

    The converter path, for when the fp32 model cannot be calibrated directly
    (`layer_errors_from_calibration` is the usual one). `representative` feeds
    the converter's calibration (samples keyed by name); `debug_dataset` feeds
    the debugger's own interpreter, which takes tensors by position
    (`core.optimize.quantize.positional_dataset`); default: `representative`.
    `requantize(float_layers)` writes the int8 model with those layers (op
    output tensor names) in float. Raises ConversionError.
    """
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    def build() -> Any:
        converter = make_converter()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=debug_dataset or representative
        )

    debugger = _run_debugger(build)
    errors = _parse_layer_stats(debugger)
    changed: UpstreamChanged | None = None
    try:
        calibrated: bytes | None = tf_converter.debugger_calibrated_model(debugger)
    except UpstreamChanged as exc:
        calibrated, changed = None, exc  # requantize takes the debugger's public route
    del debugger  # its interpreters hold the model twice
    return _ConverterRequantize(calibrated, build, changed), errors


class _ConverterRequantize:
    """`requantize(float_layers)` after `debug_layers`: the int8 model with those layers in float.

    The converter's quantizer on the debugger's calibrated model
    (`tf_converter.mlir_quantize`, fast); when that private call has moved
    (`UpstreamChanged`), the public route: a debugger built again (one more
    calibration, kept for the next calls) writes it with
    `tf_converter.requantize_with_debugger`. `changed`: the `UpstreamChanged` that
    sent it there, set once it takes that route (the quantize pass turns it into the
    variant's warning); None while the private call works.
    """

    def __init__(
        self, calibrated: bytes | None, build: Callable[[], Any], changed: UpstreamChanged | None = None
    ) -> None:
        self._calibrated = calibrated
        self._build = build
        self._debugger: Any = None
        self._why_public = changed
        self.changed: UpstreamChanged | None = None

    def __call__(self, float_layers: list[str]) -> bytes:
        """The int8 .tflite bytes with `float_layers` in float; raises ConversionError (this variant fails)."""
        from core.native_output import quiet_native

        with quiet_native() as captured:
            try:
                return self._quantize(list(float_layers))
            except ConversionError:
                raise
            except Exception as exc:  # noqa: BLE001 - this variant fails, with the converter's reason
                failure = exc
        raise ConversionError(
            f"int8 quantization with layers in float failed: {type(failure).__name__}: {failure}"[:400],
            details=captured.text,
        ) from None

    def _quantize(self, layers: list[str]) -> bytes:
        if self._calibrated is not None and self._debugger is None:
            try:
                return tf_converter.mlir_quantize(self._calibrated, denylisted_nodes=layers)
            except UpstreamChanged as exc:
                self._why_public = exc  # the public route below, from now on
        if self._debugger is None:
            self._debugger = _run_debugger(self._build)
            self.changed = self._why_public
        return tf_converter.requantize_with_debugger(self._debugger, layers)


def layer_errors_from_calibration(
    calibration: Calibration, debug_dataset: Callable[[], Iterator[Any]]
) -> tuple[Callable[[list[str]], bytes], list[LayerError]]:
    """Per-layer int8 error from an existing `core.optimize.calibration.Calibration` (no new calibration).

    The debugger runs the NumericVerify-instrumented model written from the
    same calibrated model the int8 variants come from; `debug_dataset` yields
    samples as lists in input-tensor order. Returns (requantize, errors worst
    first); raises ConversionError (the caller then takes `debug_layers`).
    """
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    debug_model = int8_model(calibration, numeric_verify=True)
    debugger = _run_debugger(
        lambda: tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=debug_model, debug_dataset=debug_dataset
        )
    )
    errors = _parse_layer_stats(debugger)
    del debugger
    return (lambda float_layers: int8_model(calibration, float_layers=list(float_layers))), errors


def _sensitivity_order(
    errors: list[LayerError],
    chosen: list[str],
    metric: str,
    score: Callable[[list[str]], tuple[float, bytes]],
    cancel: CancelToken | None,
) -> tuple[list[str], dict[str, float]]:
    """Layers ordered most sensitive first: each is quantized alone, in an otherwise float model.

    Measuring a layer in a float model charges it with the damage of quantizing
    its input too (a layer fed by a badly scaled tensor is what breaks the
    model), which per-layer error alone misses. Large models scan only the
    `MAX_CANDIDATES` worst layers by rmse/scale; the rest follow in that order.
    """
    names = [e.tensor_name for e in errors if e.tensor_name not in chosen]
    scanned, rest = names[:MAX_CANDIDATES], names[MAX_CANDIDATES:]
    alone: dict[str, float] = {}
    for name in scanned:
        if cancel is not None:
            cancel.raise_if_cancelled()
        others = [n for n in names if n != name] + chosen
        alone[name], _ = score(others)
    # Worst fidelity when quantized alone = most sensitive. Sorted is stable: ties keep rmse order.
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    ordered = sorted(scanned, key=lambda n: sign * (alone[n] if not math.isnan(alone[n]) else -math.inf))
    return ordered + rest, alone


def _auto(
    requantize: Callable[[list[str]], bytes],
    errors: list[LayerError],
    chosen: list[str],
    config: SelectiveConfig,
    *,
    calibration_x: dict[str, np.ndarray],
    calibration_reference: dict[str, np.ndarray],
    tasks: dict[str, str],
    primary: str,
    run: Callable[[bytes, dict[str, np.ndarray]], dict[str, np.ndarray]],
    cancel: CancelToken | None,
    progress: Reporter | None,
    trail: list[tuple[int, float]],
) -> tuple[bytes, list[str], str]:
    """Keep the most sensitive layers in float, one more at a time, until the fidelity target is met."""
    metric, target = resolve_metric(config, tasks[primary])

    def score(layers: list[str]) -> tuple[float, bytes]:
        model = requantize(layers)
        return metric_value(run(model, calibration_x), calibration_reference, metric, tasks), model

    value, model = score(chosen)
    trail.append((len(chosen), value))
    best = (value, model, list(chosen))
    if not meets(value, target, metric):
        if progress is not None:
            progress(None, "measuring each layer's sensitivity")
        order, _alone = _sensitivity_order(errors, chosen, metric, score, cancel)
        current = list(chosen)
        for name in order[: config.max_float_layers]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            current = current + [name]
            value, model = score(current)
            trail.append((len(current), value))
            if progress is not None:
                progress(None, f"{len(current)} layer(s) in float: {metric} {value:.4g} (target {target:g})")
            if better(value, best[0], metric):
                best = (value, model, list(current))
            if meets(value, target, metric):
                break
    value, model, chosen = best
    if meets(value, target, metric):
        note = (
            f"selective: {len(chosen)} layer(s) kept in float reach {metric} {value:.4g} "
            f"(target {target:g}, on the calibration data)"
        )
    else:
        note = (
            f"selective: target {metric} {target:g} not reached; best {value:.4g} with "
            f"{len(chosen)} layer(s) in float (on the calibration data)"
        )
    return model, chosen, note


def selective_quantize(
    requantize: Callable[[list[str]], bytes],
    errors: list[LayerError],
    config: SelectiveConfig,
    *,
    calibration_x: dict[str, np.ndarray],
    calibration_reference: dict[str, np.ndarray],
    tasks: dict[str, str],
    primary: str,
    run: Callable[[bytes, dict[str, np.ndarray]], dict[str, np.ndarray]],
    cancel: CancelToken | None = None,
    progress: Reporter | None = None,
) -> SelectiveOutcome:
    """Keep layers in float (given ones, or automatically) and re-quantize, from one calibration.

    `requantize` and `errors` come from `layer_errors_from_calibration` or
    `debug_layers`. Inputs, references and outputs are keyed by name; the
    fidelity target is checked on the worst output (`metric_value`), the metric
    chosen by the primary output's task. Raises ConversionError (an unknown
    float layer, a failed re-quantization) or Cancelled.
    """
    known = {e.tensor_name for e in errors}
    notes: list[str] = []
    unknown = [name for name in config.float_layers if name not in known]
    if unknown:
        raise ConversionError(
            f"no quantized layer named {', '.join(unknown)}; layers: {', '.join(e.tensor_name for e in errors[:10])}"
        )
    chosen = list(config.float_layers)
    trail: list[tuple[int, float]] = []
    if not config.auto:
        model = requantize(chosen)
    else:
        model, chosen, note = _auto(
            requantize,
            errors,
            chosen,
            config,
            calibration_x=calibration_x,
            calibration_reference=calibration_reference,
            tasks=tasks,
            primary=primary,
            run=run,
            cancel=cancel,
            progress=progress,
            trail=trail,
        )
        notes.append(note)
    marked = tuple(replace(e, kept_float=e.tensor_name in chosen) for e in errors)
    return SelectiveOutcome(
        tflite_bytes=model, layer_errors=marked, float_layers=tuple(chosen), notes=notes, trail=trail
    )
