"""integc flow runtime: runs one compiled flow bundle (``integc run``)."""

from __future__ import annotations

__version__ = "0.1.0"

from .bundle import Bundle, load_bundle, write_bundle  # noqa: E402
from .errors import BundleError, SecretError  # noqa: E402
from .runner import FlowRunner, RunSummary, run_flow  # noqa: E402

__all__ = ["Bundle", "BundleError", "FlowRunner", "RunSummary", "SecretError",
           "load_bundle", "run_flow", "write_bundle"]
