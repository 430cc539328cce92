"""The run-time semantics of docs/mapping.md, operator by operator, with hand-computed answers.

One project with one flow per case (compiled once); each test maps a record
and compares the output with the answer worked out by hand.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mapping_support as ms  # noqa: E402

HEADER = """
package t.semantics version "1.0.0"

enum Tier { free, pro = "PRO", enterprise }
enum Plan { basic, premium }

type Item { sku: string  qty: int @range(0, 1000)  price: decimal  note: string? }
type OutItem { sku: string  total: decimal  note: string? }
type Addr { city: string  country: string = "GB" }

system s {
  owner "a@b.example"
  base_url "https://s.example"
  auth none
  handles pii
  entity Src {
    id: string @key
    s: string
    s_opt: string?
    i: int
    i_opt: int?
    d: decimal
    d_opt: decimal?
    f: float
    b: bool
    b_opt: bool?
    dt: datetime
    dt_opt: datetime?
    day: date
    tier: Tier = free
    tier_opt: Tier?
    tags: list<string>
    items: list<Item>
    items_opt: list<Item>?
    addr: Addr?
    mail: email
    u: uuid
    meta: map<string>
    dur: duration
    dur_opt: duration?
    nums: list<int>?
    j: json?
  }
  expose Src at "/src" { list, get }
}

