"""Headless Wide & Deep recommender core: data, features, model, training, runs.

Nothing in this package imports Qt; the GUI (``wdgui``) is a thin layer over it.
"""

__version__ = "0.1.0"
