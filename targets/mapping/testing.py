"""Example records (the build-time E0307 check) and flow tests (`integc test`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import jsonschema

from integc import ir
from integc.diagnostics import Span
from integc.targets.mapping.codegen import Node, read_tree
from integc.targets.mapping.schemas import wire_value

# What now() returns while flow tests run, so expectations can be written down.
TEST_NOW = "2024-01-01T00:00:00Z"

_INCOMPLETE = object()


# ---------------------------------------------------------------- example records

def example_record(project: ir.Project, flow: ir.Flow) -> dict | None:
    """The source example as far as the flow reads it, or None when it is incomplete.

    Every field the mapping reads needs a value: its `@example`, else its default
    (left for the mapping to apply), else nothing if it is optional. A record
    field without an example is built from its type's fields the same way; a
    list or map without one is empty (unless `@length` asks for items).
    """
    root = read_tree(flow.assignments)
    entity = project.entity(flow.source)
    value = _example_fields(project, entity.fields, root, frozenset({("entity", flow.source)}))
    return None if value is _INCOMPLETE else value


def _example_fields(project: ir.Project, fields: tuple[ir.Field, ...], node: Node | None,
                    seen: frozenset = frozenset()) -> object:
    out = {}
    for f in fields:
        if node is not None and not node.full and f.name not in node.fields:
            continue  # the mapping does not read it
        child = None if node is None or node.full else node.fields[f.name]
        value = _example_value(project, f, child, seen)
        if value is _INCOMPLETE:
            return _INCOMPLETE
        if value is not None:
            out[f.name] = value
    return out


def _example_value(project: ir.Project, f: ir.Field, node: Node | None, seen: frozenset = frozenset()) -> object:
    """An example value for a field, None for "leave it out", or _INCOMPLETE."""
    if f.has_example and f.example is not None:
        return wire_value(project, f.type, f.example)
    if f.has_default:
        return None
    kind = f.type.kind
    value: object = _INCOMPLETE
    if kind in ("type", "entity"):
        # A record inside itself (a required cycle is E0205 in resolve): no finite example.
        if (kind, f.type.ref) in seen:
            value = _INCOMPLETE
        else:
            value = _example_fields(project, project.record_fields(f.type), node, seen | {(kind, f.type.ref)})
    elif kind in ("list", "map") and not f.min_length:
        value = [] if kind == "list" else {}
    elif kind == "json":
        value = None if f.optional else {}
    if value is _INCOMPLETE and f.optional:
        return None
    return value


# How long one flow's example may take to map, and how much memory the child may use.
EXAMPLE_SECONDS = 5
EXAMPLE_MEMORY = 1 << 30
_MAX_RESULT = 10 * 1024 * 1024

# The child that maps the examples: `python -I -S -c _CHILD`, standard library only, like the
# generated modules. It reads [{"name", "source", "record"}, ...] as JSON on stdin and writes one
# JSON line per flow: {"start": i} before it, then the outcome. SIGALRM (default action: end the
# process, even inside a regular expression) bounds each flow; RLIMIT_AS bounds memory.
_CHILD = r"""# integc-example-check
import json, resource, signal, sys, types
seconds, memory = int(sys.argv[1]), int(sys.argv[2])
for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CORE, 0)):
    try:
        resource.setrlimit(limit, (value, value))
    except (ValueError, OSError):
        pass
signal.signal(signal.SIGALRM, signal.SIG_DFL)
jobs = json.loads(sys.stdin.read())
out = sys.stdout
for i, job in enumerate(jobs):
    out.write(json.dumps({"start": i}) + "\n")
    out.flush()
    signal.alarm(seconds)
    try:
        module = types.ModuleType(job["name"])
        module.__file__ = "<integc mapping " + job["name"] + ">"
        exec(compile(job["source"], module.__file__, "exec"), module.__dict__)
        try:
            outcome = {"ok": module.map_record(job["record"])}
        except module.MappingError as error:
            outcome = {"error": [str(error.path), str(error.reason)]}
        text = json.dumps(outcome)
        if len(text) > int(sys.argv[3]):
            text = json.dumps({"big": len(text)})
    except MemoryError:
        text = json.dumps({"memory": True})
    except BaseException as error:
        text = json.dumps({"crash": type(error).__name__ + ": " + str(error)[:200]})
    signal.alarm(0)
    out.write(text + "\n")
    out.flush()
