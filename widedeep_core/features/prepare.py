"""The evaluation protocol in one place: the protocol's rows, labels, split, encoder and
encoded tensors.

The trainer, the evaluator and the recommender all go through ``prepare`` so that a
reloaded run sees exactly the rows, labels and vocabulary it was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from widedeep_core.config import Config, check_against_data, fields_available
from widedeep_core.config.memory import check_model_memory
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.features.encoder import FeatureEncoder
from widedeep_core.features.inputs import Encoded
from widedeep_core.features.protocol import protocol_data
from widedeep_core.features.retrieval_features import RetrievalFeatures
from widedeep_core.features.splits import Split, SplitRecord, binary_labels, make_split


@dataclass
class Prepared:
    """Everything derived from (config, data) before the model sees it."""

    config: Config
    data: MovieLensData  # the protocol's data (``protocol.protocol_data``): rows index it
    split: Split
    labels: np.ndarray  # float32 per rating row; NaN where the row is left out
    encoder: FeatureEncoder
    # a two-stage run's retrieval features, fitted on the training rows (attached by
    # serving.twostage.attach_retrieval); None for one-stage runs
    retrieval: RetrievalFeatures | None = None
    # the data as loaded, before the protocol's filters (None: the same as ``data``)
    source: MovieLensData | None = None

    @property
    def loaded(self) -> MovieLensData:
        """The data as loaded: every rating a person made, whatever the protocol keeps."""
        return self.source if self.source is not None else self.data

    def encoded(self, part: str) -> tuple[Encoded, torch.Tensor]:
        """Encoded features and float labels of ``part`` ("train", "val" or "test").

        A two-stage run's rows carry the full training split's retrieval features.
        """
        rows = getattr(self.split, part)
        x = self.encoder.transform(self.data, rows)
        if self.retrieval is not None:
            r = self.data.ratings
            users, items = r["user"].to_numpy()[rows], r["item"].to_numpy()[rows]
            x = x.with_dense(self.retrieval.for_pairs(users, items))
        return x, torch.from_numpy(self.labels[rows])

    def encode_pairs(self, users: np.ndarray, items: np.ndarray) -> Encoded:
        """(user id, movie id) pairs encoded, with dense features in a two-stage run."""
        x = self.encoder.transform_pairs(self.data, users, items)
        if self.retrieval is None:
            return x
        return x.with_dense(self.retrieval.for_pairs(users, items))


def check_fields(config: Config, data: MovieLensData) -> None:
    """Raise a ConfigError naming every field the configuration needs but the data lacks."""
    check_against_data(config, fields_available(data))


def make_labels(config: Config, data: MovieLensData) -> tuple[np.ndarray, np.ndarray]:
    """Per-row float32 labels (NaN for dropped rows) and the kept row positions."""
    y, keep = binary_labels(
        data.ratings, config.threshold, config.drop_neutral, config.positive_rule
    )
    labels = np.full(data.n_ratings, np.nan, dtype=np.float32)
    labels[keep] = y
    return labels, keep


def prepare(
    config: Config,
    data: MovieLensData,
    *,
    encoder: FeatureEncoder | None = None,
    split_record: SplitRecord | None = None,
) -> Prepared:
    """Labels, the seeded split and an encoder fitted on the training rows only.

    With ``encoder`` and ``split_record`` (a reloaded run) the split is recomputed and
    its hash checked, so a run is never evaluated on rows it was trained on.
    """
    check_fields(config, data)
    source = data
    data = protocol_data(config, source)
    labels, keep = make_labels(config, data)
    if len(keep) == 0:
        raise ConfigError("threshold", "no rating is left once neutral ratings are dropped")
    split = make_split(
        data.ratings, config.split, tuple(config.split_fractions), config.seed, rows=keep
    )
    if split_record is not None and split_record.hash != split.record.hash:
        raise RunError(
            "the data no longer gives the split this run was trained on "
            f"(hash {split.record.hash[:12]} != recorded {split_record.hash[:12]}); "
            "open the same data folder the run used"
        )
    if len(split.train) == 0:
        raise ConfigError("split_fractions", "the training split is empty")
    if encoder is None:
        crosses = config.cross_pairs
        encoder = FeatureEncoder.fit(data, split.train, _encoder_fields(config), crosses)
        check_model_memory(config, encoder.specs)  # vocabulary sizes are known now
    return Prepared(config, data, split, labels, encoder, source=source)


def _encoder_fields(config: Config) -> list[str]:
    """Base fields the model reads directly (crosses are added by the encoder)."""
    used = set(config.wide_fields) | set(config.deep_fields)
    return [f for f in config.all_fields if f in used]
