"""`integc graph` and the graph target: systems as boxes with owners, flows as labelled arrows."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from integc.targets.graph import TARGET, dot_string, mermaid_text, render_dot, render_mermaid


@pytest.fixture(scope="module")
def project(kh):
    return kh.compile_ok(kh.EXAMPLES / "order-to-cash")


def test_mermaid_draws_systems_and_flows(project):
    text = render_mermaid(project)
    assert text.startswith("flowchart LR\n")
    for system in project.systems:
        (line,) = [l for l in text.splitlines() if l.strip().startswith(f"sys_{system.name}[")]
        assert mermaid_text(system.owner) in line
    for flow in project.flows:
        (line,) = [l for l in text.splitlines() if f'"{flow.name}<br/>' in l]
        source, target = flow.source.split(".")[0], flow.target.split(".")[0]
        arrow = "-.->" if flow.trigger.kind == "manual" else "-->"
        assert line.strip().startswith(f"sys_{source} {arrow}|") and line.endswith(f"| sys_{target}")
    assert "event customer_updated" in text and "every 15m" in text and "cron 0 2 * * 1" in text
    assert "webhook /hooks/support/escalations" in text


def test_dot_draws_systems_and_flows(project):
    text = render_dot(project)
    assert 'digraph "acme.order_to_cash" {' in text
    assert '"crm" -> "billing" [label="sync_customers_to_billing\\nevent customer_updated"];' in text
    assert '"billing" -> "erp" [label="credit_notes_to_ledger\\nmanual", style=dashed];' in text
    assert "owner: sales-ops@acme.example" in text
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=text.encode(), check=True, capture_output=True)


HOSTILE = 'A "quoted" #35; <b>bold</b> & `tick` |pipe| \\back\nnew]line[ {x} ;end'


def test_labels_are_escaped():
    encoded = mermaid_text(HOSTILE)
    for bad in ('"', "<", ">", "&", "`", "|", "[", "]", "{", "}", "\n", "\\"):
        assert bad not in encoded
    # '#' only starts an entity code
    assert re.fullmatch(r"([^#]|#\d+;)*", encoded)
    decoded = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), encoded)
    assert decoded == HOSTILE.replace("\n", " ")
    quoted = dot_string(HOSTILE)
    assert quoted.startswith('"') and quoted.endswith('"') and "\n" not in quoted
    inner = quoted[1:-1]
    assert re.fullmatch(r'([^"\\]|\\\\|\\")*', inner)


def test_hostile_titles_and_owners_keep_the_diagrams_valid(compile_text):
    project = compile_text(r'''
        package demo.graph version "1.0.0"
        system a { title "A \"quoted\" <b> | ] } ; #1; \\ sys" owner "x\"@y.example"
          base_url "https://a.example" auth none
          entity E { id: string @key } expose E at "/e" { list, get, create, update } }
        system b { base_url "https://b.example" auth none
          entity F { id: string @key } expose F at "/f" { list, get, create, update } }
        flow end { from a.E to b.F trigger manual "by hand" map { id = id } }
    ''')
    mermaid = render_mermaid(project)
    for line in mermaid.splitlines()[3:]:
        assert line.count('"') == 2, line  # one quoted label per line, nothing leaks out
    assert "owner: none (W0601)" in mermaid
    assert "sys_a -.->" in mermaid
    dot = render_dot(project)
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot.encode(), check=True, capture_output=True)


def test_graph_target_writes_docs_architecture_mmd(project):
    from integc.diagnostics import Diagnostics

    (artifact,) = TARGET.emit(project, {}, Diagnostics())
    assert TARGET.name == "graph"
    assert artifact.path == "docs/architecture.mmd"
    assert artifact.content == render_mermaid(project).encode()


def test_cli(kh, tmp_path):
    from integc.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["graph", str(kh.EXAMPLES / "order-to-cash")])
    assert result.exit_code == 0 and result.output.startswith("flowchart LR")
    result = runner.invoke(main, ["graph", str(kh.EXAMPLES / "order-to-cash"), "--format", "dot"])
    assert result.exit_code == 0 and "digraph" in result.output
    out = tmp_path / "arch.mmd"
    result = runner.invoke(main, ["graph", str(kh.EXAMPLES / "quickstart"), "-o", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("flowchart LR")
    assert runner.invoke(main, ["graph", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(main, ["graph", ".", "--format", "svg"]).exit_code == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.integ").write_text("system {", encoding="utf-8")
    result = runner.invoke(main, ["graph", str(broken)])
    assert result.exit_code == 1 and "E0101" in result.output
