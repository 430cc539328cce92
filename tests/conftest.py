"""Shared test options. Golden files change only with an explicit --update-golden."""


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current outputs instead of comparing")
