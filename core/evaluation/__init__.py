"""Judging a model's outputs: accuracy against labels and fidelity against the original model (pure numpy)."""

from core.evaluation.metrics import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    TASKS,
    AccuracyMetrics,
    Evaluation,
    FidelityMetrics,
    accuracy_metrics,
    average_precision,
    binary_metrics,
    classification_metrics,
    detect_task,
    evaluate_outputs,
    fidelity_metrics,
    regression_metrics,
    roc_auc,
)

__all__ = [
    "BINARY", "MULTICLASS", "REGRESSION", "TASKS",
    "AccuracyMetrics", "Evaluation", "FidelityMetrics",
    "accuracy_metrics", "average_precision", "binary_metrics", "classification_metrics",
    "detect_task", "evaluate_outputs", "fidelity_metrics", "regression_metrics", "roc_auc",
]
