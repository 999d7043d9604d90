"""Diagnostics of a stored run: why a model is good or bad, not only how good (issue 21).

Headless functions that return plain tables for a run on its own split: calibration,
for whom it fails, what its lists are made of, which fields carry it, what its movie
embeddings learned, and two runs side by side (``report.diagnose``, ``report.compare``).
"""

import lazy_loader

# The submodules load when one of these names is first used (the names are listed in
# __init__.pyi): importing the package loads nothing else.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
