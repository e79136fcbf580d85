"""The comparison table's text, cell by cell: the app's table and the HTML report read the same words.

`column_titles(metric)` and `row_cells(row, metric)` give the table as people see it;
the figures come from `core.report.comparison.Row` (no re-measuring, no re-ranking).
A cell holding its column's best value ends with ★; the recommended variant's
name ends with ✔, and a variant served from the result cache with ⟲.
"""

from __future__ import annotations

import math

from core.report.comparison import Metric, Row
from core.units import fmt_ms, human_size

STAR = " ★"
RECOMMENDED_MARK = " ✔"
CACHE_MARK = " ⟲"
OUTPUT_NAME_MAX = 16  # the worst output's name in a fidelity cell: longer ones are cut (whole in the tooltip)


def num_text(value: float | None, fmt: str) -> str:
    """`value` formatted with `fmt` ("—" for None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def ms_cell(value: float | None) -> str:
    """A latency cell of the app's tables: 3 decimals below 10 ms ("1.234 ms"), µs below 0.1 ms."""
    return fmt_ms(value, digits=3)


def text_of(row: Row, key: str, text: str) -> str:
    """The cell's text with ★ when `row` holds column `key`'s best value."""
    return text + STAR if key in row.best and text != "—" else text


def variant_text(row: Row) -> str:
    """The name, with ✔ for the recommendation and ⟲ for a candidate served from the cache."""
    return row.name + (RECOMMENDED_MARK if row.recommended else "") + (CACHE_MARK if row.from_cache else "")


def size_text(row: Row) -> str:
    """The size cell ("1.2 MiB", binary units), ★ when smallest; "—" when the size is unknown."""
    return text_of(row, "size", human_size(row.size_bytes) if row.size_bytes else "—")


def ratio_text(row: Row) -> str:
    """Size / the fp32 .tflite conversion's, as "0.26×"."""
    return text_of(row, "size", num_text(row.size_ratio, ".2f") + ("×" if row.size_ratio else ""))


def p50_text(row: Row) -> str:
    """The p50 latency cell (ms, `ms_cell`), ★ when lowest."""
    return text_of(row, "p50", ms_cell(row.p50_ms))


def p99_text(row: Row) -> str:
    """The p99 latency cell (ms, `ms_cell`), ★ when lowest."""
    return text_of(row, "p99", ms_cell(row.p99_ms))


def speedup_text(row: Row) -> str:
    """The original's p50 / this row's, as "22.0×"."""
    return text_of(row, "speedup", num_text(row.speedup, ".1f") + ("×" if row.speedup else ""))


def throughput_text(row: Row) -> str:
    """The throughput cell in samples per second ("12,345"), ★ when highest."""
    return text_of(row, "throughput", num_text(row.throughput, ",.0f"))


def accuracy_text(row: Row, metric: Metric) -> str:
    """A percentage for an accuracy, four decimals for PR-AUC, MAE, mAP and mIoU."""
    if row.accuracy is None:
        text = "—"
    else:
        text = f"{row.accuracy * 100:.2f} %" if metric.accuracy_title == "Accuracy" else f"{row.accuracy:.4f}"
    return text_of(row, "accuracy", text)


def fidelity_text(row: Row, metric: Metric) -> str:
    """An agreement as a percentage, a cosine with five decimals; several outputs: the worst one's name after "·"."""
    if row.is_original:
        text = "reference"
    elif row.fidelity is None:
        text = "—"
    else:
        if not row.fidelity_cosine:
            text = f"{row.fidelity * 100:.2f} %"
        else:
            text = f"cos {row.fidelity:.5f}" if metric.several else f"{row.fidelity:.5f}"
        name = row.fidelity_output
        if len(name) > OUTPUT_NAME_MAX:  # whole in the tooltip
            name = name[: OUTPUT_NAME_MAX - 1] + "…"
        text += f" · {name}" if name else ""
    return text_of(row, "fidelity", text)


def column_titles(metric: Metric) -> list[str]:
    """The comparison table's headers (a model with several outputs has two-line quality headers)."""
    return [
        "Variant",
        "Format",
        "Size",
        "vs fp32",
        "p50",
        "p99",
        "Speed-up",
        "Samples/s",
        metric.accuracy_column,
        metric.fidelity_column,
    ]


def row_cells(row: Row, metric: Metric) -> list[str]:
    """One row's cells, in `column_titles` order."""
    return [
        variant_text(row),
        row.format,
        size_text(row),
        ratio_text(row),
        p50_text(row),
        p99_text(row),
        speedup_text(row),
        throughput_text(row),
        accuracy_text(row, metric),
        fidelity_text(row, metric),
    ]


__all__ = [
    "CACHE_MARK",
    "OUTPUT_NAME_MAX",
    "RECOMMENDED_MARK",
    "STAR",
    "accuracy_text",
    "column_titles",
    "fidelity_text",
    "ms_cell",
    "num_text",
    "p50_text",
    "p99_text",
    "ratio_text",
    "row_cells",
    "size_text",
    "speedup_text",
    "text_of",
    "throughput_text",
    "variant_text",
]
