"""Text for evaluation figures in the CLI: re-exported from `core.evaluation.text` (Qt-free, shared with the GUI)."""

from __future__ import annotations

from core.evaluation.text import (
    accuracy_text,
    fidelity_text,
    fmt,
    headline_accuracy,
    headline_fidelity,
    output_evaluation,
    per_output_table,
    task_lines,
)

__all__ = [
    "accuracy_text",
    "fidelity_text",
    "fmt",
    "headline_accuracy",
    "headline_fidelity",
    "output_evaluation",
    "per_output_table",
    "task_lines",
]
