"""What quantizing a `.tflite` input can mean, measured from the file before ai-edge-quantizer runs.

A `.tflite` given as the model is quantized with ai-edge-quantizer (`core.adapters.ai_edge_quantizer`),
which works on the whole file. Two cases made variants whose figures said less than they seemed to:

* a file that is already quantized (no float32 weight left): every mode returned the same bytes, exported
  under the names dynamic, int8 and int16x8, as if each had been applied. Refused per variant, naming the
  weights' types; the fp32 row is the file as given.
* a file with several signatures: AEQ quantizes all of them, but only the chosen one is evaluated, and a
  calibrated mode needs data for every signature (it failed with an AEQ error about another signature's
  tensors). A calibrated mode is refused naming the other signatures; the others say so in a warning.
"""

from __future__ import annotations

from core.errors import ConversionError
from core.optimize.recipes import INT8, INT16X8

CALIBRATED = (INT8, INT16X8)
FLOAT_WEIGHT = "float32"


def already_quantized(tflite_bytes: bytes) -> str | None:
    """Why the file holds nothing left to quantize, or None: its weights (constant tensors of rank >= 2,
    every subgraph) are all of other types than float32. None when it has no such weight or can't be read."""
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)
    except Exception:  # noqa: BLE001 - unreadable: AEQ gives its own reason
        return None
    weights = [t for sg in graph.subgraphs for t in sg.tensors if t.constant and len(t.shape) >= 2]
    if graph.unread or not weights or any(t.dtype == FLOAT_WEIGHT for t in weights):
        return None
    kinds = ", ".join(sorted({t.dtype for t in weights}))
    return f"its weights are already {kinds}, with no float32 weight left to quantize"


def check_tflite_quantization(
    tflite_bytes: bytes, mode: str, signature: str | None, signatures: tuple[str, ...]
) -> list[str]:
    """Warnings for quantizing this `.tflite` input in `mode` through `signature`; ConversionError (this
    variant fails, with the reason) when the result could not be what the mode's name says."""
    reason = already_quantized(tflite_bytes)
    if reason:
        raise ConversionError(
            f"not applied: the .tflite is already quantized ({reason}); the fp32 row is this file as given"
        )
    others = [name for name in signatures if name != signature]
    if not others:
        return []
    named = ", ".join(repr(name) for name in others)
    if mode in CALIBRATED:
        raise ConversionError(
            "not available for a .tflite with several signatures: ai-edge-quantizer calibrates the whole file, "
            f"and the data feeds {signature!r} only (the file also has {named}); dynamic and weight_only need no "
            "calibration"
        )
    return [f"the exported file keeps its other signature(s) {named}, quantized too but not evaluated"]
