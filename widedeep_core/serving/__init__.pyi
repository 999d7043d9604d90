# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .loading import Trained, load_trained
from .recommend import Recommender

__all__ = [
    "Recommender",
    "Trained",
    "load_trained",
]
