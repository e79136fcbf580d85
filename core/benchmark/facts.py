"""Measured facts that explain a .tflite variant's speed (run in the engine's child, on the .tflite).

For each variant (`VariantFacts`):

* op counts from the flatbuffer (`core.models.tflite_graph.read_tflite_graph`, main
  subgraph): how many ops, how many QUANTIZE and DEQUANTIZE, and how many of those
  the variant adds over the fp32 variant of the same run;
* which ops the XNNPACK delegate took and in how many partitions, read from the
  prepared interpreter's graph (`read_delegation`, over `core.adapters.litert`, the one
  adapter over the interpreter's private node API; it answers "unknown" (None) on any failure,
  never 0 and never a failed job);
* the XNNPACK ablation: invoke() timed with XNNPACK on (OpResolverType.AUTO) and off
  (BUILTIN_WITHOUT_DEFAULT_DELEGATES) in interleaved rounds (A B A B ...), median
  ms per call of each side, at batch 1 and one thread. The timed call is the one the
  sweep's table times (`LiteRTRunner.invoker`: invoke() on inputs already set).

Per-op times: ai_edge_litert 2.3's Python API exposes none (no profiler on
`Interpreter` or `CompiledModel`; `profiling_info_pb2` is only filled by the C++
benchmark tool; `experimental_force_delegate_node_profiling` has no Python reader),
so the ablation is the measured stand-in.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.benchmark.interleaved import interleaved_times
from core.benchmark.results import DelegationInfo, VariantFacts
from core.engine.context import CancelToken
from core.errors import Cancelled

if TYPE_CHECKING:
    from core.benchmark.litert_runner import LiteRTRunner
    from core.benchmark.runner_base import Runner

ABLATION_SECONDS = 0.4  # timed seconds per side at most; small models get up to ABLATION_MAX_CALLS
ABLATION_MAX_CALLS = 400
ABLATION_MIN_CALLS = 3
ROUNDS = 8  # interleaved rounds: drift (frequency, other processes) hits both sides alike


def graph_op_counts(tflite_bytes: bytes) -> tuple[Counter[str] | None, str]:
    """(op name -> count in the main subgraph, "") from the flatbuffer; (None, why) when it cannot be read."""
    try:
        from core.models.tflite_graph import read_tflite_graph

        graph = read_tflite_graph(bytes(tflite_bytes))
        if not graph.subgraphs:
            return None, "the model has no subgraph"
        return Counter(op.name for op in graph.subgraphs[0].ops), ""
    except Exception as exc:  # noqa: BLE001 - an unreadable flatbuffer leaves the counts unknown
        return None, f"could not read the flatbuffer: {type(exc).__name__}: {exc}"


def read_delegation(interpreter: Any) -> tuple[DelegationInfo | None, str]:
    """Which ops XNNPACK took, from a prepared interpreter with XNNPACK on: (info, "") or (None, why).

    ai_edge_litert has no public API for it: the reading is `core.adapters.litert.read_delegation`
    (the one place the private node list is touched); any failure means "unknown", never 0.
    """
    from core.adapters.litert import read_delegation as read

    return read(interpreter, True)


def _source_of(runner: LiteRTRunner) -> bytes | None:
    """The .tflite bytes a LiteRTRunner was given (its content, or its file read once)."""
    content = getattr(runner, "_content", None)
    if content is not None:
        return bytes(content)
    path = getattr(runner, "_path", None)
    if path:
        with open(path, "rb") as handle:
            return handle.read()
    return None


def _xnnpack_interpreter(source: bytes) -> Any:
    """A plain interpreter with XNNPACK (the default delegate), tensors allocated at the model's own shapes."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=source, num_threads=1, experimental_op_resolver_type=OpResolverType.AUTO)
    interpreter.allocate_tensors()
    return interpreter


def _prepared(source: bytes, xnnpack: bool, like: Runner, batch: int, threads: int) -> LiteRTRunner:
    """A LiteRT runner on `source` prepared like `like` (its signature and input sizes), XNNPACK on or off."""
    from core.benchmark.litert_runner import LiteRTRunner

    runner = LiteRTRunner(
        source, xnnpack=xnnpack, variant=getattr(like, "_variant", None), signature=getattr(like, "signature", None)
    )
    try:
        runner.set_sample_shapes(like.sample_shapes())
    except Exception:  # noqa: BLE001 - no planned shapes: the runner's own defaults
        pass
    runner.prepare(batch, threads)
    return runner