"""
CHILD_MARKER = "# integc-example-check"


def check_example(project: ir.Project, flow: ir.Flow, source: str) -> str | None:
    """Map the flow's source example and validate the result; a problem in words, or None."""
    return check_examples(project, [(flow, source)]).get(flow.name)


def check_examples(project: ir.Project, flows: list[tuple[ir.Flow, str | bytes]]) -> dict[str, str]:
    """Map each flow's source example in a bounded child process and validate the results
    (the E0307 check): flow name -> a problem in words, for the flows that have one."""
    from integc.targets.mapping import module_name, module_source
    from integc.targets.mapping.schemas import entity_schema

    jobs = []
    for flow, source in flows:
        record = example_record(project, flow)
        if record is None:
            continue
        raw = source if isinstance(source, bytes) else source.encode("utf-8")
        job = {"name": module_name(flow.name), "source": raw.decode("utf-8"), "record": record, "flow": flow.name}
        if raw == module_source(project, flow):
            # the module's TARGET_SCHEMA literal was written from this very schema: no need to
            # compile 100 KB of module here to read it back
            job["target_schema"] = entity_schema(project, flow.target, write=True)
        jobs.append(job)
    problems: dict[str, str] = {}
    outcomes = _run_children(jobs)
    for job, outcome in zip(jobs, outcomes):
        problem = _judge(job, outcome)
        if problem is not None:
            problems[job["flow"]] = problem
    return problems


def _run_children(jobs: list[dict]) -> list[dict]:
    """The outcome of each job, in order; a child that dies is replaced for the jobs after."""
    import signal
    import subprocess
    import sys

    outcomes: list[dict] = []
    while len(outcomes) < len(jobs):
        rest = jobs[len(outcomes):]
        payload = json.dumps([{k: job[k] for k in ("name", "source", "record")} for job in rest])
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _CHILD, str(EXAMPLE_SECONDS), str(EXAMPLE_MEMORY),
                 str(_MAX_RESULT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        except OSError as error:
            outcomes.extend({"unavailable": str(error)} for _ in rest)
            break
        killed = False
        try:
            output, _ = child.communicate(payload.encode("utf-8"), timeout=EXAMPLE_SECONDS * len(rest) + 30)
        except subprocess.TimeoutExpired:  # only if SIGALRM could not end it
            child.kill()
            output, _ = child.communicate()
            killed = True
        started = None
        done = 0
        for line in output.decode("utf-8", "replace").splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "start" in message:
                started = message["start"]
            elif started is not None:
                outcomes.append(message)
                done += 1
                started = None
        if done == len(rest):
            break
        code = child.returncode
        timed_out = killed or code in (-signal.SIGALRM, -signal.SIGXCPU)
        outcomes.append({"timeout": True} if timed_out else {"died": code})
    return outcomes


def _judge(job: dict, outcome: dict) -> str | None:
    from integc.targets.mapping import load_module

    if "timeout" in outcome:
        return f"the example took longer than {EXAMPLE_SECONDS} s to map (a backtracking @pattern?)"
    if "memory" in outcome or "died" in outcome:
        return (f"mapping the example needed more than {EXAMPLE_MEMORY >> 20} MiB of memory"
                if "memory" in outcome or outcome.get("died") in (-9, 1)
                else f"the mapping process stopped while mapping the example (exit {outcome['died']})")
    if "big" in outcome:
        return f"the example maps to a record of {outcome['big']} bytes (more than {_MAX_RESULT >> 20} MB)"
    if "crash" in outcome:
        return f"the mapping failed on the example: {outcome['crash']}"
    if "unavailable" in outcome:
        return f"cannot start Python to map the example: {outcome['unavailable']}"
    if "error" in outcome:
        path, reason = outcome["error"]
        return f"the source example does not map: {path}: {reason}"
    result = outcome.get("ok")
    schema = job.get("target_schema")
    if schema is None:
        # The schema only: TARGET_SCHEMA is a literal, loading the module runs no user-controlled work.
        schema = load_module(job["source"], job["name"]).TARGET_SCHEMA
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(result))
    if problem is None:
        return None
    where = "target" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem.absolute_path)
    return f"the source example maps to a record the target rejects: {where}: {problem.message}"


# ---------------------------------------------------------------- flow tests

@dataclass(frozen=True)
class TestOutcome:
    flow: str
    name: str
    passed: bool
    message: str
    origin: Span

    __test__ = False  # not a pytest test class


