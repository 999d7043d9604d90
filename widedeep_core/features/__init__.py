"""From ratings to tensors: labels, seeded splits, the encoder fitted on train, prepare."""

from widedeep_core.features.encoder import (
    Encoded,
    FeatureEncoder,
    FieldSpec,
    bucket_age,
    bucket_year,
    bucket_zip,
    cross_name,
)
from widedeep_core.features.prepare import Prepared, prepare
from widedeep_core.features.splits import Split, SplitRecord, binary_labels, make_split

__all__ = [
    "Encoded",
    "FeatureEncoder",
    "FieldSpec",
    "Prepared",
    "Split",
    "SplitRecord",
    "binary_labels",
    "bucket_age",
    "bucket_year",
    "bucket_zip",
    "cross_name",
    "make_split",
    "prepare",
]
