"""Judging a model's outputs: accuracy against labels and fidelity against the original model (pure numpy).

One output: ``evaluate_outputs`` (``metrics``). A whole model, output by output:
``evaluate_model`` (``model``). Which task an output is: ``infer_task`` (``tasks``).
"""

# The shared vocabulary (task names, result types) is `common.__all__`; the functions come from their modules.
from core.evaluation import common
from core.evaluation.common import *  # noqa: F403 - re-exports exactly common.__all__
from core.evaluation.metrics import (
    accuracy_metrics,
    average_precision,
    binary_metrics,
    classification_metrics,
    clipped_outputs,
    detect_task,
    evaluate_outputs,
    fidelity_metrics,
    regression_metrics,
    roc_auc,
)
from core.evaluation.model import ModelEvaluation, evaluate_model, fidelity_score, nonfinite_samples
from core.evaluation.multilabel import multilabel_metrics
from core.evaluation.positions import class_id_metrics, mean_iou, segmentation_metrics, sequence_metrics
from core.evaluation.tasks import TaskChoice, check_task, infer_task

__all__ = [
    *common.__all__,
    "ModelEvaluation",
    "TaskChoice",
    "accuracy_metrics",
    "average_precision",
    "binary_metrics",
    "check_task",
    "class_id_metrics",
    "classification_metrics",
    "clipped_outputs",
    "detect_task",
    "evaluate_model",
    "evaluate_outputs",
    "fidelity_metrics",
    "fidelity_score",
    "infer_task",
    "mean_iou",
    "multilabel_metrics",
    "nonfinite_samples",
    "regression_metrics",
    "roc_auc",
    "segmentation_metrics",
    "sequence_metrics",
]