def run_flow_tests(project: ir.Project, flows: list[ir.Flow] | None = None) -> list[TestOutcome]:
    """Run the `test` blocks of the flows (all by default), in source order."""
    from integc.targets.mapping import load_module, module_name, render_module

    outcomes = []
    for flow in flows if flows is not None else project.flows:
        if not flow.tests:
            continue
        module = load_module(render_module(project, flow), module_name(flow.name))
        source_type = ir.TypeRef("entity", flow.source)
        target_type = ir.TypeRef("entity", flow.target)
        for test in flow.tests:
            record = test.input
            if isinstance(record, dict):
                record = _test_input(project, source_type, record)
            try:
                got = module.map_record(record, now=TEST_NOW)
            except module.MappingError as error:
                outcomes.append(TestOutcome(flow.name, test.name, False, f"MappingError: {error}", test.origin))
                continue
            difference = compare(project, target_type, got, test.expect, "target")
            outcomes.append(TestOutcome(flow.name, test.name, difference is None, difference or "", test.origin))
    return outcomes


def _test_input(project: ir.Project, ref: ir.TypeRef, value: object) -> object:
    """Test input written the natural way -> wire form: a number for a decimal field becomes its
    string, a duration literal its ISO 8601 text, an enum member name its wire value. Nothing
    else changes (unknown fields and wrong types reach the mapping as written)."""
    kind = ref.kind
    if isinstance(value, dict) and kind in ("type", "entity"):
        fields = {f.name: f for f in project.record_fields(ref)}
        return {k: _test_input(project, fields[k].type, v) if k in fields else v for k, v in value.items()}
    if isinstance(value, list) and kind == "list":
        return [_test_input(project, ref.item, v) for v in value]
    if isinstance(value, dict) and kind == "map":
        return {k: _test_input(project, ref.item, v) for k, v in value.items()}
    if kind == "enum" and isinstance(value, str):
        return _enum_wire(project, ref, value)
    if kind in ("decimal", "duration", "float") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return wire_value(project, ref, value)
    return value


def _enum_wire(project: ir.Project, ref: ir.TypeRef, value: str) -> str:
    members = project.enum(ref.ref).members
    if any(m.wire == value for m in members):
        return value
    return next((m.wire for m in members if m.name == value), value)


def compare(project: ir.Project, ref: ir.TypeRef, got: object, want: object, path: str) -> str | None:
    """The first difference between a mapped value and the expected one, or None.

    Records must have exactly the expected fields (`field: null` in `expect`
    means "absent", as does leaving it out). Lists compare item by item, maps
    key by key. Decimals compare by value (`"10"` == `"10.00"`), datetimes as
    instants, enums by wire value or member name, everything else exactly.
    """
    if want is None or got is None:
        return None if want is got else f"{path}: expected {_show(want)}, got {_show(got)}"
    kind = ref.kind
    if kind in ("type", "entity") and isinstance(want, dict) and isinstance(got, dict):
        fields = {f.name: f for f in project.record_fields(ref)}
        for key in list(want) + [k for k in got if k not in want]:
            w, g = want.get(key), got.get(key)
            if w is None:
                if g is not None:
                    return f"{path}.{key}: expected absent, got {_show(g)}"
                continue
            if g is None:
                return f"{path}.{key}: missing, expected {_show(w)}"
            field = fields.get(key)
            problem = compare(project, field.type if field else ir.TypeRef("json"), g, w, f"{path}.{key}")
            if problem:
                return problem
        return None
    if kind == "list" and isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{path}: expected {len(want)} items, got {len(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            problem = compare(project, ref.item, g, w, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if kind == "map" and isinstance(want, dict) and isinstance(got, dict):
        if set(want) != set(got):
            return f"{path}: expected keys {sorted(want)}, got {sorted(got)}"
        for key in want:
            problem = compare(project, ref.item, got[key], want[key], f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if kind == "enum" and isinstance(want, str):
        want = _enum_wire(project, ref, want)
    if kind == "decimal" and _decimal(got) is not None and _decimal(got) == _decimal(want):
        return None
    if kind == "datetime" and _instant(got) is not None and _instant(got) == _instant(want):
        return None
    if kind == "duration" and isinstance(want, int) and not isinstance(want, bool):
        want = wire_value(project, ref, want)
    if type(got) is type(want) and got == want or (kind == "float" and got == want):
        return None
    return f"{path}: expected {_show(want)}, got {_show(got)}"


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _show(value: object) -> str:
    if value is None:
        return "absent"
    text = repr(value)
    return text if len(text) <= 80 else text[:76] + "..." + text[-1:]