system t {
  owner "a@b.example"
  base_url "https://t.example"
  auth none
  handles pii
  entity Out {
    id: string @key
    s1: string?
    s2: string?
    s3: string?
    s4: string?
    i1: int?
    i2: int?
    d1: decimal?
    d2: decimal?
    d3: decimal?
    f1: float?
    f2: float?
    b1: bool?
    b2: bool?
    b3: bool?
    dt1: datetime?
    tier1: Tier?
    plan: Plan?
    l1: list<string>?
    items: list<OutItem>?
    addr: Addr?
    short: string? @length(1, 5)
    code: string? @pattern("^[A-Z]+$")
    small: int? @range(0, 10)
    count: int = 0
    j1: json?
    u1: uuid?
    mail: email?
    dl: list<decimal>?
    fl: list<float>?
  }
  expose Out at "/out" { create, update }
}
"""

FLOWS = {
    # strings
    "case_lower_upper_trim": 's1 = lower(s)  s2 = upper(s)  s3 = trim(s)  s4 = upper("straße")',
    "case_concat": 's1 = concat("<", s, ">")  s2 = concat(s_opt, "!")  s3 = "a" + "b" + to_string(i)',
    "case_substring": 's1 = substring("abcdef", 1, 3)  s2 = substring("abcdef", 2)  s3 = substring("abc", 1, 99)'
                      '  s4 = substring("abcdef", -2)',
    "case_replace": 's1 = replace("a-b-c", "-", "")  s2 = replace("abc", "", "x")  s3 = replace(s, "o", s_opt ?? "0")',
    "case_split_join": 'l1 = split("a,b,,c", ",")  s1 = join(tags, "+")  s2 = join(split("abc", ""), ".")',
    "case_len": 'i1 = len(s)  i2 = len(tags)  small = len(s_opt)',
    "case_to_string": 's1 = to_string(i)  s2 = to_string(d)  s3 = to_string(f)  s4 = to_string(b)',
    "case_to_string_more": 's1 = to_string(tier)  s2 = to_string(dt)  s3 = to_string(day)  s4 = to_string(dur)',
    "case_to_int": 'i1 = to_int("12.7")  i2 = to_int(d)  small = to_int(s)',
    "case_to_int_neg": 'i1 = to_int("-3.9")  i2 = to_int(f)',
    "case_to_decimal": 'd1 = to_decimal("1e2")  d2 = to_decimal(f)  d3 = to_decimal(i)',
    "case_to_float": 'f1 = to_float(" 2.25 ")  f2 = to_float(d)',
    "case_round": 'd1 = round(d, 1)  d2 = round(to_decimal("2.5"))  d3 = round(to_decimal("-2.5"))'
                  '  i1 = round(1234, -2)  f1 = round(f)',
    "case_abs": 'd1 = abs(to_decimal("-1.50"))  i1 = abs(-5)  f1 = abs(0.0 - f)',
    "case_now": 'dt1 = now()  s1 = format_datetime(now(), "%Y")',
    "case_format_datetime": 's1 = format_datetime(dt, "%Y-%m-%d %H:%M %z")  s2 = format_datetime(dt, "%a %d %B %Y")'
                            '  s3 = format_datetime(day, "%d/%m/%Y")  s4 = format_datetime(dt, "%j %I%p %:z %%")',
    "case_format_bad": 's1 = format_datetime(dt, "%Q")',
    "case_parse_datetime": 'dt1 = parse_datetime("13/05/2024 09:30", "%d/%m/%Y %H:%M")',
    "case_parse_datetime_offset": 'dt1 = parse_datetime(s, "%Y-%m-%d %H:%M %z")',
    "case_uuid5": 'u1 = uuid5("dns", "example.com")  s1 = to_string(uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8",'
                  ' "example.com"))  s2 = to_string(uuid5("example.com"))',
    "case_coalesce": 's1 = coalesce(s_opt, s)  s2 = coalesce(s_opt, to_string(i_opt))  s3 = coalesce(s_opt, "z")',
    # operators
    "case_int_arithmetic": 'i1 = i + 3 * 2  i2 = (i - 10) * 2  small = -i + 9',
    "case_decimal_arithmetic": 'd1 = to_decimal("0.1") + to_decimal("0.2")  d2 = d * i  d3 = i / 2',
    "case_division": 'd1 = 1 / 3  d2 = d / 4',
    "case_division_by_zero": 'd2 = d / (i - 7)',
    "case_float_arithmetic": 'f1 = f * 2  f2 = i / f',
    "case_compare": 'b1 = d == to_decimal("12.5")  b2 = dt < dt_opt  b3 = i >= 7',
    "case_compare_instants": 'b1 = dt == dt_opt  b2 = dt > dt_opt  b3 = to_string(day) < "2024-03-01"',
    "case_equal_absent": 'b1 = s_opt == "x"  b2 = s_opt == null  b3 = s_opt != null',
    "case_kleene": 'b1 = b_opt and false  b2 = b_opt or true  b3 = b_opt and true',
    "case_not": 'b1 = not b  b2 = not b_opt',
    "case_short_circuit": 'b1 = i != 0 and 10 / i > 1  b2 = i == 0 or 10 / i > 1',
    "case_if": 's1 = if b_opt then "yes" else "no"  s2 = if b then "yes" else "no"'
               '  d1 = if b then d else 0',
    "case_coalesce_op": 's1 = s_opt ?? "fallback"  s2 = addr.city ?? "nowhere"  s3 = addr.country ?? "??"',
    "case_match": 'plan = match tier { free -> "basic", _ -> "premium" }'
                  '  s1 = match tier_opt { free -> "F", _ -> "other" }'
                  '  s2 = match i { 7 -> "seven", _ -> "other" }'
                  '  s3 = match s { "x" -> "X", _ -> trim(s) }'
                  '  tier1 = match b { true -> "pro", false -> "free" }',
    "case_each": 'items = each items as it { sku = upper(it.sku)  total = it.price * it.qty  note = it.note }'
                 '  count = len(items)',
    "case_each_error": 'items = each items as it { sku = it.sku  total = it.price / (it.qty - 3) }',
    "case_each_absent": 'items = each items_opt as it { sku = it.sku  total = it.price }',
    "case_record": 'addr = { city = upper(s) }',
    "case_record_pass": 'addr = addr  tier1 = tier',
    "case_constraints": 'short = s  code = upper(trim(s))  small = i',
    "case_json": 'j1 = j  s1 = to_string(d)',
    "case_json_decimal": 'j1 = d',
    "case_email": 'mail = mail  s1 = lower(mail)',
    "case_only_id": 's1 = "constant"',
    "case_coalesce_three": 's1 = coalesce(s_opt, if b_opt then "yes" else to_string(i_opt), upper(s))'
                           '  d1 = coalesce(d_opt, d * 2)',
    "case_durations": 'b1 = dur < dur_opt  b2 = dur == dur_opt  b3 = dur_opt == null',
    "case_widen_lists": 'dl = nums  fl = nums',
    "case_negate": 'd1 = -d  d2 = -(d_opt ?? to_decimal("0"))  i1 = -i',
    "case_match_exprs": 's1 = match tier_opt { free -> upper(s), pro -> s_opt ?? "none", _ -> "e" }'
                        '  s2 = match i { 1 -> "one", 7 -> concat(s, "!"), _ -> to_string(i) }',
    "case_meta": 'j1 = meta',
}

BASE = {
    "id": "r1", "s": "  Hello World  ", "i": 7, "d": "12.50", "f": 2.5, "b": True,
    "dt": "2024-05-13T09:30:00+02:00", "day": "2024-02-29",
    "tags": ["a", "b", "c"],
    "items": [{"sku": "x-1", "qty": 2, "price": "1.25"}, {"sku": "y-2", "qty": 3, "price": "0.10", "note": "n"}],
    "mail": "Jane.Doe@Example.com", "u": "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", "meta": {"k": "v"},
    "dur": "PT15M",
}


def _project_text() -> str:
    flows = []
    for name, body in FLOWS.items():
        flows.append(f"flow {name} {{\n  from s.Src\n  to t.Out\n  trigger schedule every 1h\n"
                     f"  retry 1\n  map {{\n    id = id\n    {body}\n  }}\n}}\n")
    return HEADER + "\n".join(flows)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return ms.compile_text(tmp_path_factory.mktemp("semantics"), _project_text())


@pytest.fixture(scope="module")
def modules(project):
    cache = {}

    def get(flow):
        if flow not in cache:
            cache[flow] = ms.module_for(project, flow)
        return cache[flow]
    return get


@pytest.fixture
def run(modules):
    def run(flow, now=ms.NOW, **changes):
        record = {**BASE, **changes}
        for key, value in changes.items():
            if value is ABSENT:
                del record[key]
        out = modules(flow).map_record(record, now=now)
        assert out.pop("id") == record["id"]
        return out
    return run


@pytest.fixture
def fails(modules):
    def fails(flow, **changes):
        module = modules(flow)
        record = {**BASE, **changes}
        for key, value in changes.items():
            if value is ABSENT:
                del record[key]
        with pytest.raises(module.MappingError) as caught:
            module.map_record(record, now=ms.NOW)
        return str(caught.value)
    return fails


ABSENT = object()


# ---------------------------------------------------------------- strings

def test_lower_upper_trim(run):
    assert run("case_lower_upper_trim") == {"s1": "  hello world  ", "s2": "  HELLO WORLD  ", "s3": "Hello World",
                                            "s4": "STRASSE"}


def test_concat_and_plus(run):
    assert run("case_concat") == {"s1": "<  Hello World  >", "s3": "ab7"}
    assert run("case_concat", s_opt="y") == {"s1": "<  Hello World  >", "s2": "y!", "s3": "ab7"}


def test_substring_is_python_slicing_on_code_points(run):
    assert run("case_substring") == {"s1": "bc", "s2": "cdef", "s3": "bc", "s4": "ef"}


def test_replace(run):
    assert run("case_replace") == {"s1": "abc", "s2": "abc", "s3": "  Hell0 W0rld  "}
    assert run("case_replace", s_opt="°")["s3"] == "  Hell° W°rld  "


def test_split_and_join(run):
    assert run("case_split_join") == {"l1": ["a", "b", "", "c"], "s1": "a+b+c", "s2": "a.b.c"}


def test_len(run):
    assert run("case_len") == {"i1": 15, "i2": 3}
    assert run("case_len", s_opt="\U0001F600é") == {"i1": 15, "i2": 3, "small": 2}


def test_to_string(run):
    assert run("case_to_string") == {"s1": "7", "s2": "12.50", "s3": "2.5", "s4": "true"}
    assert run("case_to_string", b=False, f=3)["s4"] == "false"
    assert run("case_to_string", f=3)["s3"] == "3.0"
    assert run("case_to_string_more") == {"s1": "free", "s2": "2024-05-13T09:30:00+02:00", "s3": "2024-02-29",
                                          "s4": "PT15M"}
    assert run("case_to_string_more", tier="PRO")["s1"] == "PRO"


def test_to_int_truncates_toward_zero(run, fails):
    assert run("case_to_int", s="5") == {"i1": 12, "i2": 12, "small": 5}
    assert run("case_to_int_neg", f=-2.9) == {"i1": -3, "i2": -2}
    assert fails("case_to_int") == "case_to_int: target.small: to_int: '  Hello World  ' is not a number"


def test_to_decimal(run):
    assert run("case_to_decimal") == {"d1": "100", "d2": "2.5", "d3": "7"}
    assert run("case_to_decimal", f=0.1)["d2"] == "0.1"  # the shortest repr, not the binary expansion


def test_to_float(run):
    assert run("case_to_float") == {"f1": 2.25, "f2": 12.5}


def test_round_is_half_away_from_zero(run):
    assert run("case_round", d="12.25") == {"d1": "12.3", "d2": "3", "d3": "-3", "i1": 1200, "f1": 3.0}
    assert run("case_round", d="2.675")["d1"] == "2.7"


def test_abs(run):
    assert run("case_abs") == {"d1": "1.50", "i1": 5, "f1": 2.5}


def test_now_is_one_instant_per_record(run):
    assert run("case_now") == {"dt1": ms.NOW, "s1": "2024"}
    live = run("case_now", now=None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", live["dt1"])


def test_format_datetime_keeps_the_values_offset(run, fails):
    assert run("case_format_datetime") == {"s1": "2024-05-13 09:30 +0200", "s2": "Mon 13 May 2024",
                                           "s3": "29/02/2024", "s4": "134 09AM +02:00 %"}
    assert run("case_format_datetime", dt="0005-01-02T23:00:00Z")["s1"] == "0005-01-02 23:00 +0000"
    assert "unsupported directive '%Q'" in fails("case_format_bad")


def test_parse_datetime(run, fails):
    assert run("case_parse_datetime") == {"dt1": "2024-05-13T09:30:00Z"}
    assert run("case_parse_datetime_offset", s="2024-05-13 09:30 +0130") == {"dt1": "2024-05-13T09:30:00+01:30"}
    assert fails("case_parse_datetime_offset") == (
        "case_parse_datetime_offset: target.dt1: parse_datetime: '  Hello World  ' does not match the format "
        "'%Y-%m-%d %H:%M %z'")


def test_uuid5(run):
    assert run("case_uuid5") == {"u1": "cfbff0d1-9375-5685-968c-48ce8b15ae17",
                                 "s1": "cfbff0d1-9375-5685-968c-48ce8b15ae17",
                                 "s2": "a5cf6e8e-4cfa-5f31-a804-6de6d1245e26"}


def test_coalesce(run):
    assert run("case_coalesce") == {"s1": "  Hello World  ", "s3": "z"}
    assert run("case_coalesce", i_opt=4) == {"s1": "  Hello World  ", "s2": "4", "s3": "z"}
    assert run("case_coalesce", s_opt="y") == {"s1": "y", "s2": "y", "s3": "y"}


# ---------------------------------------------------------------- operators

def test_int_arithmetic(run):
    assert run("case_int_arithmetic") == {"i1": 13, "i2": -6, "small": 2}


def test_decimal_arithmetic_is_exact(run):
    assert run("case_decimal_arithmetic") == {"d1": "0.3", "d2": "87.50", "d3": "3.5"}


def test_coalesce_of_three_computes_only_what_it_needs(run):
    # b_opt absent: the `if` takes else, to_string(i_opt) of an absent i_opt is absent, so upper(s)
    assert run("case_coalesce_three") == {"s1": "  HELLO WORLD  ", "d1": "25.00"}
    assert run("case_coalesce_three", i_opt=4) == {"s1": "4", "d1": "25.00"}
    assert run("case_coalesce_three", b_opt=True, d_opt="1.5") == {"s1": "yes", "d1": "1.5"}
    assert run("case_coalesce_three", s_opt="x", d="0.25") == {"s1": "x", "d1": "0.50"}


def test_durations_compare_by_length(run, fails):
    assert run("case_durations", dur_opt="PT1H") == {"b1": True, "b2": False, "b3": False}
    assert run("case_durations", dur_opt="PT900S") == {"b1": False, "b2": True, "b3": False}
    assert run("case_durations") == {"b2": False, "b3": True}
    assert "years and months have no fixed length" in fails("case_durations", dur_opt="P1M")


def test_lists_of_ints_widen_item_by_item(run):
    assert run("case_widen_lists", nums=[1, -2]) == {"dl": ["1", "-2"], "fl": [1.0, -2.0]}
    assert run("case_widen_lists") == {}


def test_negation(run):
    assert run("case_negate") == {"d1": "-12.50", "d2": "0", "i1": -7}
    assert run("case_negate", d_opt="-0.5") == {"d1": "-12.50", "d2": "0.5", "i1": -7}


def test_match_with_computed_arms(run):
    assert run("case_match_exprs") == {"s2": "  Hello World  !"}
    assert run("case_match_exprs", tier_opt="free", i=1) == {"s1": "  HELLO WORLD  ", "s2": "one"}
    assert run("case_match_exprs", tier_opt="PRO", i=3) == {"s1": "none", "s2": "3"}
    assert run("case_match_exprs", tier_opt="enterprise") == {"s1": "e", "s2": "  Hello World  !"}


def test_a_computed_zero_has_no_sign(run):
    assert run("case_decimal_arithmetic", d="-1.50", i=0) == {"d1": "0.3", "d2": "0.00", "d3": "0"}
    assert run("case_json", d="-0.00")["s1"] == "-0.00"  # passed through as it came


def test_division_gives_28_significant_digits_like_python(run):
    from decimal import Decimal
    assert run("case_division") == {"d1": "0.3333333333333333333333333333", "d2": "3.125"}
    assert run("case_division")["d1"] == str(Decimal(1) / Decimal(3))


def test_division_by_zero_names_the_target_field(fails):
    assert fails("case_division_by_zero") == "case_division_by_zero: target.d2: division by zero"


def test_float_arithmetic(run):
    assert run("case_float_arithmetic") == {"f1": 5.0, "f2": 2.8}


def test_comparisons(run):
    assert run("case_compare") == {"b1": True, "b3": True}
    assert run("case_compare", dt_opt="2024-05-13T08:00:00Z") == {"b1": True, "b2": True, "b3": True}


def test_datetimes_compare_as_instants(run):
    assert run("case_compare_instants", dt_opt="2024-05-13T07:30:00Z") == {"b1": True, "b2": False, "b3": True}
    assert run("case_compare_instants", dt_opt="2024-05-13T07:29:59.5Z") == {"b1": False, "b2": True, "b3": True}


def test_equality_treats_absent_as_a_value(run):
    assert run("case_equal_absent") == {"b1": False, "b2": True, "b3": False}
    assert run("case_equal_absent", s_opt="x") == {"b1": True, "b2": False, "b3": True}
    assert run("case_equal_absent", s_opt=None) == {"b1": False, "b2": True, "b3": False}


def test_and_or_are_absent_when_an_operand_is(run):
    assert run("case_kleene") == {}
    assert run("case_kleene", b_opt=True) == {"b1": False, "b2": True, "b3": True}
    assert run("case_kleene", b_opt=False) == {"b1": False, "b2": True, "b3": False}


def test_and_or_short_circuit_when_the_right_side_cannot_be_absent(run):
    # `i != 0 and 10 / i > 1` never divides by zero
    assert run("case_short_circuit", i=0) == {"b1": False, "b2": True}
    assert run("case_short_circuit", i=5) == {"b1": True, "b2": True}
    assert run("case_short_circuit", i=20) == {"b1": False, "b2": False}


def test_not(run):
    assert run("case_not") == {"b1": False}
    assert run("case_not", b_opt=False) == {"b1": False, "b2": True}


def test_if_with_an_absent_condition_takes_else(run):
    assert run("case_if") == {"s1": "no", "s2": "yes", "d1": "12.50"}
    assert run("case_if", b_opt=True, b=False) == {"s1": "yes", "s2": "no", "d1": "0"}


def test_coalescing_operator(run):
    assert run("case_coalesce_op") == {"s1": "fallback", "s2": "nowhere", "s3": "??"}
    assert run("case_coalesce_op", addr={"city": "Paris"}, s_opt="") == {"s1": "", "s2": "Paris", "s3": "GB"}


def test_match(run):
    assert run("case_match") == {"plan": "basic", "s2": "seven", "s3": "Hello World", "tier1": "PRO"}
    assert run("case_match", tier="PRO", tier_opt="free", i=8, s="x", b=False) == {
        "plan": "premium", "s1": "F", "s2": "other", "s3": "X", "tier1": "free"}
    assert run("case_match", tier_opt="enterprise")["s1"] == "other"


def test_each(run):
    assert run("case_each") == {"items": [{"sku": "X-1", "total": "2.50"},
                                          {"sku": "Y-2", "total": "0.30", "note": "n"}], "count": 2}
    assert run("case_each", items=[]) == {"items": [], "count": 0}


def test_an_error_inside_each_names_the_item(fails):
    message = fails("case_each_error", items=[{"sku": "a", "qty": 4, "price": "1"},
                                              {"sku": "b", "qty": 3, "price": "1"}])
    assert message == "case_each_error: target.items[1].total: division by zero"


def test_each_over_an_absent_list_is_absent(run):
    assert run("case_each_absent") == {}
    assert run("case_each_absent", items_opt=[{"sku": "a", "qty": 1, "price": "9.99"}]) == {
        "items": [{"sku": "a", "total": "9.99"}]}


def test_record_literal_and_pass_through_apply_defaults(run):
    assert run("case_record") == {"addr": {"city": "  HELLO WORLD  "}}
    assert run("case_record_pass") == {"tier1": "free"}
    assert run("case_record_pass", addr={"city": "X", "extra": 1, "country": "FR"}) == {
        "addr": {"city": "X", "country": "FR"}, "tier1": "free"}
    assert run("case_record_pass", addr={"city": "X"})["addr"] == {"city": "X", "country": "GB"}


def test_target_constraints_are_checked(run, fails):
    assert run("case_constraints", s="ABC") == {"short": "ABC", "code": "ABC", "small": 7}
    assert fails("case_constraints") == "case_constraints: target.short: length 15 is outside 1..5"
    assert fails("case_constraints", s="ab c") == (
        "case_constraints: target.code: 'AB C' does not match the pattern '^[A-Z]+$'")
    assert fails("case_constraints", s="ABC", i=11) == "case_constraints: target.small: 11 is outside 0..10"


def test_json_fields(run):
    assert run("case_json", j={"any": [1, None, "x"]}) == {"j1": {"any": [1, None, "x"]}, "s1": "12.50"}
    assert run("case_json_decimal") == {"j1": "12.50"}


def test_email_passes_through_unchanged(run):
    assert run("case_email") == {"mail": "Jane.Doe@Example.com", "s1": "jane.doe@example.com"}


# ---------------------------------------------------------------- absent, null and defaults

def test_absent_and_null_optional_fields_are_omitted(run):
    assert run("case_lower_upper_trim", s_opt=None, d_opt=None) == run("case_lower_upper_trim")
    assert "s2" not in run("case_concat", s_opt=None)


def test_unassigned_target_fields_are_omitted_even_with_a_default(run):
    assert "count" not in run("case_only_id")


# ---------------------------------------------------------------- input checking

@pytest.mark.parametrize("changes,message", [
    ({"s": 42}, "source.s: expected string, got int"),
    ({"s": ABSENT}, "source.s: missing required field"),
    ({"s": None}, "source.s: expected string, got null"),
    ({"s": ["x"]}, "source.s: expected string, got list"),
    ({"tier": "gold"}, "source.tier: expected one of 'free', 'PRO', 'enterprise', got 'gold'"),
    ({"tier": "pro"}, "source.tier: expected one of 'free', 'PRO', 'enterprise', got 'pro'"),
    ({"tier": None}, "source.tier: expected one of 'free', 'PRO', 'enterprise', got null"),
    ({"dt": "2024-05-13 09:30:00Z"}, "source.dt: expected datetime (RFC 3339, with an offset), "
                                     "got '2024-05-13 09:30:00Z'"),
    ({"dt": "2024-05-13T09:30:00"}, "source.dt: expected datetime (RFC 3339, with an offset), "
                                    "got '2024-05-13T09:30:00'"),
    ({"dt": "2024-02-30T00:00:00Z"}, "source.dt: expected datetime (RFC 3339, with an offset), "
                                     "got '2024-02-30T00:00:00Z'"),
    ({"dt": 1715585400}, "source.dt: expected datetime (RFC 3339, with an offset), got int"),
    ({"day": "2023-02-29"}, "source.day: expected date (YYYY-MM-DD), got '2023-02-29'"),
    ({"d": 12.5}, 'source.d: expected decimal string (e.g. "12.50"), got float'),
    ({"d": "1e5"}, "source.d: expected decimal string (e.g. \"12.50\"), got '1e5'"),
    ({"d": " 12"}, "source.d: expected decimal string (e.g. \"12.50\"), got ' 12'"),
    ({"i": True}, "source.i: expected int, got bool"),
    ({"i": "7"}, "source.i: expected int, got string"),
    ({"i": 7.5}, "source.i: expected int, got float"),
    ({"i": 2 ** 70}, "source.i: 1180591620717411303424 is outside the 64-bit integer range"),
    ({"f": float("nan")}, "source.f: expected a finite number, got nan"),
    ({"f": "2.5"}, "source.f: expected number, got string"),
    ({"b": 1}, "source.b: expected bool, got int"),
    ({"items": [{"sku": "a", "qty": 1, "price": "1"}, {"sku": "b", "qty": "3", "price": "1"}]},
     "source.items[1].qty: expected int, got string"),
    ({"items": [{"sku": "a", "qty": 1001, "price": "1"}]}, "source.items[0].qty: 1001 is outside 0..1000"),
    ({"items": [{"sku": "a", "price": "1"}]}, "source.items[0].qty: missing required field"),
    ({"items": "a,b"}, "source.items: expected list, got string"),
    ({"addr": "x"}, "source.addr: expected object, got string"),
    ({"addr": {"country": "FR"}}, "source.addr.city: missing required field"),
])
def test_bad_input_is_rejected_with_the_field_path(fails, changes, message):
    flow = "case_everything"  # reads every field these changes touch
    assert fails(flow, **changes) == f"{flow}: {message}"


def test_nested_paths_for_lists_and_maps(modules):
    module = modules("case_split_join")
    with pytest.raises(module.MappingError, match=r"^case_split_join: source.tags\[1\]: expected string, got int$"):
        module.map_record({**BASE, "tags": ["a", 2]})
    module = modules("case_json")
    record = {**BASE, "j": {"a": 1}}
    assert module.map_record(record)["j1"] == {"a": 1}


def test_a_map_entry_path_quotes_its_key(fails, run):
    assert run("case_meta") == {"j1": {"k": "v"}}
    assert fails("case_meta", meta={"k": "v", 'odd "key"': 1}) == (
        'case_meta: source.meta["odd \\"key\\""]: expected string, got int')


def test_only_fields_the_mapping_reads_are_checked(run):
    assert run("case_only_id", s=42, i="x", tags=None, extra={"unknown": True}) == {"s1": "constant"}


def test_numbers_that_json_may_write_either_way(run):
    assert run("case_to_string", i=7.0, f=3) == {"s1": "7", "s2": "12.50", "s3": "3.0", "s4": "true"}


def test_a_source_that_is_not_an_object(modules):
    module = modules("case_only_id")
    for bad, kind in (([], "list"), ("x", "string"), (None, "null"), (3, "int")):
        with pytest.raises(module.MappingError) as caught:
            module.map_record(bad)
        assert str(caught.value) == f"case_only_id: source: expected object, got {kind}"
        assert caught.value.path == "source" and caught.value.flow == "case_only_id"


def test_the_error_is_a_value_error_with_structured_fields(modules):
    module = modules("case_lower_upper_trim")
    with pytest.raises(ValueError) as caught:
        module.map_record({**BASE, "s": 1})
    assert (caught.value.flow, caught.value.path, caught.value.reason) == (
        "case_lower_upper_trim", "source.s", "expected string, got int")


FLOWS["case_everything"] = ("s1 = s  i1 = i  d1 = d  f1 = f  b1 = b  dt1 = dt  s2 = to_string(day)  tier1 = tier"
                            "  items = each items as it { sku = it.sku  total = it.price * it.qty }  addr = addr")


# ---------------------------------------------------------------- every case, on generated records

@pytest.mark.parametrize("flow", sorted(FLOWS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_case_maps_valid_records_to_valid_targets(project, modules, flow, data):
    module = modules(flow)
    record = data.draw(ms.entity_records(project, "s.Src"))
    try:
        out = module.map_record(record, now=ms.NOW)
    except module.MappingError as error:
        assert error.path.startswith("target."), str(error)
        assert "internal error" not in error.reason, str(error)
        return
    problems = list(ms.validator(module.TARGET_SCHEMA).iter_errors(out))
    assert not problems, problems[0].message
