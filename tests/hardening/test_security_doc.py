"""docs/security.md stays true to the tests: every test it cites exists, and its
"Known gaps" table lists exactly the open bugs of bugs.py."""
from __future__ import annotations

import re

from bugs import BUGS
from hsupport import HERE, REPO

DOC = (REPO / "docs" / "security.md").read_text(encoding="utf-8")


def test_cited_test_files_and_functions_exist():
    cited_files = set(re.findall(r"`((?:tests/[\w/]+/)?test_\w+\.py)", DOC))
    assert cited_files
    for name in cited_files:
        path = REPO / name if "/" in name else HERE / name
        assert path.is_file(), f"docs/security.md cites {name}, which does not exist"
    for file_name, function in re.findall(r"`(test_\w+\.py)::(test_\w+)`", DOC):
        text = (HERE / file_name).read_text(encoding="utf-8")
        assert f"def {function}(" in text, f"docs/security.md cites {file_name}::{function}"
    for helper in ("jail.py", "run_mapping.py", "hostile_project.py", "integ_strategies.py", "bugs.py"):
        assert helper in DOC and (HERE / helper).is_file()


def test_known_gaps_match_the_open_bugs():
    table = DOC.split("## Known gaps", 1)[1]
    listed = set(re.findall(r"^\| (H\d+) \|", table, re.M))
    assert listed == set(BUGS), f"only in the doc: {listed - set(BUGS)}; only in bugs.py: {set(BUGS) - listed}"


def test_every_bug_has_a_test():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in HERE.glob("test_*.py"))
    for bug in BUGS:
        assert f'BUGS["{bug}"]' in sources or f"BUGS['{bug}']" in sources or f'"{bug}"' in sources, bug
