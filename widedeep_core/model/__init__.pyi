# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .widedeep import WideDeep

__all__ = [
    "WideDeep",
]
