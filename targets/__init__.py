"""Output targets: each turns the IR into artifacts under its own folder.

A target has a name, a JSON Schema for its options (validated before it
emits; `[targets.<name>]` in integc.toml), and `emit(project, options,
diagnostics) -> list[Artifact]`. Problems are reported into `diagnostics`,
never raised. Third-party targets register through the `integc.targets`
entry-point group, whose objects follow the same protocol.

A target may also offer `units(project, options) -> list[Unit]`: its output
cut into parts that depend only on the IR values each names as its
`inputs`. The build then emits the units in parallel (both cores) and keeps
each unit's output between builds, keyed by a digest of its inputs, so
changing one system re-emits only the units whose inputs changed. `emit`
must give exactly the units' artifacts and diagnostics, in unit order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Protocol

from integc.diagnostics import Diagnostics

if TYPE_CHECKING:  # annotations only: the writer imports this module for Artifact, and a build
    from integc.ir import Project  # that changed nothing never needs the IR's classes

ENTRY_POINT_GROUP = "integc.targets"

# Built-in targets, by name -> module; each module exposes `TARGET`.
_BUILTIN = {
    "openapi": "integc.targets.openapi",
    "jsonschema": "integc.targets.jsonschema",
    "mapping": "integc.targets.mapping",
    "k8s": "integc.targets.k8s",
    "graph": "integc.targets.graph",
}


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str  # relative to the output folder, POSIX separators
    content: bytes


@dataclass(frozen=True, slots=True)
class Unit:
    """A part of a target's output: `emit` reads nothing of the project but `inputs`.

    `key` names the unit within its target (unique, stable across builds).
    `inputs` holds the IR values (frozen dataclasses, strings, numbers,
    tuples) the output depends on; they are digested (pickled, IR classes
    by their field values), so they must include everything the unit
    reads, spans too (diagnostics point at them). A unit whose
    `inputs` is None is emitted every time.
    """
    key: str
    inputs: tuple | None
    emit: Callable[[Diagnostics], list[Artifact]]


def emit_units(units: list[Unit], diagnostics: Diagnostics) -> list[Artifact]:
    """Every unit's artifacts, in order, in this process (what `emit` does for a target with units)."""
    return [artifact for unit in units for artifact in unit.emit(diagnostics)]


class Target(Protocol):
    """A target: `name`, `options_schema`, `emit`; optionally `units(project, options)` (its
    output in parts, emitted on every core and reused when their inputs did not change) and
    `prepare()` (load what `emit` will need, such as validators: the build calls it early, in
    the process its workers are forked from, so that it happens once; it must not fail) and
    `use_helper(helper)` (a build that will emit few units may instead run every `prepare` in
    an integc.workers.Helper, forked before it compiles: `emit` then sends the costly calls
    there with `helper.call(function, *args)`, doing the work itself when that gives None,
    until `prepare` runs in this process after all)."""
    name: str
    options_schema: dict

    def emit(self, project: Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]: ...


def builtin_names() -> tuple[str, ...]:
    return tuple(_BUILTIN)


def load_targets() -> dict[str, Target]:
    """Every available target by name: built-ins first, then plugins."""
    targets: dict[str, Target] = {}
    for name, module_name in _BUILTIN.items():
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a built-in not shipped in this build
        targets[name] = module.TARGET
    for entry in plugin_entry_points():
        if entry.name not in targets:
            targets[entry.name] = entry.load()
    return targets


@lru_cache(maxsize=1)
def plugin_entry_points() -> tuple:
    """The installed target plugins' entry points, read once a process (reading them scans every
    installed distribution: ~8 ms). A process that builds again and again (`--watch`, a build
    server) serves one installation: its compiler fingerprint is read once too."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))
