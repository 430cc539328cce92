"""The manifests' YAML (targets/k8s.py dump_yaml, on targets/serialise.py): every string reads
back exactly, with YAML 1.1 (PyYAML, as kubectl) and YAML 1.2 (ruamel) readers; the literal
blocks written without the emitter are the emitter's bytes; comments sit above their items."""
from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from integc.targets import serialise
from integc.targets.k8s import dump_yaml, literal_block

RUAMEL = YAML(typ="safe", pure=True)

# What can go wrong in a block scalar: trailing spaces, tabs, CR, NEL, LS, PS, BOM, other
# controls, leading spaces or line breaks, text of line breaks only, no final line break.
_CHARS = ["a", "b", "#", ":", "-", "|", ">", "'", '"', "\\", " ", "  ", "\t", "\n", "\n", "\n\n", "\r", "\r\n",
          "\x85", "\u2028", "\u2029", "\ufeff", "\x00", "\x1b", "\x7f", "\xa0", "\u00e9", "\u202e", "\U0001F600",
          "---", "...", "- x", "key: value", "\ud7ff", "\ue000", "\ufffd"]
TEXT = st.one_of(st.lists(st.sampled_from(_CHARS), max_size=40).map("".join), st.text(max_size=60))
ASCII_TEXT = st.lists(st.sampled_from(["a", "b c", " ", "  ", "\t", "\n", "\n\n", "#", "\x7f", "\x01", "~",
                                       "x" * 50, "- y", "'", '"']), max_size=40).map("".join)


def configmap(text: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "annotations": {"kubernetes.io/description": text}},
            "data": {"flow.json": text, "mapping.py": text + "\n", "other": text}}


def read_back(content: bytes) -> tuple[object, object, object]:
    return (yaml.safe_load(content), yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)),
            RUAMEL.load(content))


@settings(max_examples=1500, deadline=None)
@given(TEXT)
def test_every_string_reads_back_exactly(text):
    doc = configmap(text)
    content = dump_yaml(doc, header=f"header {text}")
    for parsed in read_back(content):
        assert parsed == doc


@settings(max_examples=1500, deadline=None)
@given(ASCII_TEXT)
def test_literal_blocks_are_the_emitters_bytes(text):
    for value in (text, text + "\n", "x" + text + "\n"):
        doc = configmap(value)
        assert dump_yaml(doc) == dump_yaml(doc, shortcut=False) == serialise.dump_yaml(doc)
        block = literal_block(value)
        if block is not None:
            assert serialise.dump_yaml({"data": {"k": value}}) == b"data:\n  k: " + block


def test_the_shortcut_takes_generated_code():
    code = '"""Doc."""\n\nimport re\n\n\ndef f(x):\n    return {\'a\': x}  # "q"\n\n\n\nX = 1\n'
    assert literal_block(code) is not None
    assert literal_block(code.replace("X = 1", "X = 'é'")) is None  # not ASCII: the emitter decides
    assert literal_block(code + "\n") is None and literal_block(code[:-1]) is None
    assert literal_block(" " + code) is None and literal_block(code.replace("re\n", "re \n")) is None


def test_a_placeholder_in_the_data_does_not_confuse_the_shortcut():
    code = "x = 1\n"
    doc = {"kind": "ConfigMap", "metadata": {"name": "integc-literal-block-0"},
           "data": {"a.py": code, "b.py": "integc-literal-block-0", "c.py": code}}
    assert dump_yaml(doc) == serialise.dump_yaml(doc)
    for parsed in read_back(dump_yaml(doc)):
        assert parsed == doc


def test_comments_above_their_items():
    doc = {"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                             "ingress": [{"ports": [{"port": 1}]}],
                                             "egress": [{"to": [{"a": "- b"}], "ports": [{"port": 53}]},
                                                        {"to": [{"x": "multi\n  - line\n"}]}]}}
    comments = {"ingress": ["in"], "egress": ["first\nsecond", "third \u202e\x00"]}
    content = dump_yaml(doc, header="h", item_comments=comments)
    for parsed in read_back(content):
        assert parsed == doc
    lines = content.decode().splitlines()
    assert lines[lines.index("  ingress:") + 1] == "  # in"
    at = lines.index("  egress:")
    assert lines[at + 1:at + 4] == ["  # first", "  # second", "  - to:"]
    assert "  # third ??" in lines and lines[lines.index("  # third ??") + 1] == "  - to:"
    assert dump_yaml({**doc, "spec": {**doc["spec"], "ingress": []}}, item_comments={"ingress": [], "egress": [
        "a", "b"]}).decode().count("  # ") == 2


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3), st.lists(TEXT, min_size=1, max_size=3))
def test_comments_find_their_items_whatever_the_strings(labels, comments):
    """Any key or value inside a rule (a Kubernetes error, E0209, but still written) leaves the items findable."""
    rules = [{"to": [{"podSelector": {"matchLabels": dict(labels)}, "namespaceSelector": {"x": text}}],
              "ports": [{"protocol": "TCP", "port": 443}]} for text in comments]
    doc = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": comments[0]},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": rules}}
    content = dump_yaml(doc, header=comments[-1], item_comments={"ingress": [], "egress": comments})
    for parsed in read_back(content):
        assert parsed == doc
    lines = content.decode().splitlines()
    assert sum(line.startswith("  # ") for line in lines) == sum(c.count("\n") + 1 for c in comments)


def test_line_separators_in_lists_of_tuples_too():
    doc = {"kind": "Service", "metadata": {"annotations": {"d": "a\n\u2028b"}},
           "spec": {"ports": ({"port": 1},), "t": ("x", "y\n\u2029")}}
    content = dump_yaml(doc)
    assert b'"a\\n\\Lb"' in content and b'"y\\n\\P"' in content
    expected = {**doc, "spec": {"ports": [{"port": 1}], "t": ["x", "y\n\u2029"]}}
    for parsed in read_back(content):
        assert parsed == expected
