"""The results panel's tables: their columns (`gui.table_models.Column`), cells in `core.report.cells`' words.

- `comparison_columns(metric)`: the before/after table, one row per `core.report.comparison.Row`;
- `LAYER_COLUMNS`: per-layer quantization error (`core.optimize.results.LayerError`);
- `config_columns(recommended)`: "All measurements", one row per benchmarked configuration
  (`core.benchmark.results.ConfigResult`; times in ms, memory in MB as measured);
- `PROFILE_COLUMNS`: the Keras baseline's layer times (mean ms per call, share of the total).

The cells' text is `core.report.cells`' (the HTML report's too); sorting, bold and tooltips are the table's.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from core.report.cells import (
    accuracy_text,
    fidelity_text,
    ms_cell as ms_text,
    num_text as _num,
    p50_text,
    p99_text,
    ratio_text,
    size_text,
    speedup_text,
    throughput_text,
    variant_text,
)
from core.report.comparison import Metric, Row
from core.units import mib_text
from gui.flag_hints import gui_words
from gui.table_models import Column


def comparison_columns(metric: Metric) -> list[Column]:
    """The comparison table's columns; with several outputs, accuracy is the primary output's and fidelity the
    worst output's (named in the cell, every output in the tooltip)."""

    # The cells' text is core.report.cells' (the HTML report's too); sorting, bold and tooltips are the table's.
    def bold(key: str) -> Callable[[Row], bool]:
        return lambda r: key in r.best

    def fid_tooltip(r: Row) -> str:
        if r.fidelity_detail:
            return (
                "fidelity of each output against the original's; the worst one is shown (agreement of "
                "decisions, or cosine for outputs that make none):\n" + r.fidelity_detail
            )
        return "agreement with the original model's outputs on the evaluation data"

    def num_key(attr: str) -> Callable[[Row], Any]:
        return lambda r: getattr(r, attr) if getattr(r, attr) is not None else math.inf

    return [
        Column(
            "Variant",
            variant_text,
            tooltip=lambda r: (
                "\n".join([r.name, *map(gui_words, r.warnings)]) + (f"\n{r.config_label}" if r.config_label else "")
            ),
        ),
        Column("Format", lambda r: r.format),
        Column(
            "Size",
            size_text,
            sort_key=lambda r: r.size_bytes,
            numeric=True,
            bold=bold("size"),
            tooltip=lambda r: f"{r.size_bytes:,} bytes",
        ),
        Column(
            "vs fp32",
            ratio_text,
            sort_key=num_key("size_ratio"),
            numeric=True,
            bold=bold("size"),
            tooltip=lambda r: "size / the fp32 .tflite conversion",
        ),
        Column(
            "p50",
            p50_text,
            sort_key=num_key("p50_ms"),
            numeric=True,
            bold=bold("p50"),
            tooltip=lambda r: f"median latency per call ({r.config_label})",
        ),
        Column("p99", p99_text, sort_key=num_key("p99_ms"), numeric=True, bold=bold("p99")),
        Column(
            "Speed-up",
            speedup_text,
            sort_key=lambda r: -(r.speedup or 0),
            numeric=True,
            bold=bold("speedup"),
            tooltip=lambda r: "original p50 / this p50",
        ),
        Column(
            "Samples/s",
            throughput_text,
            sort_key=lambda r: -(r.throughput or 0),
            numeric=True,
            bold=bold("throughput"),
            tooltip=lambda r: (
                f"samples per second ({r.config_label}); the recommendation may use another batch size: see the header"
            ),
        ),
        Column(
            metric.accuracy_column,
            lambda r: accuracy_text(r, metric),
            sort_key=num_key("accuracy"),
            numeric=True,
            bold=bold("accuracy"),
        ),
        Column(
            metric.fidelity_column,
            lambda r: fidelity_text(r, metric),
            sort_key=num_key("fidelity"),
            numeric=True,
            bold=bold("fidelity"),
            tooltip=fid_tooltip,
        ),
    ]


