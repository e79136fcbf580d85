"""Explanations in words, built from measured fields only.

Every sentence is an `Explanation` that names the fields it quotes (`source_field`)
and their values (`cited`). The measured fields are the sweep's configurations
(`configs[LABEL].stats.*`), what XNNPACK took during the sweep (`delegation[VARIANT].*`)
and each variant's `VariantFacts` (`variant_facts[VARIANT].*`: op counts from the
flatbuffer, delegate partitions, the XNNPACK on/off ablation). No sentence is chosen
by a variant's name: a variant slower than fp32 is explained by the differences
measured between the two, and when none was measured, the text says so.
Interpretations that were not measured are separate sentences starting with
"General advice:" (``general_advice=True``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from core.benchmark.results import BenchmarkResult, ConfigResult, DelegationInfo, Explanation, VariantFacts
from core.benchmark.stats import fmt_ms

SLOWER = 1.05  # a ratio above this counts as slower (5% covers run-to-run noise)
MIN_GAP_MS = 0.005  # ... and by more than 5 µs: below that, calls are all Python overhead and noise


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _advice(text: str, source: str, variant: str | None = None) -> Explanation:
    return Explanation("General advice: " + text, source, (), variant, general_advice=True)


def describe_delegation(variant: str, info: DelegationInfo) -> str:
    """The delegation sentence for a sweep's `DelegationInfo` (text only; `explain` cites its fields)."""
    if not info.xnnpack:
        return f"{variant}: measured with XNNPACK off: all {info.total_ops} ops run on LiteRT's built-in kernels."
    if info.delegated_ops == 0:
        return (
            f"{variant}: XNNPACK took none of its {info.total_ops} ops: everything runs on LiteRT's built-in kernels."
        )
    text = (
        f"{variant}: XNNPACK took {info.delegated_ops} of {info.total_ops} ops in "
        f"{_plural(info.partitions, 'partition')}."
    )
    if info.kept_ops:
        kept = info.total_ops - info.delegated_ops
        names = ", ".join(f"{name}×{count}" for name, count in info.kept_ops[:6])
        text += f" {kept} op(s) stay on LiteRT's built-in kernels ({names})."
    return text


def _delegation_explanation(variant: str, info: DelegationInfo) -> Explanation:
    field = f"delegation[{variant}]"
    return Explanation(
        describe_delegation(variant, info),
        f"{field}.delegated_ops,{field}.partitions",
        (
            (f"{field}.delegated_ops", info.delegated_ops),
            (f"{field}.partitions", info.partitions),
            (f"{field}.total_ops", info.total_ops),
        ),
        variant,
    )


def _facts_explanations(f: VariantFacts, base: VariantFacts | None) -> list[Explanation]:
    """Sentences for one variant's measured facts: quantize/dequantize ops, the XNNPACK ablation, unknowns."""
    out: list[Explanation] = []
    field = f"variant_facts[{f.variant}]"
    if f.delegated_ops is None and f.delegation_error:
        out.append(
            Explanation(
                f"{f.variant}: which ops XNNPACK took is unknown ({f.delegation_error}).",
                f"{field}.delegation_error",
                ((f"{field}.delegation_error", f.delegation_error),),
                f.variant,
            )
        )
    if f.added_quantize_ops is not None and (f.added_quantize_ops or f.added_dequantize_ops):
        out.append(
            Explanation(
                f"{f.variant}: its graph has {f.added_quantize_ops:+d} QUANTIZE and {f.added_dequantize_ops:+d} "
                f"DEQUANTIZE op(s) against fp32's ({f.quantize_ops} and {f.dequantize_ops} in all, counted in the "
                ".tflite).",
                f"{field}.added_quantize_ops,{field}.added_dequantize_ops",
                (
                    (f"{field}.added_quantize_ops", f.added_quantize_ops),
                    (f"{field}.added_dequantize_ops", f.added_dequantize_ops),
                    (f"{field}.quantize_ops", f.quantize_ops),
                    (f"{field}.dequantize_ops", f.dequantize_ops),
                ),
                f.variant,
            )
        )
    elif f.added_quantize_ops is None and (f.quantize_ops or f.dequantize_ops):
        out.append(
            Explanation(
                f"{f.variant}: its graph has {f.quantize_ops} QUANTIZE and {f.dequantize_ops} DEQUANTIZE op(s) "
                "(counted in the .tflite; no fp32 variant to compare with).",
                f"{field}.quantize_ops,{field}.dequantize_ops",
                ((f"{field}.quantize_ops", f.quantize_ops), (f"{field}.dequantize_ops", f.dequantize_ops)),
                f.variant,
            )
        )
    if f.xnnpack_on_p50_ms is not None and f.xnnpack_off_p50_ms is not None:
        ratio = f.xnnpack_off_p50_ms / f.xnnpack_on_p50_ms if f.xnnpack_on_p50_ms > 0 else float("nan")
        verdict = (
            f"XNNPACK makes it {ratio:.1f}x faster"
            if ratio >= SLOWER
            else f"XNNPACK makes it {1 / ratio:.1f}x slower"
            if ratio * SLOWER <= 1
            else "XNNPACK makes no clear difference"
        )
        out.append(
            Explanation(
                f"{f.variant}: p50 {fmt_ms(f.xnnpack_on_p50_ms)} with XNNPACK, {fmt_ms(f.xnnpack_off_p50_ms)} with "
                f"LiteRT's built-in kernels only ({verdict}; timed apart from the table, on and off in turns: "
                f"invoke() alone as in the table, batch {f.ablation_batch}, {_plural(f.ablation_threads or 1, 'thread')}, "
                f"{f.ablation_calls} calls each).",
                f"{field}.xnnpack_on_p50_ms,{field}.xnnpack_off_p50_ms",
                (
                    (f"{field}.xnnpack_on_p50_ms", f.xnnpack_on_p50_ms),
                    (f"{field}.xnnpack_off_p50_ms", f.xnnpack_off_p50_ms),
                ),
                f.variant,
            )
        )
    elif f.ablation_error:
        out.append(
            Explanation(
                f"{f.variant}: XNNPACK on/off not measured ({f.ablation_error}).",
                f"{field}.ablation_error",
                ((f"{field}.ablation_error", f.ablation_error),),
                f.variant,
            )
        )
    return out


