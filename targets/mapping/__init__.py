"""The `mapping` target: every flow as a Python module that maps one record.

`mappings/<flow>.py` holds the flow's `map_record(source) -> dict`, its
`MappingError`, `SOURCE_SCHEMA` and `TARGET_SCHEMA`; it needs only the
standard library. `mappings/__init__.py` lists the flows (`FLOWS`, `load`).
The semantics are documented in docs/mapping.md.

While emitting, each flow whose source entity has a complete example (from
`@example` values and defaults) is run on it, and the result validated
against the target's schema: a failure is E0307.
"""
from __future__ import annotations

import functools
import hashlib
import keyword
import pprint
import re
import types
from typing import TYPE_CHECKING

from integc import __version__, ir
from integc.diagnostics import Diagnostics
from integc.targets import Artifact, Unit, emit_units
from integc.targets.mapping.codegen import FlowGenerator, GenerationError, py
from integc.targets.mapping.pretty import Pretty
from integc.targets.mapping.schemas import project_cache, release

if TYPE_CHECKING:
    import jinja2

__all__ = ["TARGET", "MappingTarget", "GenerationError", "load_module", "module_name", "module_source",
           "render_module", "render_registry"]

_PLAIN_MODULE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _pyblock(value: object, pretty: Pretty | None = None) -> str:
    """A larger JSON-like constant, pretty-printed as a Python literal (checked by `py` first).

    `pretty` keeps the checked values' texts for the build (schemas share parts between flows).
    """
    if pretty is None:
        py(value)
        return pprint.pformat(value, width=100, sort_dicts=False)
    return pretty.literal(value)


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The templates' environment, made (and Jinja2 imported) at the first render: a build whose
    mapping output is unchanged renders nothing."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("integc.targets.mapping", "."),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Python; every value goes through `py` instead
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        auto_reload=False,  # package files: loaded once, not looked at again on every render
    )
    env.filters["py"] = py
    env.filters["pyblock"] = _pyblock
    return env


def module_name(flow_name: str) -> str:
    """The flow's module (and file) name: the flow name when it is a plain identifier,
    otherwise a sanitised name with a hash of the real one (`flow_my_flow_1a2b3c4d`)."""
    if _PLAIN_MODULE.fullmatch(flow_name) and not keyword.iskeyword(flow_name):
        return flow_name
    slug = re.sub(r"[^A-Za-z0-9]+", "_", flow_name).strip("_")[:40]
    digest = hashlib.sha256(flow_name.encode("utf-8")).hexdigest()[:8]
    return f"flow_{slug}_{digest}" if slug else f"flow_{digest}"


def _flow(project: ir.Project, flow: ir.Flow | str) -> ir.Flow:
    if isinstance(flow, ir.Flow):
        return flow
    for candidate in project.flows:
        if candidate.name == flow:
            return candidate
    raise KeyError(flow)


def render_module(project: ir.Project, flow: ir.Flow | str) -> str:
    """The Python source of the flow's mapping module."""
    flow = _flow(project, flow)
    cache = project_cache(project)
    generated = FlowGenerator(project, flow).generate()
    return _environment().get_template("module.py.j2").render(
        version=__version__,
        flow=flow.name,
        source=flow.source,
        target=flow.target,
        description=flow.description,
        source_schema=cache.entity_schema(flow.source, write=False),
        target_schema=cache.entity_schema(flow.target, write=True),
        pretty=cache.pretty,
        constants=generated["constants"],
        functions=generated["functions"],
        body=generated["body"],
    )


def module_source(project: ir.Project, flow: ir.Flow | str) -> bytes:
    """render_module's text in UTF-8, made once per project and flow: the mapping target
    and the k8s target's bundles (targets/bundle.py) both need it."""
    flow = _flow(project, flow)
    modules = project_cache(project).modules
    hit = modules.get(id(flow))
    if hit is not None and hit[0] is flow:
        return hit[1]
    source = render_module(project, flow).encode("utf-8")
    modules[id(flow)] = (flow, source)
    return source


def render_registry(project: ir.Project) -> str:
    """`mappings/__init__.py`: FLOWS (flow name -> module name) and `load(flow)`."""
    flows = {flow.name: module_name(flow.name) for flow in project.flows}
    return _environment().get_template("registry.py.j2").render(
        version=__version__, package=project.package, package_version=project.version, flows=flows)


def load_module(source: str, name: str) -> types.ModuleType:
    """Execute a generated module's source into a fresh module object (not put in sys.modules)."""
    module = types.ModuleType(name)
    module.__file__ = f"<integc mapping {name}>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


class MappingTarget:
    name = "mapping"
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "check_examples": {
                "type": "boolean",
                "default": True,
                "description": "Map each flow's source example and validate the result (E0307).",
            },
        },
    }

    def emit(self, project: ir.Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]:
        return emit_units(self.units(project, options), diagnostics)

    def units(self, project: ir.Project, options: dict) -> list[Unit]:
        """One unit. Without flows it reads only the package's name and version (the registry), so
        a build reuses it while they are unchanged; with flows it reads the schemas and types the
        flows reach, and is emitted every time (inputs None)."""
        inputs = None if project.flows else (project.package, project.version, project.flows)
        return [Unit("mapping", inputs, functools.partial(self._emit, project, options))]

    def _emit(self, project: ir.Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]:
        artifacts: list[Artifact] = []
        checked: list[tuple[ir.Flow, str]] = []
        for flow in project.flows:  # two flows whose module names differ only in case: E0801 in build.py
            module = module_name(flow.name)
            try:
                source = module_source(project, flow)
            except GenerationError as error:
                diagnostics.report("E0001", f"cannot generate the mapping of flow `{flow.name}`: {error}",
                                   flow.origin)
                continue
            artifacts.append(Artifact(f"mappings/{module}.py", source))
            if options.get("check_examples", True):
                checked.append((flow, source))
        problems: dict[str, str] = {}
        if checked:  # one bounded child process maps every example (imported only then: it needs jsonschema)
            from integc.targets.mapping.testing import check_examples

            problems = check_examples(project, checked)
        for flow, _ in checked:
            problem = problems.get(flow.name)
            if problem is not None:
                diagnostics.report("E0307", f"{flow.name}: {problem}", flow.origin,
                                   help="fix the @example values of the source entity, or the mapping")
        artifacts.append(Artifact("mappings/__init__.py", render_registry(project).encode("utf-8")))
        release(project)  # the schemas' caches; the modules stay for the k8s target's bundles
        return artifacts


TARGET = MappingTarget()
