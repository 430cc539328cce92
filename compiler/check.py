"""Check flows and their mappings; produce typed IR flows.

The mapping checker is bidirectional: the target field's type flows down
into literals, `match` arms and `??` fallbacks (so `"pro"` can become an enum
member), and each expression's type and optionality flow back up. An
expression that fails to check yields None, which silences follow-on errors.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


from integc import ir
from integc import syntax as s
from integc.builtins import BUILTINS
from integc.diagnostics import Diagnostics, Note, Span
from integc.resolve import INVALID, Symbols, WireValues, duration_iso, unsafe_characters
from integc.typerules import NUMERIC, STRING, STRINGLIKE, assignable, unify
from integc.suggest import did_you_mean

WRITE_NEEDS = {"create": ("create",), "update": ("update",), "upsert": ("create", "update")}
ON_ERROR = ("dead_letter", "skip", "halt")
BACKOFF = ("exponential", "fixed")
INT = ir.TypeRef("int")
BOOL = ir.TypeRef("bool")
NULL = ir.TypeRef("null")
ORDERED = NUMERIC | {"string", "date", "datetime", "duration", "email", "url", "uuid"}


@dataclass(frozen=True)
class Expected:
    """What the surrounding assignment wants (None where anything goes)."""

    type: ir.TypeRef


@dataclass(frozen=True)
class Scope:
    source: ir.Entity
    variables: tuple[tuple[str, ir.TypeRef, bool], ...] = ()

    def variable(self, name: str):
        for var_name, type_ref, optional in reversed(self.variables):
            if var_name == name:
                return type_ref, optional
        return None

    def with_variable(self, name: str, type_ref: ir.TypeRef, optional: bool) -> "Scope":
        return Scope(self.source, self.variables + ((name, type_ref, optional),))


class Checker:
    def __init__(self, symbols: Symbols, diagnostics: Diagnostics):
        self._symbols = symbols
        self._d = diagnostics
        self._wire = WireValues(symbols, diagnostics)

    # ------------------------------------------------------------ systems

    # ------------------------------------------------------------ flows

    def check_flows(self) -> tuple[ir.Flow, ...]:
        flows = []
        for flow in self._symbols.flows:
            checked = self._flow(flow)
            if checked is not None:
                flows.append(checked)
        return tuple(flows)

    def _flow(self, flow: s.Flow) -> ir.Flow | None:
        clauses = self._flow_clauses(flow)
        source = self._endpoint(clauses.get("from"), flow, "from")
        target = self._endpoint(clauses.get("to"), flow, "to")
        trigger = self._trigger(clauses.get("trigger"), flow, source)
        write = self._choice(clauses.get("write"), WRITE_NEEDS, "write mode", "upsert")
        on_error = self._choice(clauses.get("on_error"), ON_ERROR, "on_error mode", "dead_letter")
        retry = self._retry(clauses.get("retry"))
        if target is not None and write is not None:
            self._check_target_ops(flow, clauses["to"], target, write)
        if trigger is not None and trigger.kind == "manual":
            self._d.report("W0603", f"flow `{flow.name.text}` is run by hand", flow.name.span,
                           help="manual flows are integration debt: they compile to no workload")
        elif "retry" not in clauses:
            self._d.report("W0602", f"flow `{flow.name.text}` has no retry policy", flow.name.span,
                           help="add e.g. `retry 5 backoff exponential 2s max 5m`")
        if source is None or target is None:
            return None
        tests = self._tests(flow, source, target)
        map_block = clauses.get("map")
        assignments = self._mapping(flow, map_block, source, target)
        if None in (trigger, write, on_error, assignments, tests) or (clauses.get("retry") and retry is None):
            return None
        return ir.Flow(flow.name.text, source.qualified_name, target.qualified_name, trigger, write,
                       assignments, retry, on_error, tests, flow.doc, flow.span)

    def _tests(self, flow: s.Flow, source: ir.Entity, target: ir.Entity) -> tuple[ir.FlowTest, ...] | None:
        """`test` blocks: input is (part of) a source record, expect the mapped target record (wire form).

        Fields are checked by name and type; the input need not hold fields the mapping never reads.
        """
        tests = []
        names: dict[str, Span] = {}
        ok = True
        for test in (m for m in flow.members if isinstance(m, s.FlowTest)):
            if test.name.value in names:
                self._d.report("E0202", f"test {test.name.value!r} is declared twice", test.name.span,
                               notes=(Note(names[test.name.value], "first declared here"),))
                ok = False
                continue
            names[test.name.value] = test.name.span
            given = self._wire.to_wire(test.input, ir.TypeRef("entity", source.qualified_name), False,
                                       "test input", require_all=False)
            expect = self._wire.to_wire(test.expect, ir.TypeRef("entity", target.qualified_name), False,
                                        "test expectation", require_all=False)
            if given is INVALID or expect is INVALID:
                ok = False
                continue
            tests.append(ir.FlowTest(test.name.value, given, expect, test.span))
        return tuple(tests) if ok else None

    def _flow_clauses(self, flow: s.Flow) -> dict:
        clauses: dict[str, object] = {}
        for member in flow.members:
            if isinstance(member, s.Clause):
                key = member.keyword
            elif isinstance(member, s.Trigger):
                key = "trigger"
            elif isinstance(member, s.MapBlock):
                key = "map"
            elif isinstance(member, s.Retry):
                key = "retry"
            else:
                continue
            if key in clauses:
                self._d.report("E0202", f"`{key}` is given twice in flow `{flow.name.text}`", member.span,
                               notes=(Note(clauses[key].span, "first given here"),))
                continue
            clauses[key] = member
        for required in ("from", "to", "trigger"):
            if required not in clauses:
                self._d.report("E0209", f"flow `{flow.name.text}` has no `{required}` clause", flow.name.span,
                               help={"from": "name the source entity: `from crm.Customer`",
                                     "to": "name the target entity: `to billing.Account`",
                                     "trigger": "say when it runs: `trigger schedule every 15m`, "
                                                "`trigger event sys.event`, `trigger webhook \"/path\"` or "
                                                "`trigger manual \"who runs it\"`"}[required])
        return clauses

    def _endpoint(self, clause: s.Clause | None, flow: s.Flow, role: str) -> ir.Entity | None:
        if clause is None:
            return None
        ref: s.QualName = clause.value
        if len(ref.parts) != 2:
            self._d.report("E0201", f"`{ref.text}` is not an entity name", ref.span,
                           help="name entities as `system.Entity`")
            return None
        system_name, entity_name = ref.parts
        system = self._symbols.systems.get(system_name.text)
        if system is None:
            self._d.report("E0201", f"unknown system `{system_name.text}`", system_name.span,
                           help=did_you_mean(system_name.text, self._symbols.systems))
            return None
        entity = next((e for e in system.entities if e.name == entity_name.text), None)
        if entity is None:
            self._d.report("E0201", f"system `{system.name}` has no entity `{entity_name.text}`", entity_name.span,
                           help=did_you_mean(entity_name.text, [e.name for e in system.entities]))
        return entity

    def _choice(self, clause: s.Clause | None, options, what: str, default: str) -> str | None:
        if clause is None:
            return default
        name: s.Name = clause.value
        if name.text not in options:
            self._d.report("E0201", f"unknown {what} `{name.text}`", name.span,
                           help=did_you_mean(name.text, options) or f"choose one of {', '.join(options)}")
            return None
        return name.text

    def _trigger(self, trigger: s.Trigger | None, flow: s.Flow, source: ir.Entity | None) -> ir.Trigger | None:
        if trigger is None:
            return None
        span = trigger.span
        if trigger.kind == "manual":
            return ir.Trigger("manual", None, None, None, None, trigger.value.value if trigger.value else None, span)
        if trigger.kind == "webhook":
            path = trigger.value.value
            if not path.startswith("/") or any(c in "{}?#" for c in path) or unsafe_characters(path):
                self._d.report("E0209", f"webhook path must start with `/` and be a plain path (no spaces, "
                                        f"control or invisible characters): {path!r}", trigger.value.span)
                return None
            return ir.Trigger("webhook", None, None, None, path, None, span)
        if trigger.kind == "every":
            if trigger.value.value <= 0:
                self._d.report("E0209", "a schedule interval must be longer than zero", trigger.value.span)
                return None
            self._needs_list(flow, source, span)
            return ir.Trigger("schedule", None, trigger.value.value, None, None, None, span)
        if trigger.kind == "cron":
            expression = trigger.value.value
            problem = cron_problem(expression)
            from croniter import croniter  # only projects with a cron trigger pay for the import

            if problem is None and not croniter.is_valid(expression):
                problem = "it is not a valid schedule"
            if problem is not None:
                self._d.report("E0209", f"invalid cron expression {expression!r}: {problem}", trigger.value.span,
                               help='five fields: minute hour day-of-month month day-of-week, with `*`, numbers, '
                                    'ranges, steps, lists and month/day names (what Kubernetes CronJobs run), '
                                    'e.g. "0 2 * * 1"')
                return None
            self._needs_list(flow, source, span)
            return ir.Trigger("schedule", None, None, expression, None, None, span)
        return self._event_trigger(trigger, flow, source)

    def _event_trigger(self, trigger: s.Trigger, flow: s.Flow, source: ir.Entity | None) -> ir.Trigger | None:
        ref = trigger.ref
        if len(ref.parts) != 2:
            self._d.report("E0201", f"`{ref.text}` is not an event name", ref.span,
                           help="name events as `system.event`")
            return None
        system = self._symbols.systems.get(ref.parts[0].text)
        if system is None:
            self._d.report("E0201", f"unknown system `{ref.parts[0].text}`", ref.parts[0].span,
                           help=did_you_mean(ref.parts[0].text, self._symbols.systems))
            return None
        event = next((e for e in system.events if e.name == ref.parts[1].text), None)
        if event is None:
            self._d.report("E0201", f"system `{system.name}` has no event `{ref.parts[1].text}`", ref.parts[1].span,
                           help=did_you_mean(ref.parts[1].text, [e.name for e in system.events]))
            return None
        if source is not None:
            if system.name != source.system:
                self._d.report("E0207", f"event `{ref.text}` is published by `{system.name}`, but the flow reads "
                                        f"from `{source.qualified_name}`", ref.span,
                               help="trigger on an event of the source system")
                return None
            if event.type != ir.TypeRef("entity", source.qualified_name):
                self._d.report("E0207", f"event `{ref.text}` carries `{event.type}`, but the flow reads "
                                        f"`{source.qualified_name}`", ref.span)
                return None
        return ir.Trigger("event", event.name, None, None, None, None, trigger.span)

    def _needs_list(self, flow: s.Flow, source: ir.Entity | None, span: Span) -> None:
        if source is None:
            return
        if "list" not in _exposed_ops(self._symbols.systems[source.system], source.name):
            self._d.report("E0207", f"a scheduled flow reads its source with `list`, but `{source.qualified_name}` "
                                    f"is not exposed with `list`", span,
                           help=f"add `list` to the `expose {source.name}` of system `{source.system}`")

    def _check_target_ops(self, flow: s.Flow, clause: s.Clause, target: ir.Entity, write: str) -> None:
        exposed = _exposed_ops(self._symbols.systems[target.system], target.name)
        missing = [op for op in WRITE_NEEDS[write] if op not in exposed]
        if missing:
            self._d.report("E0207", f"`write {write}` needs `{target.qualified_name}` exposed with "
                                    f"{' and '.join(f'`{m}`' for m in missing)}", clause.value.span,
                           help=f"add {', '.join(missing)} to the `expose {target.name}` of system "
                                f"`{target.system}`, or choose another write mode")

    def _retry(self, retry: s.Retry | None) -> ir.Retry | None:
        if retry is None:
            return None
        attempts = retry.attempts.value
        if not 1 <= attempts <= 100:
            self._d.report("E0209", "retry count must be between 1 and 100", retry.attempts.span)
            return None
        backoff = "exponential"
        if retry.backoff is not None:
            if retry.backoff.text not in BACKOFF:
                self._d.report("E0201", f"unknown backoff `{retry.backoff.text}`", retry.backoff.span,
                               help=did_you_mean(retry.backoff.text, BACKOFF) or "use exponential or fixed")
                return None
            backoff = retry.backoff.text
        initial = retry.initial.value if retry.initial else 1000
        maximum = retry.maximum.value if retry.maximum else max(initial, 60_000)
        if maximum < initial:
            self._d.report("E0209", "the retry maximum is shorter than its initial delay", retry.maximum.span)
            return None
        return ir.Retry(attempts, backoff, initial, maximum, retry.span)

    # ------------------------------------------------------------ the mapping

    def _mapping(self, flow: s.Flow, block: s.MapBlock | None, source: ir.Entity,
                 target: ir.Entity) -> tuple[ir.Assignment, ...] | None:
        self._flow_name = flow.name.text
        self._source_fields = source.fields
        self._target_system = self._symbols.systems[target.system]
        body = block.body if block is not None else ()
        span = block.span if block is not None else flow.name.span
        return self._block(body, target.fields, Scope(source), span, target.qualified_name)

    def _block(self, body: tuple[s.Assignment, ...], fields: tuple[ir.Field, ...], scope: Scope,
               span: Span, owner: str) -> tuple[ir.Assignment, ...] | None:
        by_name = {f.name: f for f in fields}
        assigned: dict[str, s.Assignment] = {}
        out = []
        ok = True
        for assignment in body:
            name = assignment.target.text
            target_field = by_name.get(name)
            if target_field is None:
                self._d.report("E0201", f"`{owner}` has no field `{name}`", assignment.target.span,
                               help=did_you_mean(name, by_name))
                ok = False
                continue
            if name in assigned:
                self._d.report("E0306", f"`{owner}.{name}` is assigned twice", assignment.target.span,
                               notes=(Note(assigned[name].target.span, "first assigned here"),))
                ok = False
                continue
            assigned[name] = assignment
            if target_field.readonly:
                self._d.report("E0305", f"`{owner}.{name}` is @readonly: it is set by its owning system",
                               assignment.target.span, help="remove this assignment")
                ok = False
                continue
            expr = self._assign(assignment.expr, target_field, scope, owner)
            if expr is None:
                ok = False
                continue
            out.append(ir.Assignment(name, expr, assignment.span))
        missing = [f.name for f in fields if f.required and not f.readonly and f.name not in assigned]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            self._d.report("E0302", f"required field{'s' if len(missing) > 1 else ''} of `{owner}` not assigned: "
                                    f"{names}", span,
                           help=f"assign {'them' if len(missing) > 1 else 'it'}, e.g. `{missing[0]} = ...`")
            ok = False
        return tuple(out) if ok else None

    def _assign(self, expr: s.Expr, target: ir.Field, scope: Scope, owner: str) -> ir.Expr | None:
        checked = self._expr(expr, scope, Expected(target.type))
        if checked is None:
            return None
        if not assignable(checked.type, target.type):
            self._d.report("E0301", f"{_describe(checked.type)} cannot be assigned to `{owner}.{target.name}` "
                                    f"({_describe(target.type)})", expr.span, help=_conversion_help(checked.type,
                                                                                                target.type))
            return None
        if checked.optional and not target.optional and not target.has_default:
            self._d.report("E0303", f"this value may be absent, but `{owner}.{target.name}` is required",
                           expr.span, help=f"give a fallback with `??`, e.g. `... ?? {_fallback_example(target.type)}`")
            return None
        self._check_pii(checked)
        return checked

    def _check_pii(self, expr: ir.Expr) -> None:
        """E0501 at every read of personal data (a nested block's reads are found again by the
        enclosing assignment; identical reports collapse into one)."""
        if self._target_system.handles_pii:
            return
        for field_name, span in self._pii_reads(expr):
            self._d.report("E0501", f"personal data `{field_name}` flows in `{self._flow_name}` to system "
                                    f"`{self._target_system.name}`, which does not handle pii", span,
                           help=f"declare `handles pii` in system `{self._target_system.name}` if it may hold "
                                f"personal data, or do not map this field")

    def _pii_reads(self, expr: ir.Expr) -> list[tuple[str, Span]]:
        """Each read of a @pii field (or of a record holding one) in the expression.

        The list an `each` walks counts only when the list field itself is @pii;
        personal data inside its records is found where the body reads it.
        """
        found = []
        stack: list[tuple[ir.Expr, bool]] = [(expr, False)]
        while stack:
            node, each_source = stack.pop()
            if isinstance(node, ir.Get):
                owner_type = node.obj.type if node.obj is not None else None
                fields = self._symbols.record_fields(owner_type) if owner_type else self._source_fields
                f = next((f for f in fields if f.name == node.field), None)
                if f is not None and (f.pii or (not each_source and self._contains_pii(f.type, set()))):
                    found.append((f.name, node.origin))
                    continue
            if isinstance(node, ir.Each):
                stack.append((node.source, True))
                stack.extend((a.expr, False) for a in node.fields)
            else:
                stack.extend((child, False) for child in _children(node))
        return found

    def _contains_pii(self, t: ir.TypeRef, seen: set) -> bool:
        if t.kind in ("list", "map"):
            return self._contains_pii(t.item, seen)
        if t.kind not in ("type", "entity") or t in seen:
            return False
        seen.add(t)
        return any(f.pii or self._contains_pii(f.type, seen) for f in self._symbols.record_fields(t))

    # ------------------------------------------------------------ expressions

    def _expr(self, e: s.Expr, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        method = getattr(self, "_expr_" + type(e).__name__.lower())
        return method(e, scope, expected)

    def _expr_literal(self, e: s.Literal, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        value = e.value
        if value.kind == "null":
            return ir.Const(None, NULL, True, e.span)
        if value.kind == "string" and expected is not None and expected.type.kind == "enum":
            return self._enum_literal(value, expected.type, e.span)
        kind = {"string": "string", "int": "int", "float": "float", "bool": "bool",
                "duration": "duration"}[value.kind]
        wire = duration_iso(value.value) if kind == "duration" else value.value
        return ir.Const(wire, ir.TypeRef(kind), False, e.span)

    def _enum_literal(self, value: s.Value, enum_type: ir.TypeRef, span: Span) -> ir.Expr | None:
        enum = self._symbols.enums[enum_type.ref]
        member = next((m for m in enum.members if value.value in (m.name, m.wire)), None)
        if member is None:
            self._d.report("E0301", f"{value.value!r} is not a member of enum `{enum.name}`", span,
                           help=did_you_mean(value.value, [m.name for m in enum.members]) or
                           f"its members are {', '.join(m.name for m in enum.members)}")
            return None
        return ir.Const(member.wire, enum_type, False, span)

    def _expr_ref(self, e: s.Ref, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        name = e.name.text
        variable = scope.variable(name)
        if variable is not None:
            return ir.Var(name, variable[0], variable[1], e.span)
        f = next((f for f in scope.source.fields if f.name == name), None)
        if f is None:
            candidates = [f.name for f in scope.source.fields] + [v[0] for v in scope.variables]
            self._d.report("E0201", f"`{scope.source.qualified_name}` has no field `{name}`", e.span,
                           help=did_you_mean(name, candidates))
            return None
        return ir.Get(None, name, f.type, f.optional, e.span)

    def _expr_member(self, e: s.Member, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        obj = self._expr(e.obj, scope, None)
        if obj is None:
            return None
        if obj.type.kind not in ("type", "entity"):
            self._d.report("E0301", f"{_describe(obj.type)} has no fields", e.name.span)
            return None
        fields = self._symbols.record_fields(obj.type)
        f = next((f for f in fields if f.name == e.name.text), None)
        if f is None:
            self._d.report("E0201", f"`{obj.type}` has no field `{e.name.text}`", e.name.span,
                           help=did_you_mean(e.name.text, [f.name for f in fields]))
            return None
        return ir.Get(obj, f.name, f.type, obj.optional or f.optional, e.span)

    def _expr_unary(self, e: s.Unary, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        operand = self._expr(e.operand, scope, None)
        if operand is None:
            return None
        if e.op == "not":
            if operand.type.kind != "bool":
                return self._mismatch(e.operand.span, f"`not` needs a bool, not {_describe(operand.type)}")
            return ir.Unary("not", operand, BOOL, operand.optional, e.span)
        if operand.type.kind not in NUMERIC:
            return self._mismatch(e.operand.span, f"`{e.op}` needs a number, not {_describe(operand.type)}")
        if e.op == "+":
            return operand
        return ir.Unary("-", operand, operand.type, operand.optional, e.span)

    def _expr_binary(self, e: s.Binary, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        if e.op == "??":
            return self._coalesce(e, scope, expected)
        left = self._expr(e.left, scope, None)
        right_expected = Expected(left.type) if left is not None and left.type.kind == "enum" else None
        right = self._expr(e.right, scope, right_expected)
        if left is None or right is None:
            return None
        if left.type.kind != "enum" and right.type.kind == "enum" and isinstance(left, ir.Const) \
                and left.type.kind == "string":
            left = self._expr(e.left, scope, Expected(right.type))
            if left is None:
                return None
        optional = left.optional or right.optional
        if e.op in ("and", "or"):
            for side, span in ((left, e.left.span), (right, e.right.span)):
                if side.type.kind != "bool":
                    return self._mismatch(span, f"`{e.op}` needs bools, not {_describe(side.type)}")
            return ir.Binary(e.op, left, right, BOOL, optional, e.span)
        if e.op in ("==", "!="):
            if unify(left.type, right.type) is None:
                return self._mismatch(e.span, f"cannot compare {_describe(left.type)} with {_describe(right.type)}")
            return ir.Binary(e.op, left, right, BOOL, False, e.span)
        if e.op in ("<", "<=", ">", ">="):
            common = unify(left.type, right.type)
            if common is None or common.kind not in ORDERED or (common.kind in NUMERIC and
                                                               {left.type.kind, right.type.kind} ==
                                                               {"decimal", "float"}):
                return self._mismatch(e.span, f"cannot order {_describe(left.type)} and {_describe(right.type)}")
            return ir.Binary(e.op, left, right, BOOL, optional, e.span)
        return self._arithmetic(e, left, right, optional)

    def _arithmetic(self, e: s.Binary, left: ir.Expr, right: ir.Expr, optional: bool) -> ir.Expr | None:
        kinds = {left.type.kind, right.type.kind}
        if e.op == "+" and kinds <= STRINGLIKE:
            return ir.Binary("+", left, right, STRING, optional, e.span)
        if not kinds <= NUMERIC:
            text_side = next((side for side in (left, right) if side.type.kind in STRINGLIKE), None)
            help_text = "convert the number with to_string(...)" if e.op == "+" and text_side else None
            return self._mismatch(e.span, f"`{e.op}` cannot combine {_describe(left.type)} and "
                                          f"{_describe(right.type)}", help_text)
        if kinds == {"decimal", "float"}:
            return self._mismatch(e.span, "cannot mix decimal and float; convert one side with "
                                          "to_decimal(...) or to_float(...)")
        if "float" in kinds:
            result = ir.TypeRef("float")
        elif "decimal" in kinds or e.op == "/":
            result = ir.TypeRef("decimal")
        else:
            result = INT
        return ir.Binary(e.op, left, right, result, optional, e.span)

    def _coalesce(self, e: s.Binary, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        left = self._expr(e.left, scope, expected)
        right = self._expr(e.right, scope, expected or (Expected(left.type) if left is not None else None))
        if left is None or right is None:
            return None
        common = unify(left.type, right.type)
        if common is None:
            return self._mismatch(e.span, f"the two sides of `??` differ: {_describe(left.type)} and "
                                          f"{_describe(right.type)}")
        return ir.Coalesce(left, right, common, right.optional, e.span)

    def _expr_ifexpr(self, e: s.IfExpr, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        cond = self._expr(e.cond, scope, None)
        then = self._expr(e.then, scope, expected)
        otherwise = self._expr(e.otherwise, scope, expected)
        if cond is None or then is None or otherwise is None:
            return None
        if cond.type.kind != "bool":
            return self._mismatch(e.cond.span, f"the condition must be a bool, not {_describe(cond.type)}")
        common = unify(then.type, otherwise.type)
        if common is None:
            return self._mismatch(e.span, f"the branches differ: {_describe(then.type)} and "
                                          f"{_describe(otherwise.type)}")
        return ir.If(cond, then, otherwise, common, then.optional or otherwise.optional, e.span)

    def _expr_match(self, e: s.Match, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        subject = self._expr(e.subject, scope, None)
        if subject is None:
            return None
        kind = subject.type.kind
        if kind not in ("enum", "bool", "int") and kind not in STRINGLIKE:
            return self._mismatch(e.subject.span, f"cannot match on {_describe(subject.type)}")
        arms: list[ir.MatchArm] = []
        default = None
        seen: dict[object, Span] = {}
        ok = True
        for arm in e.arms:
            expr = self._expr(arm.expr, scope, expected)
            if expr is None:
                ok = False
            if arm.pattern is None:
                if default is not None or any(a.pattern is None for a in e.arms[:e.arms.index(arm)]):
                    self._d.report("E0202", "`_` is given twice in this match", arm.span)
                    ok = False
                default = expr
                continue
            value = self._pattern(arm.pattern, subject.type)
            if value is _NO_MATCH:
                ok = False
                continue
            if value in seen:
                self._d.report("E0202", f"pattern `{arm.pattern.value}` is matched twice", arm.pattern.span,
                               notes=(Note(seen[value], "first matched here"),))
                ok = False
                continue
            seen[value] = arm.pattern.span
            if expr is not None:
                arms.append(ir.MatchArm(value, expr, arm.span))
        if not ok:
            return None
        has_default = any(a.pattern is None for a in e.arms)
        if not has_default:
            missing = self._uncovered(subject.type, set(seen))
            if missing is not None:
                self._d.report("E0304", f"match is not exhaustive: {missing}", e.span,
                               help="add the missing arms, or a `_ -> ...` arm")
                return None
        results = [a.expr for a in arms] + ([default] if default is not None else [])
        if not results:
            return self._mismatch(e.span, "a match needs at least one arm")
        common = results[0].type
        for result in results[1:]:
            common = unify(common, result.type)
            if common is None:
                return self._mismatch(e.span, "the arms of this match have different types")
        optional = subject.optional or any(r.optional for r in results)
        return ir.Match(subject, tuple(arms), default, common, optional, e.span)

    def _pattern(self, pattern: s.Value, subject: ir.TypeRef):
        if subject.kind == "enum":
            enum = self._symbols.enums[subject.ref]
            if pattern.kind in ("symbol", "string"):
                member = next((m for m in enum.members if pattern.value in (m.name, m.wire)), None)
                if member is not None:
                    return member.wire
            self._d.report("E0201", f"`{pattern.value}` is not a member of enum `{enum.name}`", pattern.span,
                           help=did_you_mean(str(pattern.value), [m.name for m in enum.members]))
            return _NO_MATCH
        wanted = {"bool": ("bool",), "int": ("int",)}.get(subject.kind, ("string",))
        if pattern.kind not in wanted:
            self._d.report("E0301", f"pattern `{pattern.value}` does not fit {_article(str(subject))} `{subject}` "
                                    f"subject", pattern.span)
            return _NO_MATCH
        return pattern.value

    def _uncovered(self, subject: ir.TypeRef, covered: set) -> str | None:
        if subject.kind == "enum":
            missing = [m.name for m in self._symbols.enums[subject.ref].members if m.wire not in covered]
            return f"{', '.join(f'`{m}`' for m in missing)} not covered" if missing else None
        if subject.kind == "bool":
            missing = [str(b).lower() for b in (True, False) if b not in covered]
            return f"{', '.join(f'`{m}`' for m in missing)} not covered" if missing else None
        return f"a {subject} match needs a `_` arm"

    def _expr_each(self, e: s.Each, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        source = self._expr(e.source, scope, None)
        if source is None:
            return None
        if source.type.kind != "list":
            return self._mismatch(e.source.span, f"`each` needs a list, not {_describe(source.type)}")
        if expected is None or expected.type.kind != "list" or expected.type.item.kind not in ("type", "entity"):
            what = _describe(expected.type) if expected is not None else "this place"
            return self._mismatch(e.span, f"`each` builds a list of records, but {what} is not a list of records")
        item_type = expected.type.item
        inner = scope.with_variable(e.var.text, source.type.item, False)
        fields = self._block(e.body, self._symbols.record_fields(item_type), inner, e.span, str(item_type))
        if fields is None:
            return None
        return ir.Each(source, e.var.text, fields, expected.type, source.optional, e.span)

    def _expr_record(self, e: s.Record, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        if expected is None or expected.type.kind not in ("type", "entity"):
            what = _describe(expected.type) if expected is not None else "this place"
            return self._mismatch(e.span, f"a record `{{ ... }}` needs a record field, but {what} is not one")
        fields = self._block(e.body, self._symbols.record_fields(expected.type), scope, e.span, str(expected.type))
        if fields is None:
            return None
        return ir.Record(fields, expected.type, False, e.span)

    def _expr_call(self, e: s.Call, scope: Scope, expected: Expected | None) -> ir.Expr | None:
        name = e.func.text
        builtin = BUILTINS.get(name)
        if builtin is None:
            self._d.report("E0208", f"unknown function `{name}`", e.func.span,
                           help=did_you_mean(name, BUILTINS) or f"the functions are {', '.join(sorted(BUILTINS))}")
            for arg in e.args:
                self._expr(arg, scope, None)
            return None
        args = [self._expr(arg, scope, expected if builtin.passes_expected else None) for arg in e.args]
        if any(a is None for a in args):
            return None
        outcome = builtin.check(args)
        if isinstance(outcome, str):
            return self._mismatch(e.span, f"`{name}`: {outcome}")
        result_type, optional = outcome
        return ir.Call(name, tuple(args), result_type, optional, e.span)

    def _mismatch(self, span: Span, message: str, help_text: str | None = None) -> None:
        self._d.report("E0301", message, span, help=help_text)
        return None


_NO_MATCH = object()


def _exposed_ops(system: ir.System, entity: str) -> set[str]:
    return {op for expose in system.exposes if expose.entity == entity for op in expose.operations}


def _children(node: ir.Expr):
    if isinstance(node, ir.Get):
        return [node.obj] if node.obj is not None else []
    if isinstance(node, ir.Call):
        return list(node.args)
    if isinstance(node, ir.Unary):
        return [node.operand]
    if isinstance(node, (ir.Binary, ir.Coalesce)):
        return [node.left, node.right]
    if isinstance(node, ir.If):
        return [node.cond, node.then, node.otherwise]
    if isinstance(node, ir.Match):
        return [node.subject] + [a.expr for a in node.arms] + ([node.default] if node.default else [])
    if isinstance(node, ir.Each):
        return [node.source] + [a.expr for a in node.fields]
    if isinstance(node, ir.Record):
        return [a.expr for a in node.fields]
    return []


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


_FALLBACKS = {"string": '""', "int": "0", "decimal": "0", "float": "0.0", "bool": "false"}


def _fallback_example(t: ir.TypeRef) -> str:
    if t.kind in _FALLBACKS:
        return _FALLBACKS[t.kind]
    if t.kind == "list":
        return "[]"
    return "<a value>"


def _describe(t: ir.TypeRef) -> str:
    if t.kind == "null":
        return "`null`"
    if t.kind == "enum":
        return f"enum `{t.ref}`"
    return f"`{t}`"


def _conversion_help(src: ir.TypeRef, dst: ir.TypeRef) -> str | None:
    if dst.kind == "string" and src.kind in NUMERIC | {"bool", "enum"}:
        return "convert it with to_string(...)" + (" (its wire value), or translate it with `match`"
                                                   if src.kind == "enum" else "")
    if dst.kind in ("email", "url", "uuid") and src.kind == "string":
        return f"a plain string is not {'an' if dst.kind[0] in 'aeiou' else 'a'} {dst.kind}; read it from " \
               f"a field of type {dst.kind}"
    if dst.kind == "int" and src.kind in ("string", "decimal", "float"):
        return "convert it with to_int(...)"
    if dst.kind == "decimal" and src.kind in ("string", "float"):
        return "convert it with to_decimal(...)"
    if dst.kind == "string" and src.kind in ("date", "datetime"):
        return 'format it with format_datetime(..., "%Y-%m-%d")'
    if dst.kind == "list" and src.kind == "list" and dst.item.kind in ("type", "entity"):
        return "map the items with `each ... as x { ... }`"
    return None


# ---------------------------------------------------------------- cron

_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                  "dec")),
                ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_CRON_ITEM = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?\Z")


def cron_problem(expression: str) -> str | None:
    """Why a cron expression is not one Kubernetes CronJobs run (standard 5 fields), or None."""
    fields = expression.split()
    if len(fields) != 5:
        return f"it has {len(fields)} fields, not 5"
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS):
        for item in text.lower().split(","):
            match = _CRON_ITEM.match(item)
            if match is None:
                return f"the {what} field {text!r} uses syntax Kubernetes does not accept"
            base, step = match.group(1), match.group(2)
            if step is not None and int(step) == 0:
                return f"the {what} field {text!r} has a zero step"
            if base == "*":
                continue
            bounds = []
            for part in base.split("-"):
                if part.isdigit() and part.isascii():
                    number = int(part)
                elif part in names:
                    number = names.index(part) + (1 if what == "month" else 0)
                else:
                    return f"the {what} field {text!r} is not `*`, a number, a range or a name"
                if not low <= number <= high:
                    return f"the {what} field {text!r} is outside {low}-{high}"
                bounds.append(number)
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                return f"the {what} field {text!r} has a range that runs backwards"
    return None

