"""Parameter schemas: typed, bounded, documented fields from which specs are checked and forms built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import SpecError


@dataclass(frozen=True)
class Param:
    """One field of a registry entry: its type, default, allowed values and help text."""

    name: str
    kind: type  # int, float, str or bool
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[Any, ...] | None = None
    label: str | None = None
    log_scale: bool = False  # a hint for the GUI spin box (learning rates, weight decay)
    run_file: bool = False  # a hint for the GUI: the text is the path of a stored run file (a Browse button)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and tooltips."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "text"}[self.kind]
        parts = []
        if self.minimum is not None:
            parts.append(("> " if self.exclusive_minimum else ">= ") + _fmt(self.minimum))
        if self.maximum is not None:
            parts.append("<= " + _fmt(self.maximum))
        return kind + (" " + " and ".join(parts) if parts else "")

    def check(self, value: Any, where: str) -> Any:
        """Return the value converted to this field's type, or raise SpecError naming the problem."""
        problem = f"{where}.{self.name} = {short_repr(value)} is invalid: must be {self.allowed()} ({self.help})"
        if self.kind is bool:
            if not isinstance(value, bool):
                raise SpecError(problem)
            converted: Any = value
        elif self.kind is int:
            # TOML's inf and nan are floats too; int() of them would raise instead of answering.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value != int(value):
                raise SpecError(problem)
            converted = int(value)
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpecError(problem)
            converted = float(value)
        else:
            if not isinstance(value, str):
                raise SpecError(problem)
            converted = value
        if self.choices is not None and converted not in self.choices:
            raise SpecError(problem)
        if self.minimum is not None:
            if converted < self.minimum or (self.exclusive_minimum and converted == self.minimum):
                raise SpecError(problem)
        if self.maximum is not None and converted > self.maximum:
            raise SpecError(problem)
        return converted


Schema = tuple[Param, ...]


def short_repr(value: Any, limit: int = 80) -> str:
    """repr(value) cut to limit characters, so that a message about a huge value stays one readable line."""
    if isinstance(value, bool):
        return "true" if value else "false"  # as the spec file writes it
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def check_params(schema: Schema, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate values against a schema, fill defaults, and reject unknown keys."""
    known = {p.name: p for p in schema}
    unknown = sorted(set(values) - set(known))
    if unknown:
        allowed = ", ".join(known) or "no parameters"
        raise SpecError(f"{where}: unknown parameter {unknown[0]!r}; allowed here: {allowed}")
    return {p.name: p.check(values[p.name], where) if p.name in values else p.default for p in schema}


def defaults(schema: Schema) -> dict[str, Any]:
    """The default value of every field."""
    return {p.name: p.default for p in schema}


@dataclass(frozen=True)
class Choice:
    """A registry entry picked by name, with its checked parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]
