"""design.md's layers, checked: who may import what, no import cycle, and torch only where nets run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ensgui"
QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path: Path) -> set[str]:
    """Every module a file imports when it runs, at module level or inside functions (not under TYPE_CHECKING),
    with relative imports resolved; `from pkg import name` gives pkg and pkg.name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit_node(other)
                continue
            visit_node(child)

    def visit_node(child: ast.AST) -> None:
        if isinstance(child, ast.Import):
            found.update(alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                module = ".".join(base + ([child.module] if child.module else []))
            else:
                module = child.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in child.names)
        visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def sources() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """ensgui module -> the ensgui modules it makes Python execute (a package's __init__ included)."""
    modules = sources()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imported in imported_names(path):
            if imported not in modules:
                continue
            edges.add(imported)
            parts = imported.split(".")
            # Importing a.b.c runs a.b's __init__ first, unless the importer is inside a.b already.
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in modules and not name.startswith(parent + "."):
                    edges.add(parent)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def top_level_imports(folder: Path) -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): {n.split(".")[0] for n in imported_names(p)} for p in folder.rglob("*.py")}


@pytest.mark.parametrize("layer, forbidden", [("engine", QT + ("h5py",)), ("storage", QT + ("torch",)),
                                              ("tasks", QT)])
def test_layer_sources_do_not_import_forbidden_packages(layer, forbidden):
    offenders = {f: sorted(n & set(forbidden)) for f, n in top_level_imports(PACKAGE / layer).items()
                 if n & set(forbidden)}
    assert offenders == {}


def test_storage_keeps_persistence_only():
    """Storage never runs long work: it imports neither the runner nor the tasks that train and measure."""
    offenders = {name: sorted(i for i in imported_names(path)
                              if i.startswith(("ensgui.engine.runner", "ensgui.tasks", "ensgui.views")))
                 for name, path in sources().items() if name.startswith("ensgui.storage")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_engine_and_storage_know_nothing_above_them():
    above = ("ensgui.tasks", "ensgui.views", "ensgui.app", "ensgui.cli")
    offenders = {name: sorted(i for i in imported_names(path) if i.startswith(above))
                 for name, path in sources().items() if name.startswith(("ensgui.engine", "ensgui.storage"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycle_counting_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_only_views_and_app_import_qt():
    outside = {f: n for f, n in top_level_imports(PACKAGE).items()
               if not f.startswith("views/") and f != "app.py" and n & set(QT)}
    assert outside == {}


def test_importing_engine_storage_and_tasks_loads_no_qt():
    code = (
        "import sys, ensgui.engine.runner, ensgui.engine.spec, ensgui.engine.evaluation, ensgui.engine.methods\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'h5py')], 'engine'\n"
        "import ensgui.storage.writer, ensgui.storage.reader, ensgui.storage.workspace, ensgui.storage.analysis\n"
        "import ensgui.storage.sweep_store, ensgui.tasks.run, ensgui.tasks.sweep, ensgui.tasks.interpolation\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')], 'storage, tasks'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_specs_storage_and_the_window_need_no_torch(tmp_path):
    """torch loads where nets run (a task in a worker), so validating specs, reading runs and showing the window
    never wait for it."""
    code = (
        "import sys, glob, tempfile, pathlib\n"
        "from ensgui.engine.spec import Spec\n"
        "for p in glob.glob('resources/presets/*.toml'): Spec.load(p)\n"
        "import ensgui.storage.reader, ensgui.storage.writer, ensgui.storage.sweep_store, ensgui.storage.analysis\n"
        "assert 'torch' not in sys.modules, 'specs or storage'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from ensgui.app import create_window\n"
        f"window = create_window(pathlib.Path({str(tmp_path)!r}))\n"
        "window.show(); app.processEvents()\n"
        "assert 'torch' not in sys.modules, 'window'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent,
                   env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
