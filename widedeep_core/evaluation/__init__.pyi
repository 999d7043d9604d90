# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .evaluate import evaluate_pointwise, evaluate_ranking, evaluate_split, predict_logits

__all__ = [
    "evaluate_pointwise",
    "evaluate_ranking",
    "evaluate_split",
    "predict_logits",
]
