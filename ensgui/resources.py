"""Where the shipped presets live, and the built-in default experiment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .engine.spec import Spec

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PRESETS = RESOURCES / "presets"


def preset_paths() -> list[Path]:
    """Every shipped preset: default first, then methods' presets, then their smoke versions."""
    paths = sorted(PRESETS.glob("*.toml"))
    return sorted(paths, key=lambda p: (p.stem != "default", p.stem.startswith("smoke-"), p.stem))


# The Presets menu's sections, in menu order; a preset names its own with a "# menu: <key>" line.
MENU_GROUPS = {
    "independent": "Independently trained members",
    "one_run": "From one training run",
    "sequential": "Trained one after another",
}
SMOKE_PREFIX = "smoke-"


@dataclass(frozen=True)
class Preset:
    """A shipped experiment as the Presets menu lists it."""

    path: Path
    title: str  # the method's title ("Deep ensemble"), or "Default experiment"
    description: str  # the file's first comment line
    group: str  # a key of MENU_GROUPS, "" for the default experiment
    quick: bool  # a smoke version that runs in seconds


def preset_description(path: Path) -> str:
    """The first comment line of a preset, which says what it is."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _menu_group(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# menu:"):
            return line.split(":", 1)[1].strip()
    return ""


def presets() -> list[Preset]:
    """Every shipped preset with its menu title, description and section, in preset_paths' order."""
    from .engine.methods import METHODS

    found = []
    for path in preset_paths():
        title = "Default experiment" if path.stem == "default" else METHODS.get(Spec.load(str(path)).method.name).title
        found.append(Preset(path, title, preset_description(path), _menu_group(path), path.stem.startswith(SMOKE_PREFIX)))
    return found


def default_spec() -> Spec:
    return Spec.load(str(PRESETS / "default.toml"))
