"""Fixtures of the hardening suite (see hsupport.py and jail.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hsupport import JailServer  # noqa: E402


@pytest.fixture(scope="session")
def jail():
    """One jailed integc process for the whole session (fast CLI invocations)."""
    server = JailServer()
    yield server
    server.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running hardening checks (set INTEGC_HARDENING_SLOW=1)")
