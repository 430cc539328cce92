"""Emitting the targets' units on every core.

After the front end has built the IR, the build forks copies of itself (no
exec: each child is this same program, with the IR already in its memory),
and every process takes units from a shared queue until it is empty. A
child sends back each unit's result (with a `sink`, what the sink made of
the artifacts: the build's writer writes them into the staging folder and
returns their paths and digests) and diagnostics, pickled, through a pipe,
and exits; it starts nothing. Whatever a child does not deliver (it
crashed, was killed, sent something unreadable) the parent emits itself, so
the result never depends on the children: the same artifacts, in unit
order, as one process would give.

Forking is used only where it is safe: a platform with `fork`, a parent
running a single thread, and enough units to be worth a process.
`INTEGC_JOBS=N` sets the number of processes (1: no child).
"""
from __future__ import annotations

import io
import os
import pickle
import threading
from typing import TYPE_CHECKING, Callable

from integc.diagnostics import Diagnostic, Diagnostics

if TYPE_CHECKING:
    from integc.targets import Artifact, Unit

Result = tuple[list["Artifact"], list[Diagnostic]]

# Below this many units one process is quicker than forking a second.
MIN_UNITS_PER_PROCESS = 8
MAX_PROCESSES = 8
# The pipe a child answers through is enlarged to this where the platform allows (Linux's default
# upper limit), so that the child rarely waits for the parent to read.
ANSWER_PIPE_BYTES = 1 << 20


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


def run_units(units: list[Unit], processes: int | None = None, on_result=None, first: tuple[int, ...] = (),
              side_jobs: tuple[Callable[[], object], ...] = (), sink: Callable | None = None,
              dispatch_table: dict | None = None, meanwhile: Callable[[], object] | None = None
              ) -> tuple[list[Result], list[object]]:
    """Each unit's (artifacts, diagnostics), in unit order, and each side job's value.

    With a `sink`, it is applied to each unit's artifacts in the process that
    made them, and the result holds what it returns instead (a child then
    sends back only that: the writer's summary of files it wrote itself).

    The units at the indices `first` are emitted here before any fork, so what
    they build lazily and keep (a target's validators, compiled templates) is
    built once and shared with the children. Then every process takes the
    next unit from a shared queue until none is left: a slow unit or a busy
    core does not hold the others back. `side_jobs` (work for the build that
    is not a unit, such as preparing the cache) run in the last child before
    it takes units, or here when there is no child. `on_result` gets each
    unit's artifacts (the sink's value, with a sink) as they arrive, in no set
    order. `dispatch_table` is the pickler's table for what children send
    back (a faster reduction for the classes it names). `meanwhile` runs here
    once the children are forked, before this process takes units (work the
    build needs later, done while they start: the queue gives them more units).
    """
    results: list[Result | None] = [None] * len(units)

    def settle(i: int, result: Result) -> None:
        results[i] = result
        if on_result is not None:
            on_result(result[0])

    n = processes if processes is not None else processes_for(len(units))

    def run(unit: Unit) -> Result:
        artifacts, found = _run(unit)
        return (artifacts if sink is None else sink(artifacts)), found

    for i in sorted({i for i in first if 0 <= i < len(units)}) if n > 1 else []:
        settle(i, run(units[i]))
    queue = _Queue.of([i for i in range(len(units)) if results[i] is None]) if n > 1 else None
    children = []
    if queue is not None:
        for rank in range(1, n):
            child = _Child.fork(units, run, queue, side_jobs if rank == n - 1 else (), dispatch_table)
            if child is not None:
                children.append(child)
        queue.close_writer()
        for child in children:  # only once every child is forked: no thread runs across a fork
            child.start_reading()
    side_values: list[object] | None = None if children else [job() for job in side_jobs]
    if children and meanwhile is not None:
        meanwhile()
    if queue is not None:
        while (i := queue.take()) is not None:
            settle(i, run(units[i]))
        queue.close()
    for child in children:
        delivered = child.collect()
        for i, result in delivered.get("units", []):
            if 0 <= i < len(units) and results[i] is None:
                settle(i, result)
        if "side" in delivered:
            side_values = delivered["side"]
    for i, result in enumerate(results):
        if result is None:  # a child did not deliver it
            settle(i, run(units[i]))
    if side_values is None:  # the child that had them did not deliver them
        side_values = [job() for job in side_jobs]
    return results, side_values  # type: ignore[return-value]


def start_side_job(job: Callable[[], object]) -> Callable[[], object]:
    """Start `job` in a forked child while this process goes on; returns the function that waits
    for its value (computed here instead when there is no child or it did not deliver). Forks
    only where `run_units` would; the child's answer waits in its pipe (no thread here, so
    that later forks stay safe)."""
    child = _Child.fork([], None, None, (job,), None) if processes_for(2 * MIN_UNITS_PER_PROCESS) > 1 else None
    if child is None:
        return job

    def wait() -> object:
        delivered = child.collect()
        return delivered["side"][0] if "side" in delivered else job()
    return wait


