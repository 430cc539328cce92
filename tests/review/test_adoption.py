"""The adoption kit: pre-commit hooks and the GitHub Actions workflow, run as CI would run them."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from review_helpers import REPO

WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"


def _load(path: Path):
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def test_pre_commit_hooks():
    hooks = {hook["id"]: hook for hook in _load(REPO / ".pre-commit-hooks.yaml")}
    assert set(hooks) == {"integc-fmt", "integc-check"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert re.search(hook["files"], "flows/sync.integ")
        assert not re.search(hook["files"], "README.md")
        assert hook["entry"].split()[0] == "integc"
    assert hooks["integc-fmt"]["entry"] == "integc fmt"
    assert hooks["integc-check"]["entry"] == "integc check"
    assert hooks["integc-check"]["pass_filenames"] is False
    assert re.search(hooks["integc-check"]["files"], "integc.toml")


def test_pre_commit_entries_run(tmp_path):
    """What pre-commit runs: `integc fmt <files>` rewrites, then passes; `integc check` compiles."""
    (tmp_path / "main.integ").write_text("enum   E{a b}\n")
    fmt = subprocess.run(["integc", "fmt", "main.integ"], cwd=tmp_path, capture_output=True, text=True)
    assert fmt.returncode == 0 and (tmp_path / "main.integ").read_text() == "enum E { a, b }\n"
    check = subprocess.run(["integc", "check"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _steps() -> dict[str, dict]:
    workflow = _load(WORKFLOW)
    return {step.get("name", step.get("uses", "")): step for step in workflow["jobs"]["integc"]["steps"]}


def test_workflow_shape():
    workflow = _load(WORKFLOW)
    steps = _steps()
    checkout = steps["actions/checkout@v4"]
    assert checkout["with"]["fetch-depth"] == 0
    assert "--format github" in steps["Check"]["run"]
    assert "integc build" in steps["Build"]["run"]
    diff = steps["Breaking changes against the base branch"]
    assert "--format markdown" in diff["run"] and "GITHUB_STEP_SUMMARY" in diff["run"]
    assert diff["if"] == "github.event_name == 'pull_request'"
    upload = steps["Upload the build"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"] == "integc-build/"
    assert workflow["env"]["PROJECT"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


@pytest.fixture
def pull_request(tmp_path):
    """A repository whose pull request removes a field that a flow reads."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "examples" / "order-to-cash", repo / "integrations")
    for path in (repo / "integrations").rglob("*.integ"):  # start from formatted sources
        subprocess.run(["integc", "fmt", str(path)], check=True, capture_output=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "checkout", "-q", "-b", "feature")
    billing = repo / "integrations" / "systems" / "billing.integ"
    billing.write_text(billing.read_text().replace("    vat_number: string?\n", ""))
    customers = repo / "integrations" / "flows" / "customers.integ"
    customers.write_text(customers.read_text().replace("    vat_number = vat_number\n", ""))
    _git(repo, "commit", "-q", "-am", "drop vat_number")
    return repo


def _run_step(step: dict, repo: Path, summary: Path) -> subprocess.CompletedProcess:
    workflow = _load(WORKFLOW)
    env = {**os.environ, **{k: str(v) for k, v in workflow["env"].items()}, "PROJECT": "integrations",
           "GITHUB_STEP_SUMMARY": str(summary), "BASE_REF": "main", "NO_COLOR": "1"}
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)


def test_workflow_steps_on_a_pull_request(pull_request, tmp_path):
    summary = tmp_path / "summary.md"
    steps = _steps()
    for name in ("Formatting", "Check", "Build"):
        done = _run_step(steps[name], pull_request, summary)
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    assert (pull_request / "integc-build" / "integc-manifest.json").is_file()
    diff = _run_step(steps["Breaking changes against the base branch"], pull_request, summary)
    assert diff.returncode == 1, diff.stderr
    report = summary.read_text()
    assert report.startswith("## integc diff: origin/main:integrations → HEAD:integrations")
    assert "| `billing.Account.vat_number` | removed |" in report
    assert "`sync_customers_to_billing` (flows/customers.integ:" in report


def test_workflow_check_annotates_problems(pull_request, tmp_path):
    flows = pull_request / "integrations" / "flows" / "customers.integ"
    flows.write_text(flows.read_text().replace("    email = email\n", "    emial = email\n", 1))
    done = _run_step(_steps()["Check"], pull_request, tmp_path / "summary.md")
    assert done.returncode == 1
    assert "::error file=integrations/flows/customers.integ,line=" in done.stdout
