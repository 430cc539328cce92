"""Names derived from declarations, shared by the checker and the targets.

`operation_id` is the one place the operationIds of exposed operations are
made: the checker uses it to find duplicates (E0202), the OpenAPI target to
write them, so the two can never disagree.
"""
from __future__ import annotations

import re

OPERATION_VERBS = {"list": "list", "get": "get", "create": "create", "update": "update",
                   "patch": "patch", "delete": "delete"}

# Whole words (the last word of a CamelCase name) with an irregular plural.
_IRREGULAR = {
    "person": "people", "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "goose": "geese", "foot": "feet", "tooth": "teeth", "ox": "oxen", "datum": "data",
    "medium": "media", "criterion": "criteria", "phenomenon": "phenomena", "index": "indices",
    "matrix": "matrices", "vertex": "vertices", "appendix": "appendices", "analysis": "analyses",
    "basis": "bases", "crisis": "crises", "diagnosis": "diagnoses", "thesis": "theses",
    "hypothesis": "hypotheses", "synopsis": "synopses", "axis": "axes",
    "leaf": "leaves", "knife": "knives", "life": "lives", "wife": "wives", "half": "halves",
    "shelf": "shelves", "wolf": "wolves", "thief": "thieves", "calf": "calves", "loaf": "loaves",
    "hero": "heroes", "potato": "potatoes", "tomato": "tomatoes", "echo": "echoes", "veto": "vetoes",
    "quiz": "quizzes",
}
# Words whose plural is the word itself.
_UNCOUNTABLE = frozenset({
    "data", "metadata", "information", "equipment", "news", "series", "species", "feedback",
    "software", "hardware", "inventory", "staff", "personnel", "sheep", "fish", "deer",
    "aircraft", "analytics", "evidence", "audio", "traffic", "research", "advice",
})
_LAST_WORD = re.compile(r"(?:[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+)$")


def _plural_word(word: str) -> str:
    """The plural of one lower-case word."""
    if word in _UNCOUNTABLE:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("ss", "us", "is", "as", "os", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("s"):
        return word  # already a plural: Settings, Details, Metrics
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def plural(name: str) -> str:
    """The English plural of a name, CamelCase-aware: its last word is pluralised.

    Customer -> Customers, Category -> Categories, Address -> Addresses,
    Status -> Statuses, SalesPerson -> SalesPeople, JournalEntry -> JournalEntries,
    ticket_fact -> ticket_facts, Metadata -> Metadata.
    """
    if not name:
        return name
    match = _LAST_WORD.search(name)
    if match is None:  # ends in a digit run after an underscore, or similar
        return name + "s"
    last = match.group(0)
    head = name[: match.start()]
    if last.isupper() and len(last) > 1:  # an acronym: API -> APIs, SKU -> SKUs
        return name + ("es" if last.endswith(("S", "X", "Z", "CH", "SH")) else "s")
    return head + _match_case(last, _plural_word(last.lower()))


pluralize = plural


def operation_id(kind: str, entity: str) -> str:
    """`listCustomers`, `getCustomer`, ...: the operationId of an exposed operation.

    `kind` is one of list, get, create, update, patch, delete; `entity` is the
    entity's bare name. Only `list` takes the plural.
    """
    noun = plural(entity) if kind == "list" else entity
    return OPERATION_VERBS[kind] + noun[:1].upper() + noun[1:]
