"""Run one generated mapping module under an audit hook: it may only map.

    python -I -S run_mapping.py MODULE.py RECORDS.json

Isolated mode (-I -S): no site-packages, no user paths, no PYTHON* variables,
so the module gets the standard library only. The standard-library modules
the mapping imports are imported first; then the hook is armed, the module's
code is executed and `map_record` is called on each record. After arming,
any audit event outside ALLOWED (opening a file, importing a module that was
not imported yet, exec/compile, os.system, subprocess, sockets, ctypes,
environment or file-system changes...) is a violation: the process prints it
and exits 99 at once.

Prints one JSON line: {"results": [...], "events": [...]}, each result either
{"record": ...} or {"mapping_error": "..."} (MappingError is how a mapping
refuses a record), and the sorted names of the audit events seen while armed.
"""
import json
import os
import sys

# Audit events a pure mapping may raise while it runs.
ALLOWED = {"object.__getattr__", "object.__setattr__", "object.__delattr__", "sys._getframe",
           "code.__new__", "function.__new__"}
_ARMED = False
_SEEN = set()
_OWN_CODE = None  # the module's own code object: executing it is the one exec allowed


def _hook(event, args):
    if not _ARMED:
        return
    if event == "exec" and args and args[0] is _OWN_CODE:
        return
    _SEEN.add(event)
    if event in ALLOWED:
        return
    sys.__stdout__.write(json.dumps({"violation": event, "args": repr(args)[:300]}) + "\n")
    sys.__stdout__.flush()
    os._exit(99)


def main():
    global _ARMED, _OWN_CODE
    module_path, records_path = sys.argv[1], sys.argv[2]
    with open(module_path, encoding="utf-8") as handle:
        source = handle.read()
    with open(records_path, encoding="utf-8") as handle:
        records = json.load(handle)
    # The standard-library modules the generated code imports at its top level.
    for line in source.splitlines():
        words = line.split()
        if line.startswith("import ") and len(words) > 1:
            __import__(words[1].rstrip(","))
        elif line.startswith("from ") and len(words) > 1:
            __import__(words[1])
    code = _OWN_CODE = compile(source, module_path, "exec")
    namespace = {"__name__": "integc_mapping_under_test", "__file__": module_path, "__builtins__": __builtins__}
    sys.addaudithook(_hook)
    _ARMED = True
    exec(code, namespace)  # noqa: S102 - the point of the test: run the module, watched
    results = []
    for record in records:
        try:
            results.append({"record": namespace["map_record"](record, now="2024-01-02T03:04:05Z")})
        except namespace["MappingError"] as error:
            results.append({"mapping_error": str(error)})
    schemas = {"source": namespace.get("SOURCE_SCHEMA"), "target": namespace.get("TARGET_SCHEMA")}
    _ARMED = False
    sys.stdout.write(json.dumps({"results": results, "events": sorted(_SEEN), "schemas": schemas,
                                 "flow": namespace.get("FLOW"), "description": namespace.get("DESCRIPTION")},
                                ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
