"""Shared test options. Golden files change only with an explicit --update-golden."""
from hypothesis import settings

# Speed is measured in bench/, never asserted here: on a loaded CI machine an example must not
# fail for taking longer than hypothesis's default 200 ms deadline.
settings.register_profile("integc", deadline=None)
settings.load_profile("integc")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current outputs instead of comparing")
