"""The README stays true: its quick start, its language tour and its sample diagnostic."""
from __future__ import annotations

import re
from pathlib import Path

from integc.pipeline import compile_project
from integc.render import render_text

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
QUICK_START = [
    'pip install -e ".[test]" && integc build examples/order-to-cash',
    'pip install -e ".[test]" && pytest',
]


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def _tour_project(folder: Path) -> Path:
    """The tour's ```integ blocks as one project: one namespace, so one file will do."""
    blocks = re.findall(r"^```integ\n(.*?)^```", _section("A tour of the language"), re.S | re.M)
    assert len(blocks) >= 5
    text = "\n".join(line for block in blocks for line in block.splitlines() if not line.startswith("import "))
    (folder / "main.integ").write_text(text + "\n", encoding="utf-8")
    return folder


def test_readme_starts_with_the_two_quick_start_commands() -> None:
    first_heading = re.findall(r"^## (.*)$", README, re.M)[0]
    assert first_heading == "Quick start"
    commands = re.findall(r"^```\n(.*?)^```", _section("Quick start"), re.S | re.M)
    assert [line for block in commands for line in block.splitlines() if line.strip()] == QUICK_START


def test_quick_start_example_exists() -> None:
    assert (REPO / "examples" / "order-to-cash" / "main.integ").is_file()


def test_language_tour_compiles_without_any_diagnostic(tmp_path: Path) -> None:
    result = compile_project(_tour_project(tmp_path))
    assert [f"{d.code} {d.message}" for d in result.diagnostics.sorted()] == []
    assert result.project is not None
    assert result.project.package == "acme.orders"


def test_sample_e0501_diagnostic_is_what_integc_prints(tmp_path: Path, monkeypatch) -> None:
    flows = next(b for b in re.findall(r"^```integ\n(.*?)^```", README, re.S | re.M) if b.startswith("/// Book"))
    sample = re.search(r"^  ```\n(  error\[E0501\].*?)^  ```", README, re.S | re.M).group(1)
    sample = "\n".join(line[2:] for line in sample.splitlines())
    project = _tour_project(tmp_path)
    text = (project / "main.integ").read_text(encoding="utf-8").replace(flows, "")
    erp = re.search(r"^system erp \{.*?^\}", text, re.S | re.M).group(0)
    (project / "main.integ").write_text(text.replace(erp, erp.replace("  handles pii\n", "")), encoding="utf-8")
    (project / "flows.integ").write_text(flows, encoding="utf-8")
    with (project / "main.integ").open("a", encoding="utf-8") as main:
        main.write('import "flows.integ"\n')
    monkeypatch.chdir(project)
    result = compile_project(".")
    assert render_text(result.diagnostics.sorted(), result.sources).rstrip("\n") == sample.rstrip("\n")


def test_documented_commands_exist() -> None:
    from integc.cli import main
    documented = set(re.findall(r"^integc (\w+)", _section("The command line"), re.M))
    assert documented <= set(main.commands), documented - set(main.commands)


def test_linked_docs_exist() -> None:
    for target in re.findall(r"\]\(((?:docs|specs|examples)/[^)#]+)", README):
        assert (REPO / target).exists(), target
