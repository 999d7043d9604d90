"""Serving a stored run: run folder -> encoder -> model -> scorer -> recommendations."""

from widedeep_core.serving.loading import Trained, load_trained
from widedeep_core.serving.recommend import Recommender

__all__ = ["Recommender", "Trained", "load_trained"]
