"""MovieLens readers, validation, cache, download and the synthetic generator."""

from .synthetic import make_synthetic
from .types import LAYOUTS, MovieLensData, Problem

__all__ = ["LAYOUTS", "MovieLensData", "Problem", "make_synthetic"]
