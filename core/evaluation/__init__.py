"""Judging a model's outputs: accuracy against labels and fidelity against the original model (pure numpy).

One output: ``evaluate_outputs`` (``metrics``). A whole model, output by output:
``evaluate_model`` (``model``). Which task an output is: ``infer_task`` (``tasks``).
"""

# `metrics` is the one-output API and re-exports the shared vocabulary of `common` (the task names and
# result types), so the package takes both from there.
from core.evaluation.metrics import (
    BINARY, CLASS_ID, EMBEDDING, MULTICLASS, MULTILABEL, REGRESSION, SEGMENTATION, SEQUENCE, TASKS,
    AccuracyMetrics, Evaluation, FidelityMetrics,
    accuracy_metrics, average_precision, binary_metrics, classification_metrics, clipped_outputs, detect_task,
    evaluate_outputs, fidelity_metrics, regression_metrics, roc_auc,
)
from core.evaluation.model import ModelEvaluation, evaluate_model, fidelity_score, nonfinite_samples
from core.evaluation.multilabel import multilabel_metrics
from core.evaluation.positions import class_id_metrics, mean_iou, segmentation_metrics, sequence_metrics
from core.evaluation.tasks import TaskChoice, check_task, infer_task

__all__ = [
    "BINARY", "MULTICLASS", "REGRESSION", "MULTILABEL", "CLASS_ID", "SEQUENCE", "SEGMENTATION", "EMBEDDING",
    "TASKS",
    "AccuracyMetrics", "Evaluation", "FidelityMetrics", "ModelEvaluation", "TaskChoice",
    "accuracy_metrics", "average_precision", "binary_metrics", "check_task", "class_id_metrics",
    "classification_metrics", "clipped_outputs", "detect_task", "evaluate_model", "evaluate_outputs",
    "fidelity_metrics", "fidelity_score", "infer_task", "mean_iou", "multilabel_metrics", "nonfinite_samples",
    "regression_metrics", "roc_auc", "segmentation_metrics", "sequence_metrics",
]