def xnnpack_ablation(
    source: bytes,
    like: Runner,
    *,
    batch: int = 1,
    threads: int = 1,
    seconds: float = ABLATION_SECONDS,
    calls: int | None = None,
    cancel: CancelToken | None = None,
) -> tuple[float, float, int]:
    """(p50 ms with XNNPACK, p50 ms without, timed calls per side): invoke() of the same inputs timed in
    interleaved rounds. `like` is the runner measured in the sweep (its signature and input sizes are used).
    `calls` fixes the calls per side (at least ABLATION_MIN_CALLS); else as many as fit in `seconds` per side
    (at most ABLATION_MAX_CALLS). Raises whatever building or running the model raises (the caller records
    it as unknown)."""
    on = _prepared(source, True, like, batch, threads)
    off = _prepared(source, False, like, batch, threads)
    try:
        inputs = on.make_inputs(np.random.default_rng(0))
        on.set_inputs(inputs)
        off.set_inputs(inputs)
        sides = {"on": on.invoker(), "off": off.invoker()}  # invoke() alone, as the sweep's table times it
        for warm in (*sides.values(), *sides.values()):  # first-call allocation and packing are not part of it
            warm()
        # Size the rounds from one timed call of the slower side, so a slow model stays within `seconds`.
        start = time.perf_counter()
        sides["off"]()
        probe = max(time.perf_counter() - start, 1e-7)
        if calls is None:
            calls = int(min(ABLATION_MAX_CALLS, max(ABLATION_MIN_CALLS, seconds / probe)))
        calls = max(ABLATION_MIN_CALLS, int(calls))
        per_round = max(1, calls // ROUNDS)
        samples = interleaved_times(sides, rounds=max(1, calls // per_round), per_round=per_round, cancel=cancel)
        return statistics.median(samples["on"]), statistics.median(samples["off"]), len(samples["on"])
    finally:
        on.close()
        off.close()


def measure_facts(
    runners: Sequence[Runner],
    *,
    cancel: CancelToken | None = None,
    ablation: bool = True,
    seconds: float = ABLATION_SECONDS,
    calls: int | None = None,
) -> tuple[VariantFacts, ...]:
    """VariantFacts for each LiteRT runner (one per variant; the Keras/SavedModel ones are skipped).

    Quantize/dequantize ops "added" are relative to the runner whose variant is "fp32" (None without one).
    Nothing here fails the job: what cannot be measured stays None with the reason beside it.
    """
    from core.benchmark.litert_runner import LiteRTRunner

    seen: dict[str, tuple[LiteRTRunner, bytes]] = {}
    for runner in runners:
        if not isinstance(runner, LiteRTRunner) or getattr(runner, "plan_error", None) is not None:
            continue
        try:
            variant = runner.variant
            source = _source_of(runner)
        except Exception:  # noqa: BLE001 - a variant that could not load was reported by the sweep
            continue
        if source is not None and variant not in seen:
            seen[variant] = (runner, source)
    counts = {name: graph_op_counts(source) for name, (_, source) in seen.items()}
    base = counts.get("fp32", (None, ""))[0]
    facts: list[VariantFacts] = []
    for name, (runner, source) in seen.items():
        if cancel is not None:
            cancel.raise_if_cancelled()
        ops, _why = counts[name]
        quant = ops.get("QUANTIZE", 0) if ops is not None else None
        dequant = ops.get("DEQUANTIZE", 0) if ops is not None else None
        added_q: int | None = None
        added_d: int | None = None
        if ops is not None and base is not None:
            added_q = ops.get("QUANTIZE", 0) - base.get("QUANTIZE", 0)
            added_d = ops.get("DEQUANTIZE", 0) - base.get("DEQUANTIZE", 0)
        info: DelegationInfo | None = None
        delegation_error = ""
        on_ms: float | None = None
        off_ms: float | None = None
        timed, ablation_error = 0, ""
        try:
            info, delegation_error = read_delegation(_xnnpack_interpreter(source))
        except Exception as exc:  # noqa: BLE001 - a model that does not build here: unknown, not a failed job
            delegation_error = f"the model did not build with XNNPACK ({type(exc).__name__}: {exc})"
        if ablation:
            try:
                on_ms, off_ms, timed = xnnpack_ablation(source, runner, seconds=seconds, calls=calls, cancel=cancel)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - a side that cannot run leaves the ablation unknown
                ablation_error = f"{type(exc).__name__}: {exc}"
        facts.append(
            VariantFacts(
                variant=name,
                total_ops=sum(ops.values()) if ops is not None else None,
                op_counts=tuple(sorted(ops.items(), key=lambda item: (-item[1], item[0]))) if ops is not None else (),
                quantize_ops=quant,
                dequantize_ops=dequant,
                added_quantize_ops=added_q,
                added_dequantize_ops=added_d,
                delegated_ops=info.delegated_ops if info is not None else None,
                partitions=info.partitions if info is not None else None,
                kept_ops=info.kept_ops if info is not None else (),
                delegation_error=delegation_error,
                xnnpack_on_p50_ms=on_ms,
                xnnpack_off_p50_ms=off_ms,
                ablation_batch=1 if ablation else None,
                ablation_threads=1 if ablation else None,
                ablation_calls=timed,
                ablation_error=ablation_error,
            )
        )
    return tuple(facts)