LAYER_COLUMNS = [
    Column("Tensor", lambda e: e.tensor_name, tooltip=lambda e: e.tensor_name),
    Column("Op", lambda e: e.op_name),
    Column(
        "Error",
        lambda e: _num(e.mse if e.mse is not None else e.rmse_over_scale, ".3g"),
        sort_key=lambda e: -(e.mse if e.mse is not None else e.rmse_over_scale),
        numeric=True,
        tooltip=lambda e: "mean squared error" if e.mse is not None else "rmse / scale (~0.29 is ideal rounding)",
    ),
    Column("Max |error|", lambda e: _num(e.max_abs_error, ".3g"), sort_key=lambda e: -e.max_abs_error, numeric=True),
    Column("Bias", lambda e: _num(e.mean_abs_error, ".3g"), numeric=True),
    Column("Kept float", lambda e: "yes" if e.kept_float else ""),
]


def config_columns(recommended: str | None = None) -> list[Column]:
    """Columns of the "All measurements" table; `recommended` is the recommended configuration's label."""
    return [
        Column("Configuration", lambda c: c.label, tooltip=lambda c: gui_words(c.error) or c.runner),
        Column("Batch", lambda c: str(c.batch_size), sort_key=lambda c: c.batch_size, numeric=True),
        Column(
            "Threads",
            lambda c: "TF" if c.threads is None else str(c.threads),
            sort_key=lambda c: c.threads or 0,
            numeric=True,
        ),
        Column("Calls", lambda c: f"{c.stats.n:,}", sort_key=lambda c: c.stats.n, numeric=True),
        Column("p50", lambda c: ms_text(c.stats.p50 if c.ok else None), sort_key=lambda c: c.stats.p50, numeric=True),
        Column("p90", lambda c: ms_text(c.stats.p90 if c.ok else None), sort_key=lambda c: c.stats.p90, numeric=True),
        Column("p99", lambda c: ms_text(c.stats.p99 if c.ok else None), sort_key=lambda c: c.stats.p99, numeric=True),
        Column(
            "p99.9",
            lambda c: ms_text(c.stats.p999 if c.ok else None),
            sort_key=lambda c: c.stats.p999,
            numeric=True,
            tooltip=lambda c: f"from {c.stats.n} calls: read it with the number of calls",
        ),
        Column(
            "Samples/s",
            lambda c: _num(c.stats.throughput if c.ok else None, ",.0f"),
            sort_key=lambda c: -(c.stats.throughput if c.ok else 0),
            numeric=True,
        ),
        Column(
            "First call",
            lambda c: ms_text(c.stats.cold_ms if c.stats.cold_ms == c.stats.cold_ms else None),
            numeric=True,
            tooltip=lambda c: "the cold call after loading, not part of the figures",
        ),
        Column(
            "Peak memory",
            lambda c: mib_text(c.peak_rss_mb),
            sort_key=lambda c: c.peak_rss_mb,
            numeric=True,
            tooltip=lambda c: f"whole engine process ({c.memory_method}); +{c.peak_rss_delta_mb:.0f} MB during it",
        ),
        Column(
            "Note",
            lambda c: gui_words(c.error) or ("recommended" if c.label == recommended else ""),
            tooltip=lambda c: gui_words(c.error),
        ),
    ]


PROFILE_COLUMNS = [
    Column("Layer", lambda t: t.name, tooltip=lambda t: t.name),
    Column("Type", lambda t: t.type),
    Column("Mean time", lambda t: ms_text(t.mean_ms), sort_key=lambda t: -t.mean_ms, numeric=True),
    Column("Share", lambda t: f"{t.share * 100:.1f} %", sort_key=lambda t: -t.share, numeric=True),
]


__all__ = ["LAYER_COLUMNS", "PROFILE_COLUMNS", "comparison_columns", "config_columns"]