def _why_slower(
    variant: str, facts: Mapping[str, VariantFacts], delegation: Mapping[str, DelegationInfo]
) -> Explanation:
    """Why `variant` is slower than fp32, from the differences measured between the two; says so when none was."""
    f, base = facts.get(variant), facts.get("fp32")
    reasons: list[str] = []
    cited: list[tuple[str, object]] = []
    fields: list[str] = []
    # Ops outside XNNPACK: the facts' reading, else the sweep's own (`delegation`, when XNNPACK was on).
    kept: int | None = None
    parts: int | None = None
    names: tuple[tuple[str, int], ...] = ()
    kept_cites: list[tuple[str, object]] = []
    if f is not None and f.kept_count is not None:
        kept, parts, names = f.kept_count, f.partitions, f.kept_ops
        kept_cites = [(f"variant_facts[{variant}].kept_count", kept), (f"variant_facts[{variant}].partitions", parts)]
    elif variant in delegation and delegation[variant].xnnpack:
        info = delegation[variant]
        kept, parts, names = info.total_ops - info.delegated_ops, info.partitions, info.kept_ops
        kept_cites = [
            (f"delegation[{variant}].total_ops", info.total_ops),
            (f"delegation[{variant}].delegated_ops", info.delegated_ops),
            (f"delegation[{variant}].partitions", parts),
        ]
    base_kept: int | None = None
    base_cites: list[tuple[str, object]] = []
    if base is not None and base.kept_count is not None:
        base_kept = base.kept_count
        base_cites = [("variant_facts[fp32].kept_count", base_kept)]
    elif "fp32" in delegation and delegation["fp32"].xnnpack:
        info = delegation["fp32"]
        base_kept = info.total_ops - info.delegated_ops
        base_cites = [
            ("delegation[fp32].total_ops", info.total_ops),
            ("delegation[fp32].delegated_ops", info.delegated_ops),
        ]
    if kept is not None and kept > 0 and (base_kept is None or kept > base_kept):
        listed = ", ".join(name for name, _ in names[:4])
        reasons.append(
            f"{kept} of its ops stay outside XNNPACK ({listed}) in {_plural(parts or 0, 'partition')}"
            + (f", against {base_kept} for fp32" if base_kept is not None else "")
        )
        cited += kept_cites + (base_cites if base_kept is not None else [])
        fields.append(kept_cites[0][0])
    if (
        f is not None
        and f.added_quantize_ops is not None
        and f.added_dequantize_ops is not None
        and (f.added_quantize_ops + f.added_dequantize_ops) > 0
    ):
        reasons.append(f"it adds {f.added_quantize_ops} QUANTIZE and {f.added_dequantize_ops} DEQUANTIZE op(s)")
        cited += [
            (f"variant_facts[{variant}].added_quantize_ops", f.added_quantize_ops),
            (f"variant_facts[{variant}].added_dequantize_ops", f.added_dequantize_ops),
        ]
        fields.append(f"variant_facts[{variant}].added_quantize_ops")
    on, off = (f.xnnpack_on_p50_ms, f.xnnpack_off_p50_ms) if f is not None else (None, None)
    base_on, base_off = (base.xnnpack_on_p50_ms, base.xnnpack_off_p50_ms) if base is not None else (None, None)
    if on is not None and off is not None and base_on is not None and base_off is not None:
        gain = off / on
        base_gain = base_off / base_on
        without = off / base_off
        if base_gain > gain * SLOWER:
            reasons.append(f"XNNPACK speeds it up {gain:.1f}x against {base_gain:.1f}x for fp32")
        reasons.append(
            f"with built-in kernels only it takes {without:.1f}x fp32's time ({fmt_ms(off)} vs {fmt_ms(base_off)})"
        )
        cited += [
            (f"variant_facts[{variant}].xnnpack_on_p50_ms", on),
            (f"variant_facts[{variant}].xnnpack_off_p50_ms", off),
            ("variant_facts[fp32].xnnpack_on_p50_ms", base_on),
            ("variant_facts[fp32].xnnpack_off_p50_ms", base_off),
        ]
        fields.append(f"variant_facts[{variant}].xnnpack_off_p50_ms")
    if not reasons:
        return Explanation(
            f"{variant}: why it is slower was not measured (no delegation, op counts or XNNPACK "
            "on/off figures for it and fp32).",
            f"variant_facts[{variant}]",
            (),
            variant,
        )
    return Explanation(
        f"{variant} vs fp32, measured: " + "; ".join(reasons) + ".", ",".join(fields), tuple(cited), variant
    )


