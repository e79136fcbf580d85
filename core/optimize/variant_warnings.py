"""The warnings a user must see about one built variant, each from a measured figure.

Unscored outputs, outputs clipped at the variant's output range, low fidelity to the
original (`fidelity_warning`: agreement below 0.98 or cosine below 0.99 after int8 or
int16x8), and a weight-quantizing mode that left no weight in its storage type
(`quantized_nothing`, read from the .tflite). Used by `core.optimize.session`.

`add_upstream_fallback`: the one line saying a variant was built by a public route because a
private upstream API moved (`core.adapters.UpstreamChanged`): the quantize pass adds it when it
falls back, so a failure inside an adapter is never silent (CLI notes, JSON `warnings`, the
app's Variant tooltip).
"""

from __future__ import annotations

from core.adapters import UpstreamChanged
from core.evaluation.model import ModelEvaluation
from core.optimize.compress_steps import COMPRESS_STEPS
from core.optimize.recipes import INT16X8, Recipe


_STORED_TYPE = {"dynamic": "int8", "weight_only": "int8", "float16": "float16"}

# Distribution names (UpstreamChanged.library) as users know them.
_LIBRARY_NAMES = {"tensorflow": "TensorFlow", "ai-edge-litert": "LiteRT", "keras": "Keras"}


def _what_moved(changed: UpstreamChanged) -> str:
    """ "no longer has NAME" when a name is gone, else "changed: WHAT" (a signature that no longer binds)."""
    return f"no longer has {changed.missing}" if changed.missing else f"changed: {changed.what}"


def upstream_fallback(route: str, changed: UpstreamChanged, cost: str) -> str:
    """One warning line: "built with ROUTE because LIBRARY VERSION no longer has NAME (COST)".

    `route`: the public route taken ("the public converter"); `cost`: what the user pays for it, e.g.
    "slower calibration; same quantization". The version is the installed one, read by `UpstreamChanged`.
    """
    library = _LIBRARY_NAMES.get(changed.library, changed.library)
    return f"built with {route} because {library} {changed.version} {_what_moved(changed)} ({cost})"


def add_upstream_fallback(warnings: list[str], route: str, changed: UpstreamChanged, cost: str) -> None:
    """Append `upstream_fallback(...)` to a variant's `warnings` unless a line already names the same change
    (int8-selective can fall back twice on one moved name: once measuring, once requantizing)."""
    moved = _what_moved(changed)
    if not any(moved in w for w in warnings):
        warnings.append(upstream_fallback(route, changed, cost))


def quantized_nothing(mode: str, tflite_bytes: bytes) -> str | None:
    """A note when a weight-quantizing mode left no tensor in its storage type (measured from the file)."""
    wanted = _STORED_TYPE.get(mode)
    if wanted is None:
        return None
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)  # every subgraph: a recurrent loop's weights too
    except Exception:  # noqa: BLE001 - a note is informative only: no reading, no claim
        return None
    if graph.unread or any(t.dtype == wanted and t.constant for sg in graph.subgraphs for t in sg.tensors):
        return None
    return (
        f"{mode} quantized no weight: the model holds no {wanted} tensor, so it is the fp32 model again "
        "(the converter skips weight tensors smaller than 1,024 elements; general advice)"
    )


def variant_warnings(recipe: Recipe, evaluation: ModelEvaluation) -> list[str]:
    """Warnings a user must see about one variant: unscored outputs, clipping, low fidelity."""
    warnings = [f"output {name!r} not scored: {why}" for name, why in evaluation.unscored]
    for output in evaluation.outputs:
        clipped = getattr(output.fidelity, "clipped", None) if output.fidelity is not None else None
        if clipped:
            others = "dynamic" if recipe.mode == INT16X8 else "int16x8 or dynamic"
            warnings.append(
                f"output {output.output!r}: {clipped} value(s) stop at the variant's output range "
                f"while the original goes beyond it ({recipe.mode} clips outputs to the calibrated range: "
                f"calibrate on data that covers the full range, or use {others})"
            )
    low = fidelity_warning(recipe, evaluation)
    if low:
        warnings.append(low)
    return warnings


def fidelity_warning(recipe: Recipe, evaluation: ModelEvaluation) -> str | None:
    """A hint when a quantized variant's worst output drifts from the original (measured, not assumed)."""
    fid = evaluation.fidelity
    quantize = recipe.step("quantize")
    if any(s.kind in COMPRESS_STEPS for s in recipe.steps):
        return None  # pruning or distillation changed the model on purpose: fidelity is judged by accuracy
    if fid is None or quantize is None or quantize.config.mode not in ("int8", "int16x8"):
        return None
    agreement = getattr(fid, "agreement", None)
    poor = (agreement is not None and agreement < 0.98) or fid.cosine_similarity < 0.99
    if not poor:
        return None
    options = (
        []
        if quantize.config.selective is not None or quantize.config.mode != "int8"
        else ["selective quantization (--selective)"]
    )
    options += [m for m in ("int16x8", "dynamic") if m != quantize.config.mode]
    hint = "; try " + ", ".join(options[:-1]) + (" or " if len(options) > 1 else "") + options[-1]
    figure = f"agreement {agreement:.3f}, " if agreement is not None else ""
    where = getattr(evaluation, "fidelity_output", "") or ""
    on = f" on output {where!r}" if where else ""
    return f"low fidelity to the original{on} ({figure}cosine {fid.cosine_similarity:.4f}){hint}"


__all__ = ["add_upstream_fallback", "fidelity_warning", "quantized_nothing", "upstream_fallback", "variant_warnings"]
