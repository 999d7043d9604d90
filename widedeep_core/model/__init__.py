"""The Wide & Deep network."""

from widedeep_core.model.widedeep import WideDeep

__all__ = ["WideDeep"]
