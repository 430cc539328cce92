"""integc: a compiler for integration architecture."""

__version__ = "0.1.0"
