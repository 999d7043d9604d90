"""The run record: one folder per training run, and the store that lists them.

``runs.schema`` (files, statuses, which runs can serve), ``runs.store`` (``Run``,
``RunStore``), ``runs.liveness`` (is the owner alive), ``runs.export`` (CSV) and
``runs.recorder`` (writes a run from the trainer's events; import it from there, it
depends on the trainer's event types).
"""

import lazy_loader

# The submodules load when one of these names is first used (the names are listed in
# __init__.pyi): importing one light module of the package loads nothing else.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
