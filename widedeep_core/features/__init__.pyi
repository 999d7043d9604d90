# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .buckets import bucket_age, bucket_year, bucket_zip
from .encoder import FeatureEncoder
from .inputs import Encoded, FieldSpec, cross_name
from .prepare import Prepared, prepare
from .splits import Split, SplitRecord, binary_labels, make_split

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
