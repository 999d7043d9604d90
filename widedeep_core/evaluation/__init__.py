"""Metrics and the evaluation of a model on a split (``api.evaluate_run``: a stored run)."""

from widedeep_core.evaluation.evaluate import (
    evaluate_pointwise,
    evaluate_ranking,
    evaluate_split,
    predict_logits,
)

__all__ = [
    "evaluate_pointwise",
    "evaluate_ranking",
    "evaluate_split",
    "predict_logits",
]
