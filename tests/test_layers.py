"""The layers of footfall/ hold: no import circle, and no module imports one from a higher layer.

Every module is parsed (not imported): its module-level and function-level imports, TYPE_CHECKING
imports, modules named by string to importlib.import_module / __import__, and any string that is a
module's name ("footfall.app:create_app" for uvicorn, "footfall.ingest.writer_process" for `python -m`)
all count. The layer
of a module is the first entry of LAYERS its path starts with; docs/architecture.md shows the same
table. A module may import its own layer or any lower one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "footfall"

# (layer, path prefixes under footfall/), lowest first. Two webhook modules sit below their package:
# the retry policy is pure (config.py reads its settings) and the destination check is what the
# webhook body decoder (wire/webhooks.py) refuses a URL with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("domain", ("domain/", "analytics/", "refusals.py", "failures.py", "clock.py", "ids.py", "timefmt.py",
                "gc_tuning.py", "__init__.py", "webhooks/policy.py")),
    ("wire/store", ("wire/", "store/", "config.py", "observability/", "webhooks/ssrf.py")),
    ("ingest/segments", ("ingest/", "segments/", "webhooks/")),
    ("api/console", ("api/", "console/", "transfer/", "serving.py")),
    ("app/cli", ("app.py", "cli.py", "cli_segments.py")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    rel = module.removeprefix("footfall").lstrip(".").replace(".", "/")
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix.endswith("/") and (rel + "/").startswith(prefix):
                return index
            if not prefix.endswith("/") and (rel + ".py" == prefix or (prefix == "__init__.py" and rel == "")):
                return index
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add it to LAYERS")


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}
# A string that is exactly a module's dotted name, or "module:attribute": how uvicorn, subprocess argv
# (`python -m module`) and entry points name a module to load. Counted only when it names a real module.
STRING_NAMED = re.compile(r"^(footfall(?:\.\w+)+)(?::\w+)?$")


def resolve(name: str) -> str | None:
    """The footfall module an imported name is (a module, or a name inside a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
            if any(f"{base}.{a.name}" not in MODULES for a in node.names):
                names.append(base)  # a name defined in the module itself (not a submodule)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names = [arg.value]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = STRING_NAMED.match(node.value)  # "footfall.app:create_app" (uvicorn), "-m footfall.x" argv
            if named and named.group(1) in MODULES:
                names = [named.group(1)]
        for name in names:
            if name.startswith("footfall"):
                target = resolve(name)
                if target and target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in GRAPH.items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("source, expected", [
    ("from footfall.api import ingest\n", {"footfall.api.ingest"}),
    ("def f():\n    from footfall.store.db import connect\n", {"footfall.store.db"}),
    ("import importlib\nm = importlib.import_module('footfall.store.queries.paging')\n", {"footfall.store.queries.paging"}),
    ("import uvicorn\nuvicorn.run('footfall.app:create_app', factory=True)\n", {"footfall.app"}),
    ("argv = ['python', '-m', 'footfall.ingest.writer_process']\n", {"footfall.ingest.writer_process"}),
    ("log = 'footfall.access'\nkey = 'footfall.route'\n", set()),  # names that are no module
])
def test_imports_are_found_wherever_they_are(tmp_path, monkeypatch, source, expected):
    """The reader sees module-level, function-level and string-named imports alike."""
    monkeypatch.setitem(MODULES, "footfall.domain._probe", tmp_path / "probe.py")
    (tmp_path / "probe.py").write_text(source)
    assert imports_of("footfall.domain._probe") == expected
