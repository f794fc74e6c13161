"""Where the shipped presets live, and the built-in default experiment."""

from __future__ import annotations

from pathlib import Path

from .engine.spec import Spec

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PRESETS = RESOURCES / "presets"


def preset_paths() -> list[Path]:
    """Every shipped preset: default first, then methods' presets, then their smoke versions."""
    paths = sorted(PRESETS.glob("*.toml"))
    return sorted(paths, key=lambda p: (p.stem != "default", p.stem.startswith("smoke-"), p.stem))


def preset_description(path: Path) -> str:
    """The first comment line of a preset, which says what it is."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def default_spec() -> Spec:
    return Spec.load(str(PRESETS / "default.toml"))
