# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .embeddings import neighbours
from .report import Diagnosis, compare, diagnose
from .subject import DiagnosisCancelled, open_subject
from .tables import paired_bootstrap

__all__ = [
    "Diagnosis",
    "DiagnosisCancelled",
    "compare",
    "diagnose",
    "neighbours",
    "open_subject",
    "paired_bootstrap",
]