def explain(
    results: Sequence[ConfigResult], delegation: Mapping[str, DelegationInfo], *, facts: Sequence[VariantFacts] = ()
) -> list[Explanation]:
    """Sentences for the user, each with the measured fields it quotes: delegation and facts per variant,
    variants slower than fp32 and what differs, thread scaling, Keras against .tflite, a slow first call,
    configurations that could not run."""
    lines: list[Explanation] = []
    by_variant = {f.variant: f for f in facts}
    for variant, info in delegation.items():
        lines.append(_delegation_explanation(variant, info))
    for f in facts:
        swept = delegation.get(f.variant)
        if f.delegated_ops is not None and (swept is None or not swept.xnnpack):  # not said above
            info = DelegationInfo(f.delegated_ops + (f.kept_count or 0), f.delegated_ops, f.partitions or 0, f.kept_ops)
            field = f"variant_facts[{f.variant}]"
            lines.append(
                Explanation(
                    describe_delegation(f.variant, info),
                    f"{field}.delegated_ops,{field}.partitions",
                    (
                        (f"{field}.delegated_ops", f.delegated_ops),
                        (f"{field}.partitions", f.partitions),
                        (f"{field}.kept_count", f.kept_count),
                    ),
                    f.variant,
                )
            )
        lines += _facts_explanations(f, by_variant.get("fp32"))

    ok = [r for r in results if r.ok]
    # Variants slower than fp32 at the same batch size and threads (any .tflite variant but fp32).
    fp32 = {(r.runner, r.batch_size, r.threads): r for r in ok if r.variant == "fp32" and r.runner.startswith("litert")}
    slower: dict[str, list[tuple[float, ConfigResult, ConfigResult]]] = defaultdict(list)
    compared: dict[str, int] = defaultdict(int)
    for r in ok:
        if r.variant in ("fp32", "original") or not r.runner.startswith("litert"):
            continue
        base = fp32.get((r.runner, r.batch_size, r.threads))
        if base is None:
            continue
        compared[r.variant] += 1
        ratio = r.stats.p50 / base.stats.p50
        if ratio > SLOWER and r.stats.p50 - base.stats.p50 > MIN_GAP_MS:
            slower[r.variant].append((ratio, r, base))
    for variant, cases in slower.items():
        ratio, r, base = max(cases, key=lambda c: c[0])
        threads = "" if r.threads is None else f", {_plural(r.threads, 'thread')}"
        where = (
            "at every batch size and thread count measured"
            if len(cases) == compared[variant]
            else f"in {len(cases)} of {compared[variant]} configurations"
        )
        lines.append(
            Explanation(
                f"{variant} is slower than fp32 {where}: up to {ratio:.1f}x (p50 {fmt_ms(r.stats.p50)} vs "
                f"{fmt_ms(base.stats.p50)} at batch {r.batch_size}{threads}).",
                f"configs[{r.label}].stats.p50,configs[{base.label}].stats.p50",
                ((f"configs[{r.label}].stats.p50", r.stats.p50), (f"configs[{base.label}].stats.p50", base.stats.p50)),
                variant,
            )
        )
        lines.append(_why_slower(variant, by_variant, delegation))

    # More threads slower than fewer.
    groups: dict[tuple[str, str, int], list[ConfigResult]] = defaultdict(list)
    for r in ok:
        if r.threads is not None:
            groups[(r.runner, r.variant, r.batch_size)].append(r)
    thread_cases: dict[tuple[str, int | None, int | None], list[tuple[int, ConfigResult, ConfigResult]]] = defaultdict(
        list
    )
    for (_runner, variant, batch), group in groups.items():
        group.sort(key=lambda r: r.threads or 0)  # every one has threads (filtered above)
        for fewer, more in zip(group, group[1:]):
            if more.stats.p50 > fewer.stats.p50 * SLOWER:
                thread_cases[(variant, fewer.threads, more.threads)].append((batch, fewer, more))
    for (variant, fewer_t, more_t), found in thread_cases.items():
        batches = ", ".join(str(b) for b, _, _ in found)
        _, fewer, more = max(found, key=lambda c: c[2].stats.p50 / c[1].stats.p50)
        lines.append(
            Explanation(
                f"{variant}: {more_t} threads is slower than {fewer_t} at batch {batches} (worst: p50 "
                f"{fmt_ms(more.stats.p50)} vs {fmt_ms(fewer.stats.p50)} at batch {more.batch_size}).",
                f"configs[{more.label}].stats.p50,configs[{fewer.label}].stats.p50",
                (
                    (f"configs[{more.label}].stats.p50", more.stats.p50),
                    (f"configs[{fewer.label}].stats.p50", fewer.stats.p50),
                ),
                variant,
            )
        )
    if thread_cases:  # one interpretation for all of them, labelled: it is not measured
        lines.append(
            _advice(
                "when the work per call is small, splitting it across threads costs more than it "
                "saves (or the cores are busy).",
                "configs[*].stats.p50",
            )
        )

    # Keras baseline against the fastest .tflite at the same batch.
    keras = [r for r in ok if r.runner.startswith("keras")]
    lite = [r for r in ok if r.runner.startswith("litert")]
    for batch in sorted({r.batch_size for r in keras}):
        base = min((r for r in keras if r.batch_size == batch), key=lambda r: r.stats.p50)
        rivals = [r for r in lite if r.batch_size == batch]
        if rivals:
            best = min(rivals, key=lambda r: r.stats.p50)
            ratio = base.stats.p50 / best.stats.p50
            verdict = "faster" if ratio >= 1 else "slower"
            factor = ratio if ratio >= 1 else 1 / ratio
            lines.append(
                Explanation(
                    f"batch {batch}: the best .tflite ({best.label}, p50 {fmt_ms(best.stats.p50)}) is "
                    f"{factor:.1f}x {verdict} than the best Keras run ({base.label}, {fmt_ms(base.stats.p50)}).",
                    f"configs[{best.label}].stats.p50,configs[{base.label}].stats.p50",
                    (
                        (f"configs[{best.label}].stats.p50", best.stats.p50),
                        (f"configs[{base.label}].stats.p50", base.stats.p50),
                    ),
                )
            )

    # Cold start.
    for r in ok:
        if r.stats.cold_ms > 20 * r.stats.p50 and r.stats.cold_ms > 50:
            lines.append(
                Explanation(
                    f"{r.label}: the first call took {r.stats.cold_ms:.0f} ms ({r.stats.cold_ms / r.stats.p50:.0f}x "
                    "a warm call).",
                    f"configs[{r.label}].stats.cold_ms",
                    (
                        (f"configs[{r.label}].stats.cold_ms", r.stats.cold_ms),
                        (f"configs[{r.label}].stats.p50", r.stats.p50),
                    ),
                    r.variant,
                )
            )
            lines.append(
                _advice(
                    "a slow first call is tracing, allocation or delegate set-up; warm the model up before serving.",
                    f"configs[{r.label}].stats.cold_ms",
                    r.variant,
                )
            )
            break
    for r in results:
        if r.error:
            lines.append(
                Explanation(
                    f"{r.label}: not measured: {r.error}",
                    f"configs[{r.label}].error",
                    ((f"configs[{r.label}].error", r.error),),
                    r.variant,
                )
            )
    return lines


def cited_value(field: str, result: BenchmarkResult) -> object:
    """The value a cited field names in a BenchmarkResult: "configs[LABEL].stats.p50",
    "variant_facts[VARIANT].partitions", "delegation[VARIANT].delegated_ops", "data_profile.data_share"
    (KeyError when absent)."""
    obj: Any
    if field.startswith("data_profile."):
        obj = result.data_profile
        for attr in field.split(".")[1:]:
            obj = getattr(obj, attr)
        return obj
    head, _, rest = field.partition("].")
    kind, _, key = head.partition("[")
    if kind == "configs":
        obj = result.config_result(key)
    elif kind == "variant_facts":
        obj = next((f for f in result.variant_facts if f.variant == key), None)
    elif kind == "delegation":
        obj = dict(result.delegation).get(key)
    else:
        raise KeyError(field)
    if obj is None:
        raise KeyError(field)
    for attr in rest.split("."):
        obj = getattr(obj, attr)
    return obj
