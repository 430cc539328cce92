#!/usr/bin/env python3
"""Throughput of the flow runtime, end to end: records per second for a scheduled
``--once`` flow (list source pages -> map -> upsert each record into the target)
against local stand-in source and target systems on loopback.

The stand-ins run in a child process (their own interpreter and GIL), so the
figure is the runtime's, not the test servers'. Every run is checked: the
target must hold every record exactly once. Bounded: each run has a deadline.

    python bench/runtime_throughput.py                 # 20000 records, concurrency 1, 4, 8
    python bench/runtime_throughput.py --records 5000 --concurrency 4 --mode create

Not a timed test: it prints the figures and exits non-zero only if a run
failed or lost a record.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

MAPPING = '''\
SOURCE_SCHEMA = {"type": "object"}
TARGET_SCHEMA = {"type": "object"}


class MappingError(Exception):
    pass


_PLAN = {"free": "basic", "pro": "standard", "enterprise": "premium"}


def map_record(source):
    try:
        return {"account_id": str(source["id"]), "email": source["email"].lower(),
                "plan": _PLAN[source.get("tier", "free")],
                "country": (source.get("address") or {}).get("country") or "US"}
    except (KeyError, AttributeError, TypeError) as exc:
        raise MappingError(str(exc)) from None
'''

TIERS = ("free", "pro", "enterprise")
API_KEY = "bench-key-0123456789"
TOKEN = "bench-token-0123456789"


def _standins(n: int, conn) -> None:
    from integc.runtime.standin import StandIn

    records = [{"id": f"c-{i:07d}", "email": f"User{i}@Example.com", "name": f"C {i}",
                "tier": TIERS[i % 3], "address": {"country": "GB"} if i % 2 else None}
               for i in range(n)]
    src = StandIn("/customers", "id", records=records,
                  auth=lambda h: h.get("Authorization") == f"Bearer {TOKEN}").start()
    tgt = StandIn("/accounts", "account_id", base_path="/v2",
                  auth=lambda h: h.get("X-Api-Key") == API_KEY).start()
    conn.send((src.base_url, tgt.base_url))
    while True:
        msg = conn.recv()
        if msg == "stop":
            break
        if msg in ("reset", "reset_counts"):
            with tgt.lock:
                if msg == "reset":
                    tgt.store.clear()
                tgt.write_counts.clear()
            conn.send("ok")
        elif msg == "count":
            with tgt.lock:
                conn.send((len(tgt.store), max(tgt.write_counts.values(), default=0)))
    src.stop()
    tgt.stop()


def flow_doc(source_url: str, target_url: str, mode: str) -> dict:
    return {
        "format": 1, "flow": "bench_sync", "package": "bench", "version": "1.0.0",
        "trigger": {"kind": "schedule", "every_seconds": 900, "cron": None, "path": None,
                    "event": None, "note": None},
        "write": mode,
        "retry": {"attempts": 3, "backoff": "exponential", "initial_ms": 10, "max_ms": 100},
        "on_error": "dead_letter",
        "source": {"system": "crm", "entity": "Customer", "base_url": source_url,
                   "auth": {"kind": "bearer", "secret": "crm-token"},
                   "collection_path": "/customers", "key_field": "id"},
        "target": {"system": "billing", "entity": "Account", "base_url": target_url,
                   "auth": {"kind": "api_key", "header": "X-Api-Key", "secret": "billing-api-key"},
                   "collection_path": "/accounts", "item_path": "/accounts/{account_id}",
                   "key_field": "account_id"},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--mode", choices=("upsert", "create", "update"), default="upsert",
                    help="write mode; upsert into an empty target costs PUT(404)+POST per record")
    ap.add_argument("--deadline", type=float, default=300.0, help="seconds per run, at most")
    ap.add_argument("--log", action="store_true", help="keep INFO record logs (to /dev/null)")
    args = ap.parse_args(argv)

    from integc.runtime import FlowRunner, write_bundle
    from integc.runtime.logs import LOGGER_NAME, JsonFormatter

    logger = logging.getLogger(LOGGER_NAME)
    devnull = open(os.devnull, "w")
    handler = logging.StreamHandler(devnull)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO if args.log else logging.WARNING)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_standins, args=(args.records, child), daemon=True)
    proc.start()
    if not parent.poll(60):
        print("stand-ins did not start", file=sys.stderr)
        return 1
    source_url, target_url = parent.recv()
    env = {"INTEGC_SECRET_CRM_TOKEN_TOKEN": TOKEN, "INTEGC_SECRET_BILLING_API_KEY_API_KEY": API_KEY,
           "INTEGC_SECRETS_DIR": "/nonexistent"}
    failures = 0
    print(f"records={args.records} mode={args.mode} page_size={args.page_size} "
          f"logging={'info' if args.log else 'warning'} cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = write_bundle(flow_doc(source_url, target_url, args.mode), MAPPING,
                              Path(tmp) / "bundle")
        for conc in args.concurrency:
            parent.send("reset")
            parent.recv()
            if args.mode == "update":  # update needs existing records: seed with an upsert run
                seed = FlowRunner(write_bundle(flow_doc(source_url, target_url, "upsert"), MAPPING,
                                               Path(tmp) / "seed"), once=True, environ=env,
                                  dead_letter_dir=Path(tmp) / "dl", concurrency=8,
                                  page_size=args.page_size)
                seed.run()
                parent.send("reset_counts")
                parent.recv()
            runner = FlowRunner(bundle, once=True, environ=env, dead_letter_dir=Path(tmp) / "dl",
                                concurrency=conc, page_size=args.page_size)
            box: dict = {}
            th = threading.Thread(target=lambda: box.update(code=runner.run()), daemon=True)
            start = time.perf_counter()
            th.start()
            th.join(args.deadline)
            elapsed = time.perf_counter() - start
            if th.is_alive():
                runner.stop_event.set()
                th.join(30)
                print(f"concurrency={conc}: did not finish within {args.deadline}s")
                failures += 1
                continue
            parent.send("count")
            stored, max_writes = parent.recv()
            s = runner.summary
            ok = (box.get("code") == 0 and s is not None and s.written == args.records
                  and stored == args.records and max_writes == 1)
            failures += not ok
            print(f"concurrency={conc}: {args.records / elapsed:,.0f} records/s "
                  f"({elapsed:.2f}s, written={s.written if s else '?'}, target holds {stored}, "
                  f"retries={s.retries if s else '?'}){'' if ok else '  FAILED'}")
    parent.send("stop")
    proc.join(10)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
