"""Metrics and the evaluation of a model or a stored run on a split."""

from widedeep_core.evaluation.evaluate import (
    evaluate_pointwise,
    evaluate_ranking,
    evaluate_run,
    evaluate_split,
    predict_logits,
)

__all__ = [
    "evaluate_pointwise",
    "evaluate_ranking",
    "evaluate_run",
    "evaluate_split",
    "predict_logits",
]
