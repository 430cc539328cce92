"""Schedules: `every` to cron (E0701 when impossible), CronJob retry policy."""
from __future__ import annotations

import pytest
from croniter import croniter
from ruamel.yaml import YAML

from integc.targets.k8s import TARGET, backoff_limit, cron_for_every

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize("every_ms, cron", [
    (MINUTE, "* * * * *"),
    (2 * MINUTE, "*/2 * * * *"),
    (5 * MINUTE, "*/5 * * * *"),
    (15 * MINUTE, "*/15 * * * *"),
    (30 * MINUTE, "*/30 * * * *"),
    (60 * MINUTE, "0 * * * *"),
    (HOUR, "0 * * * *"),
    (2 * HOUR, "0 */2 * * *"),
    (120 * MINUTE, "0 */2 * * *"),
    (6 * HOUR, "0 */6 * * *"),
    (12 * HOUR, "0 */12 * * *"),
    (24 * HOUR, "0 0 * * *"),
    (DAY, "0 0 * * *"),
    (7 * DAY, "0 0 * * 0"),
])
def test_expressible_intervals(every_ms, cron):
    assert cron_for_every(every_ms) == cron
    assert croniter.is_valid(cron)


@pytest.mark.parametrize("every_ms", [
    45_000, 500, 90_000, 7 * MINUTE, 45 * MINUTE, 90 * MINUTE, 7 * HOUR, 5 * HOUR, 36 * HOUR,
    2 * DAY, 3 * DAY, 14 * DAY, 31 * DAY, 0, -MINUTE, MINUTE + 1,
])
def test_inexpressible_intervals(every_ms):
    assert cron_for_every(every_ms) is None


def test_every_accepted_interval_fires_exactly_at_that_interval():
    """Whatever cron_for_every accepts (any whole minute up to 8 days) fires exactly that often."""
    from datetime import datetime, timezone

    accepted = 0
    for minutes in range(1, 60 * 24 * 8):
        every_ms = minutes * MINUTE
        cron = cron_for_every(every_ms)
        if cron is None:
            continue
        accepted += 1
        it = croniter(cron, datetime(2024, 2, 26, tzinfo=timezone.utc))  # a Monday; month end ahead
        times = [it.get_next(float) for _ in range(max(3, min(80, 40 * DAY // every_ms)))]
        assert {b - a for a, b in zip(times, times[1:])} == {every_ms / 1000}, cron
    # 1..30m dividing an hour (11), 1h, 2..12h dividing a day (6), 1d, 7d
    assert accepted == 11 + 1 + 6 + 1 + 1


@pytest.mark.parametrize("duration", ["90m", "7h", "45s", "2d"])
def test_e0701_at_the_trigger(compile_text, kh, duration):
    project = compile_text(f"""
        package demo.sched version "1.0.0"
        system a {{ owner "a@x.example" base_url "https://a.example" auth none
          entity E {{ id: string @key }} expose E at "/e" {{ list, get, create, update }} }}
        system b {{ owner "b@x.example" base_url "https://b.example" auth none
          entity F {{ id: string @key }} expose F at "/f" {{ list, get, create, update }} }}
        flow ok_flow {{ from a.E to b.F trigger schedule every 15m map {{ id = id }} retry 2 }}
        flow bad_flow {{ from a.E to b.F
          trigger schedule every {duration}
          map {{ id = id }} retry 2 }}
    """)
    artifacts, diagnostics = kh.emit(TARGET, project)
    (error,) = [d for d in diagnostics.items if d.is_error]
    assert error.code == "E0701"
    assert duration in error.message and "bad_flow" in error.message
    bad = next(f for f in project.flows if f.name == "bad_flow")
    assert error.span == bad.trigger.origin and error.span.line == 9
    assert "schedule cron" in error.help
    assert not any("bad-flow" in a.path for a in artifacts)
    assert any("ok-flow/cronjob.yaml" in a.path for a in artifacts)


def _cronjob(compile_text, kh, clauses: str, trigger: str = 'schedule every 15m') -> dict:
    project = compile_text(f"""
        package demo.sched version "1.0.0"
        system a {{ owner "a@x.example" base_url "https://a.example" auth none
          entity E {{ id: string @key }} expose E at "/e" {{ list, get, create, update }} }}
        flow f {{ from a.E to a.E trigger {trigger} map {{ id = id }} {clauses} }}
    """)
    artifacts, diagnostics = kh.emit(TARGET, project, {"time_zone": "Europe/Berlin"})
    assert not diagnostics.has_errors
    (content,) = [a.content for a in artifacts if a.path.endswith("cronjob.yaml")]
    return YAML(typ="safe", pure=True).load(content.decode())


@pytest.mark.parametrize("clauses, limit", [
    ("retry 5 backoff exponential 2s max 5m on_error dead_letter", 1),
    ("retry 5 on_error skip", 1),
    ("retry 5 on_error halt", 0),
    ("on_error dead_letter", 0),                                # no retry declared
    ("write create retry 5 on_error dead_letter", 0),           # a re-run would create again
])
def test_backoff_limit_follows_retry_and_on_error(compile_text, kh, clauses, limit):
    job = _cronjob(compile_text, kh, clauses)
    assert job["spec"]["jobTemplate"]["spec"]["backoffLimit"] == limit


def test_cronjob_settings(compile_text, kh):
    job = _cronjob(compile_text, kh, "retry 3", trigger='schedule cron "0 2 * * 1"')
    spec = job["spec"]
    assert spec["schedule"] == "0 2 * * 1"
    assert spec["timeZone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 300
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["restartPolicy"] == "Never"
    rules = job_spec["podFailurePolicy"]["rules"]
    assert {"action": "FailJob", "onExitCodes": {"containerName": "flow", "operator": "In", "values": [2]}} in rules
    assert any(r["action"] == "Ignore" for r in rules)


def test_starting_deadline_never_exceeds_the_interval(compile_text, kh):
    assert _cronjob(compile_text, kh, "retry 3", "schedule every 1m")["spec"]["startingDeadlineSeconds"] == 60
    assert _cronjob(compile_text, kh, "retry 3", 'schedule cron "*/2 * * * *"')["spec"][
        "startingDeadlineSeconds"] == 120


def test_backoff_limit_function_on_the_example(kh):
    project = kh.compile_ok(kh.EXAMPLES / "order-to-cash")
    limits = {f.name: backoff_limit(f) for f in project.flows if f.trigger.kind == "schedule"}
    assert limits == {"invoices_to_receivables": 1, "revenue_to_warehouse": 0, "tickets_to_warehouse": 1}
