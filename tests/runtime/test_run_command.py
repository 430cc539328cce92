"""`integc run` from the command line: compile a project, run a scheduled flow once."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

from integc.runtime.standin import StandIn

from .test_generated_bundle import EXAMPLE, PLANS, crm_customer


def test_run_compiles_the_project_and_moves_every_record(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.integ").write_text(EXAMPLE.replace("TRIGGER", "schedule every 15m"), encoding="utf-8")
    source = StandIn("/customers", "id", records=[crm_customer(i) for i in range(50)], base_path="/api").start()
    target = StandIn("/accounts", "account_id", base_path="/v2").start()
    try:
        env = dict(os.environ, INTEGC_CRM_BASE_URL=source.base_url, INTEGC_BILLING_BASE_URL=target.base_url,
                   INTEGC_SECRET_CRM_TOKEN_TOKEN="t0ken-value", INTEGC_SECRET_BILLING_API_KEY_API_KEY="k3y-value")
        result = subprocess.run([sys.executable, "-m", "integc", "run", "sync_customers", str(project), "--once",
                                 "--dead-letter-dir", str(tmp_path / "dl")],
                                capture_output=True, text=True, env=env, timeout=120)
    finally:
        source.stop()
        target.stop()
    assert result.returncode == 0, result.stderr
    assert len(target.store) == 50
    first = crm_customer(0)
    assert target.store[first["id"]]["plan"] == PLANS[first["tier"]]
    assert "t0ken-value" not in result.stderr and "k3y-value" not in result.stderr


def test_run_rejects_an_unknown_flow_with_usage_exit(tmp_path):
    (tmp_path / "main.integ").write_text(EXAMPLE.replace("TRIGGER", "schedule every 15m"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "integc", "run", "sync_customer", str(tmp_path), "--once"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "did you mean `sync_customers`?" in result.stderr


def test_run_from_a_bundle_folder(tmp_path):
    missing = tmp_path / str(uuid.uuid4())
    missing.mkdir()
    result = subprocess.run([sys.executable, "-m", "integc", "run", "x", "--bundle", str(missing), "--once"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
