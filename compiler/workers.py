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
import sys
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


class Helper:
    """A forked process that loads what this one will need later (`setup`, such as the targets'
    validators) while this one works, then runs calls for this process (`call`), which thus never
    loads it. A build that emits few units starts one before it compiles: the ~0.2 s the
    OpenAPI validators take to import then pass on the other core.

    Only the process that started the helper calls it (a process forked later gets None, as
    does a call after the helper failed or was closed): the caller then does the work itself,
    so the outcome never depends on the helper. The helper is forked twice over, so that it is
    nobody's child to wait for, and holds none of this process's standard streams: `close`
    returns at once, and the helper leaves when it finds its request pipe closed (after its
    setup, if it is still in it; no signal is sent).
    """

    def __init__(self, answers: int, requests: int):
        self._owner = os.getpid()
        self._answers: int | None = answers
        self._requests = os.fdopen(requests, "wb")

    @property
    def alive(self) -> bool:
        """Whether it may still answer (it has not failed nor been closed)."""
        return self._answers is not None

    @classmethod
    def start(cls, setup: Callable[[], object]) -> Helper | None:
        """A helper running `setup`, or None where forking is not safe (as for `run_units`)."""
        if processes_for(2 * MIN_UNITS_PER_PROCESS) < 2:
            return None
        try:
            answers_read, answers_write = os.pipe()
            requests_read, requests_write = os.pipe()
            _pipe_capacity(requests_write, ANSWER_PIPE_BYTES)  # a request waits there during `setup`
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the go-between: forks the helper and leaves at once
            status = 70
            try:
                os.close(answers_read)
                os.close(requests_write)
                if os.fork() == 0:
                    _serve(setup, requests_read, answers_write)
                status = 0
            finally:
                os._exit(status)
        os.close(answers_write)
        os.close(requests_read)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        return cls(answers_read, requests_write)

    def call(self, function: Callable, *args) -> tuple[object] | None:
        """(function(*args),) as the helper computes it (`function` a module-level function, the
        arguments and value picklable); None if it cannot answer (then nothing more is asked of it)."""
        if self._answers is None or os.getpid() != self._owner:
            return None
        try:
            _send(self._requests, (function, args), None)
        except (OSError, RecursionError, pickle.PicklingError, TypeError, AttributeError):
            self.close()
            return None
        answer = _read_one(self._answers)
        if not (isinstance(answer, tuple) and len(answer) == 1):  # it failed, or the call raised there
            self.close()
            return None
        return answer

    def close(self) -> None:
        """Let the helper go: it leaves once it reads the end of its requests."""
        if self._answers is None or os.getpid() != self._owner:
            return
        try:
            self._requests.close()
        except OSError:  # a request it never read: it leaves all the same
            pass
        os.close(self._answers)
        self._answers = None


def _serve(setup: Callable[[], object], requests: int, answers: int) -> None:
    """The helper: `setup`, then each call read from `requests`, answered on `answers`, until the
    requests end; then leave. Its standard streams are /dev/null: whoever waits for the end of
    this process's output does not wait for the helper."""
    status = 70
    try:
        sys.stdin = sys.stdout = sys.stderr = None
        quiet = os.open(os.devnull, os.O_RDONLY)
        for standard in (0, 1, 2):
            os.dup2(quiet, standard)
        try:
            setup()
        except Exception:  # noqa: BLE001 - calls then load what they need themselves
            pass
        with os.fdopen(answers, "wb") as stream:
            while (request := _read_one(requests)) is not None:
                _send(stream, _answer_call(request), None)
        status = 0
    finally:
        os._exit(status)


def _answer_call(request: object) -> tuple:
    """In a helper: (value,) of a call `(function, args)`, or () when it raised or is not a call."""
    try:
        function, args = request  # type: ignore[misc]
        return (function(*args),)
    except Exception:  # noqa: BLE001 - the caller does that call itself, and meets what it raises
        return ()


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
                    if side_jobs:
                        _send(stream, ("side", [job() for job in side_jobs]), dispatch_table)
                    while queue is not None and (i := queue.take()) is not None:
                        _send(stream, ("unit", i, run(units[i])), dispatch_table)
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


