"""Exceptions raised by the flow runtime."""

from __future__ import annotations


class RuntimeErrorBase(Exception):
    """Base class of every error the runtime raises on purpose."""


class BundleError(RuntimeErrorBase):
    """The bundle directory is missing, unreadable or does not match the contract.

    ``problems`` lists every problem found, each as ``"<where>: <what>"``.
    """

    def __init__(self, bundle_dir: object, problems: list[str]):
        self.bundle_dir = str(bundle_dir)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"bad bundle {self.bundle_dir}:\n{lines}")


class SecretError(RuntimeErrorBase):
    """A secret needed by the flow could not be found. Never carries the value."""


class ConfigError(RuntimeErrorBase):
    """Bad runtime configuration (environment variable, option, port...)."""


class SourceError(RuntimeErrorBase):
    """Reading the source system failed (after retries) or it broke the list protocol."""


class DeadLetterError(RuntimeErrorBase):
    """The dead-letter file could not be written: records can no longer be accounted for."""
