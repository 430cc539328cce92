"""Shared test options. Golden files change only with an explicit --update-golden."""
import os

from hypothesis import settings

# Tests start many `integc build` processes: a build server (integc.server) started by each
# incremental one would outlive the run by minutes. The server's own tests turn it on per process.
os.environ["INTEGC_SERVER_IDLE"] = "0"

# Speed is measured in bench/, never asserted here: on a loaded CI machine an example must not
# fail for taking longer than hypothesis's default 200 ms deadline.
settings.register_profile("integc", deadline=None)
settings.load_profile("integc")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current outputs instead of comparing")
