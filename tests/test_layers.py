"""design.md's dependency rule: the engine imports neither Qt nor h5py, storage imports no Qt."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ensgui"
QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Top-level module names each file imports, module-level or inside functions."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(PACKAGE))] = names
    return found


@pytest.mark.parametrize("layer, forbidden", [("engine", QT + ("h5py",)), ("storage", QT)])
def test_layer_sources_do_not_import_forbidden_packages(layer, forbidden):
    offenders = {f: sorted(n & set(forbidden)) for f, n in imported_modules(PACKAGE / layer).items()
                 if n & set(forbidden)}
    assert offenders == {}


def test_importing_engine_and_storage_loads_no_qt():
    code = (
        "import sys, ensgui.engine.runner, ensgui.engine.spec, ensgui.engine.evaluation, ensgui.engine.methods\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'h5py')], 'engine'\n"
        "import ensgui.storage.writer, ensgui.storage.reader, ensgui.storage.workspace\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')], 'storage'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_views_and_app_import_qt():
    outside = {f: n for f, n in imported_modules(PACKAGE).items()
               if not f.startswith("views/") and f != "app.py" and n & set(QT)}
    assert outside == {}
