"""Emitting the targets' units on every core.

After the front end has built the IR, the build forks copies of itself (no
exec: each child is this same program, with the IR already in its memory),
and every process emits its share of the units (every n-th of them). A child sends back its artifacts and diagnostics, pickled, through
a pipe, and exits; it writes no file and starts nothing. Whatever a child
does not deliver (it crashed, was killed, sent something unreadable) the
parent emits itself, so the result never depends on the children: the same
artifacts, in unit order, as one process would give.

Forking is used only where it is safe: a platform with `fork`, a parent
running a single thread, and enough units to be worth a process.
`INTEGC_JOBS=N` sets the number of processes (1: no child).
"""
from __future__ import annotations

import os
import pickle
import threading
from typing import TYPE_CHECKING

from integc.diagnostics import Diagnostic, Diagnostics

if TYPE_CHECKING:
    from integc.targets import Artifact, Unit

Result = tuple[list["Artifact"], list[Diagnostic]]

# Below this many units one process is quicker than forking a second.
MIN_UNITS_PER_PROCESS = 8
MAX_PROCESSES = 8


def processes_for(n_units: int) -> int:
    setting = os.environ.get("INTEGC_JOBS", "").strip()
    if setting.isdigit() and int(setting) >= 1:
        wanted = int(setting)
    else:
        try:
            wanted = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            wanted = os.cpu_count() or 1
        wanted = min(wanted, MAX_PROCESSES, n_units // MIN_UNITS_PER_PROCESS)
    if wanted <= 1 or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return min(wanted, n_units)


def run_units(units: list[Unit], processes: int | None = None, on_result=None, first: tuple[int, ...] = ()) -> list[Result]:
    """Each unit's (artifacts, diagnostics), in unit order.

    The units at the indices `first` are emitted here before any fork, so what
    they build lazily and keep (a target's validators, compiled templates) is
    built once and shared with the children. `on_result(artifacts)` is called
    for each unit as its result arrives, in no set order.
    """
    results: list[Result | None] = [None] * len(units)

    def settle(i: int, result: Result) -> None:
        results[i] = result
        if on_result is not None:
            on_result(result[0])

    n = processes if processes is not None else processes_for(len(units))
    early = sorted({i for i in first if 0 <= i < len(units)}) if n > 1 else []
    for i in early:
        settle(i, _run(units[i]))
    rest = [i for i in range(len(units)) if results[i] is None]
    shares = [rest[rank::n] for rank in range(n)]
    children = [child for rank in range(1, n) if (child := _Child.fork(units, shares[rank], rank)) is not None]
    for child in children:  # only once every child is forked: no thread runs across a fork
        child.start_reading()
    for i in shares[0]:
        settle(i, _run(units[i]))
    for child in children:
        wanted = set(shares[child.rank])
        for i, result in child.collect():
            if i in wanted and results[i] is None:
                settle(i, result)
    for i, result in enumerate(results):
        if result is None:  # a child did not deliver it
            settle(i, _run(units[i]))
    return results  # type: ignore[return-value]


def _run(unit: Unit) -> Result:
    diagnostics = Diagnostics()
    artifacts = unit.emit(diagnostics)
    return list(artifacts), list(diagnostics.items)


class _Child:
    """One forked worker: its pid, and a thread draining its pipe while the parent works."""

    def __init__(self, pid: int, rank: int, descriptor: int):
        self.pid, self.rank = pid, rank
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, args=(descriptor,), daemon=True)

    def start_reading(self) -> None:
        self._reader.start()

    @classmethod
    def fork(cls, units: list[Unit], share: list[int], rank: int) -> _Child | None:
        try:
            read_end, write_end = os.pipe()
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the child: emit its share, send it, leave without running any cleanup
            status = 70
            try:
                os.close(read_end)
                payload = pickle.dumps([(i, _run(units[i])) for i in share], protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as stream:
                    stream.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        return cls(pid, rank, read_end)

    def _drain(self, descriptor: int) -> None:
        with os.fdopen(descriptor, "rb") as stream:
            while chunk := stream.read(1 << 20):
                self._chunks.append(chunk)

    def collect(self) -> list[tuple[int, Result]]:
        self._reader.join()
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return []
        if status != 0:
            return []
        try:
            return pickle.loads(b"".join(self._chunks))
        except Exception:  # noqa: BLE001 - a truncated or damaged answer: the parent emits those units
            return []