class Keeper:
    """A forked worker that runs the last units of a list and keeps their results.

    `Keeper.share(units, ...)` splits the units in two runs: this process
    runs the first, the child the rest (a little less weight: it also
    reduces and sends), sending back a reduced form of each result
    (`reduce`: a parsed file's outline instead of its tree) and keeping the
    whole one. Later the child serves one request about what it kept
    (`send`): `serve(kept, request, answer)` calls `answer(key, value)` for
    each part as soon as it has it (the files' resolved systems, one by
    one), which `answer(key)` here waits for; then the child leaves. A child
    that fails delivers nothing more: what it did not deliver, the caller
    does itself (`share` then returns this process's own results, and
    `answer` gives None).
    """

    # The child's part of the units' weight: less than half, as it also reduces and sends. Parsing and
    # resolving N=200 (median of 7 runs): 0.69 s with 0.47, 0.71 s with 0.50, 0.76 s with 0.42.
    CHILD_SHARE = 0.47

    def __init__(self, pid: int, answers: int, requests: int, indices: range):
        self.pid = pid
        self.indices = indices  # the units the child ran: their results are reduced
        self._answers: int | None = answers
        self._requests: int | None = requests
        self._answered: dict = {}

    @classmethod
    def share(cls, units: list[Unit], weights: list[int], reduce: Callable[[Result], object],
              serve: Callable[[dict[int, Result], object, Callable[[object, object], None]], None],
              dispatch_table: dict | None = None,
              meanwhile: Callable[[], object] | None = None) -> tuple[list[Result], Keeper | None]:
        """Each unit's result (reduced for `keeper.indices`), and the keeper (None: all ran here)."""
        keeper = cls._fork(units, weights, reduce, serve, dispatch_table) if processes_for(len(units)) > 1 else None
        if meanwhile is not None:
            meanwhile()
        results: list[Result | None] = [None] * len(units)
        for i in range(len(units)) if keeper is None else range(keeper.indices.start):
            results[i] = _run(units[i])
        if keeper is not None:
            for message in keeper._read_until(lambda message: message[0] == "parsed"):
                if message[0] == "unit" and len(message) == 3 and message[1] in keeper.indices:
                    results[message[1]] = message[2]
            if any(results[i] is None for i in keeper.indices):  # the child failed: none of its results count
                keeper.close()
                for i in keeper.indices:
                    results[i] = _run(units[i])
                keeper = None
        return results, keeper  # type: ignore[return-value]

    @classmethod
    def _fork(cls, units, weights, reduce, serve, dispatch_table) -> Keeper | None:
        total, kept_weight, split = sum(weights), 0, len(units)
        while split > 1 and kept_weight + weights[split - 1] <= cls.CHILD_SHARE * total:
            split -= 1
            kept_weight += weights[split]
        if split == len(units):
            return None
        try:
            answers_read, answers_write = os.pipe()
            requests_read, requests_write = os.pipe()
            _pipe_capacity(answers_write, ANSWER_PIPE_BYTES)
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:
            status = 70
            try:
                os.close(answers_read)
                os.close(requests_write)
                with os.fdopen(answers_write, "wb") as stream:
                    kept: dict[int, Result] = {}
                    for i in range(split, len(units)):
                        kept[i] = _run(units[i])
                        _send(stream, ("unit", i, reduce(kept[i])), dispatch_table)
                    _send(stream, ("parsed",), dispatch_table)
                    request = _read_one(requests_read)
                    if request is not None:
                        serve(kept, request, lambda key, value: _send(stream, ("answer", key, value), dispatch_table))
                status = 0
            finally:
                os._exit(status)
        os.close(answers_write)
        os.close(requests_read)
        return cls(pid, answers_read, requests_write, range(split, len(units)))

    def send(self, request: object) -> None:
        """Ask the child to serve `request` (once); its parts come with `answer`."""
        if self._requests is None:
            return
        try:
            with os.fdopen(self._requests, "wb") as stream:
                _send(stream, request, None)
        except (OSError, RecursionError, pickle.PicklingError):  # unsent (nesting too deep to pickle):
            pass  # the child leaves unasked, and the caller does the work itself
        self._requests = None

    def answer(self, key: object) -> object | None:
        """The child's answer for `key`, waiting for it; None if it gives none (it failed, or was not asked)."""
        if key not in self._answered and self._answers is not None:
            for message in self._read_until(lambda message: _is_answer(message) and message[1] == key):
                if _is_answer(message):
                    self._answered[message[1]] = message[2]
            if key not in self._answered:
                self.close()
        return self._answered.get(key)

    def close(self) -> None:
        """Let the child go (unasked, it leaves when its request pipe closes) and reap it."""
        if self._requests is not None:
            os.close(self._requests)
            self._requests = None
        if self._answers is not None:
            os.close(self._answers)
            self._answers = None
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

    def _read_until(self, last: Callable[[tuple], bool]) -> list[tuple]:
        """The child's messages up to and including the first `last` one (fewer if it stops)."""
        messages = []
        while self._answers is not None:
            message = _read_one(self._answers)
            if not isinstance(message, tuple) or not message:
                break
            messages.append(message)
            if last(message):
                break
        return messages


def _is_answer(message: tuple) -> bool:
    return message[0] == "answer" and len(message) == 3


def _send(stream, message: object, dispatch_table: dict | None) -> None:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if dispatch_table is not None:
        pickler.dispatch_table = dispatch_table
    pickler.dump(message)
    stream.write(len(buffer.getbuffer()).to_bytes(8, "little"))
    stream.write(buffer.getbuffer())
    stream.flush()


def _read_one(descriptor: int) -> object | None:
    """One framed message from a pipe, or None (the writer closed it, or sent something unreadable)."""
    header = _read_exactly(descriptor, 8)
    if header is None:
        return None
    body = _read_exactly(descriptor, int.from_bytes(header, "little"))
    if body is None:
        return None
    try:
        return pickle.loads(body)
    except Exception:  # noqa: BLE001 - unreadable: the caller does that work itself
        return None


def _read_exactly(descriptor: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        try:
            chunk = os.read(descriptor, min(left, ANSWER_PIPE_BYTES))
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