def _run(unit: Unit) -> Result:
    diagnostics = Diagnostics()
    artifacts = unit.emit(diagnostics)
    return list(artifacts), list(diagnostics.items)


class _Queue:
    """Unit indices in a pipe, 4 bytes each, written before the fork: each process reads the next one.
    A read of 4 bytes from a pipe is atomic, so every index goes to exactly one process."""

    def __init__(self, read_end: int, write_end: int | None):
        self._read_end, self._write_end = read_end, write_end

    @classmethod
    def of(cls, indices: list[int]) -> _Queue | None:
        data = b"".join(i.to_bytes(4, "little") for i in indices)
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        if len(data) > _pipe_capacity(write_end, len(data)):  # the queue must be written in one go
            os.close(read_end)
            os.close(write_end)
            return None
        os.write(write_end, data)
        return cls(read_end, write_end)

    def close_writer(self) -> None:
        if self._write_end is not None:
            os.close(self._write_end)
            self._write_end = None

    def take(self) -> int | None:
        data = os.read(self._read_end, 4)
        return int.from_bytes(data, "little") if len(data) == 4 else None

    def close(self) -> None:
        os.close(self._read_end)


def _pipe_capacity(descriptor: int, wanted: int) -> int:
    """How many bytes the pipe holds, enlarged towards `wanted` where the platform allows."""
    try:
        import fcntl

        if wanted > fcntl.fcntl(descriptor, fcntl.F_GETPIPE_SZ):
            fcntl.fcntl(descriptor, fcntl.F_SETPIPE_SZ, wanted)
        return fcntl.fcntl(descriptor, fcntl.F_GETPIPE_SZ)
    except (ImportError, AttributeError, OSError):
        return 4096  # PIPE_BUF, the least any POSIX pipe holds


class _Child:
    """One forked worker: its pid, and a thread taking in its messages while the parent works.

    The child sends a message as soon as it has it (its side jobs' values, then each unit's
    result), each framed by its length, so that the parent unpickles them while the child goes
    on. A message is sent only once its work is complete (a unit's files written), so whatever
    arrived whole counts even if the child dies later; the rest the parent does itself.
    """

    def __init__(self, pid: int, descriptor: int):
        self.pid = pid
        self._messages: list[tuple] = []
        self._descriptor = descriptor
        self._reader = threading.Thread(target=self._receive, args=(descriptor,), daemon=True)

    def start_reading(self) -> None:
        self._reader.start()

    @classmethod
    def fork(cls, units: list[Unit], run: Callable | None, queue: _Queue | None, side_jobs: tuple,
             dispatch_table: dict | None) -> _Child | None:
        """A child that runs `side_jobs`, then units from `queue` (None: no units)."""
        try:
            read_end, write_end = os.pipe()
            _pipe_capacity(write_end, ANSWER_PIPE_BYTES)
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the child: side jobs, then units until the queue is empty; leave at once
            status = 70
            try:
                os.close(read_end)
                if queue is not None:
                    queue.close_writer()
                with os.fdopen(write_end, "wb") as stream:
                    def send(message: tuple) -> None:
                        buffer = io.BytesIO()
                        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
                        if dispatch_table is not None:
                            pickler.dispatch_table = dispatch_table
                        pickler.dump(message)
                        stream.write(len(buffer.getbuffer()).to_bytes(8, "little"))
                        stream.write(buffer.getbuffer())
                        stream.flush()
                    if side_jobs:
                        send(("side", [job() for job in side_jobs]))
                    while queue is not None and (i := queue.take()) is not None:
                        send(("unit", i, run(units[i])))
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        return cls(pid, read_end)

    def _receive(self, descriptor: int) -> None:
        # One read takes whatever the pipe holds: this thread waits for the interpreter lock after
        # each read while the parent works, so few large reads keep the child from blocking.
        pending = bytearray()
        try:
            while chunk := os.read(descriptor, ANSWER_PIPE_BYTES):
                pending += chunk
                while len(pending) >= 8 and len(pending) >= 8 + (size := int.from_bytes(pending[:8], "little")):
                    try:
                        message = pickle.loads(memoryview(pending)[8:8 + size])
                    except Exception:  # noqa: BLE001 - unreadable: the parent does that work
                        return
                    del pending[:8 + size]
                    if isinstance(message, tuple) and message:
                        self._messages.append(message)
        finally:
            os.close(descriptor)

    def collect(self) -> dict:
        """{"units": [(index, result), ...], "side": values} of what arrived whole (read here
        when no thread was started to read it)."""
        if self._reader.ident is None:
            self._receive(self._descriptor)
        else:
            self._reader.join()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        delivered: dict = {"units": []}
        for message in self._messages:
            if message[0] == "unit" and len(message) == 3 and isinstance(message[1], int):
                delivered["units"].append((message[1], message[2]))
            elif message[0] == "side" and len(message) == 2:
                delivered["side"] = message[1]
        return delivered
