"""Prometheus metrics, in a private registry per flow runner."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 300.0)


class FlowMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, flow: str, *, package: str | None, version: str | None, trigger: str):
        self.flow = flow
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.info = Gauge("integc_flow_info", "The flow this process runs (always 1).",
                          ["flow", "package", "version", "trigger"], registry=r)
        self.info.labels(flow, package or "", version or "", trigger).set(1)
        self.read = Counter("integc_records_read", "Source records received (read from the "
                            "source list, a webhook or an event).", ["flow"], registry=r).labels(flow)
        self.written = Counter("integc_records_written", "Records written to the target.",
                               ["flow"], registry=r).labels(flow)
        self._failed = Counter("integc_records_failed", "Records that failed for good (mapping, "
                               "or writing after the last attempt), before on_error.",
                               ["flow", "stage"], registry=r)
        self.dead_lettered = Counter("integc_records_dead_lettered",
                                     "Records appended to the dead-letter file.", ["flow"],
                                     registry=r).labels(flow)
        self.skipped = Counter("integc_records_skipped", "Failed records skipped (on_error skip).",
                               ["flow"], registry=r).labels(flow)
        self._retries = Counter("integc_retries", "Requests retried after a retryable failure.",
                                ["flow", "system"], registry=r)
        self.record_latency = Histogram("integc_record_latency_seconds",
                                        "Time from receiving a record to its outcome.", ["flow"],
                                        buckets=LATENCY_BUCKETS, registry=r).labels(flow)
        self._http = Histogram("integc_http_request_duration_seconds",
                               "Duration of requests to source and target systems.",
                               ["flow", "system", "method", "code"], buckets=LATENCY_BUCKETS,
                               registry=r)
        self._runs = Counter("integc_runs", "Scheduled runs, by result.", ["flow", "result"],
                             registry=r)
        self.last_success = Gauge("integc_last_success_timestamp_seconds",
                                  "Unix time of the last run that ended without a source failure "
                                  "or halt.", ["flow"], registry=r).labels(flow)
        self.in_flight = Gauge("integc_records_in_flight", "Records being processed now.",
                               ["flow"], registry=r).labels(flow)

    def failed(self, stage: str) -> None:
        self._failed.labels(self.flow, stage).inc()

    def retry(self, system: str) -> None:
        self._retries.labels(self.flow, system).inc()

    def http(self, system: str, method: str, code: str, seconds: float) -> None:
        self._http.labels(self.flow, system, method, code).observe(seconds)

    def run(self, result: str) -> None:
        self._runs.labels(self.flow, result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
