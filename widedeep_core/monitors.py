"""The validation metric that picks a run's best epoch: its key, label and direction.

One owner for what ``config.monitor`` means, read by the early stopping, the CLI's epoch
lines, the Train page's plot, the Runs table and the sweep objective's default. Pure and
cheap: no torch, no config import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from widedeep_core.constants import MONITORS


@dataclass(frozen=True)
class Monitor:
    """One monitored validation metric."""

    name: str  # the configuration value: "val_auc", "val_logloss", "val_ndcg"
    metric: str  # its key among an epoch's validation metrics: "auc", "ndcg@10"
    label: str  # what a person reads: "val AUC", "val NDCG@10"
    higher_is_better: bool

    @property
    def column(self) -> str:
        """Its column in an epoch row (``EpochEvent.row``, a run's epochs.jsonl)."""
        return f"val_{self.metric}"

    def score(self, value: float) -> float:
        """``value`` oriented so that larger is better."""
        return value if self.higher_is_better else -value

    def format(self, value: float | None) -> str:
        """The value as the CLI and the pages print it."""
        if value is None or value != value:
            return "-"
        return f"{value:.4f}"


def monitor_of(name: str = "val_auc", k: int = 10) -> Monitor:
    """The ``Monitor`` a configuration's ``monitor`` (and ``ranking_k``) names."""
    if name not in MONITORS:
        raise ValueError(f"unknown monitor {name!r}; choices: {', '.join(MONITORS)}")
    if name == "val_ndcg":
        return Monitor(name, f"ndcg@{int(k)}", f"val NDCG@{int(k)}", True)
    if name == "val_logloss":
        return Monitor(name, "logloss", "val log loss", False)
    return Monitor(name, "auc", "val AUC", True)


def config_monitor(config: Any) -> Monitor:
    """The ``Monitor`` of a ``Config`` (or anything with ``monitor`` and ``ranking_k``)."""
    return monitor_of(
        getattr(config, "monitor", "val_auc") or "val_auc", getattr(config, "ranking_k", 10)
    )


__all__ = ["Monitor", "config_monitor", "monitor_of"]
