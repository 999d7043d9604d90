"""The Wide & Deep network."""

import lazy_loader

# The submodules load when one of these names is first used (the names are listed in
# __init__.pyi): importing one light module of the package loads nothing else.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
