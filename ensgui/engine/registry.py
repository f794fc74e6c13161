"""Registries: named entries (datasets, models, methods, schedules, optimisers) with parameter schemas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from .errors import SpecError
from .schema import Choice, Schema, check_params, short_repr

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing: how to build it, and the parameters it takes."""

    name: str
    factory: T
    schema: Schema
    title: str
    help: str
    # Facts about the entry that the GUI shows before anything is built (e.g. "batchnorm" for a model).
    traits: frozenset[str] = frozenset()


class Registry(Generic[T]):
    """A name -> entry table; the GUI lists it and builds a form per entry from its schema."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, schema: Schema = (), title: str = "", help: str = "",
                 traits: tuple[str, ...] = ()) -> Callable[[T], T]:
        def add(factory: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, factory, tuple(schema), title or name, help, frozenset(traits))
            return factory

        return add

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise SpecError(
                f"{self.kind} {short_repr(name)} is unknown; choose one of: {', '.join(self._entries)}"
            ) from None

    def unregister(self, name: str) -> None:
        """Remove an entry (a test's toy method, say); unknown names are ignored."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def choice(self, values: Mapping[str, Any], where: str) -> Choice:
        """Check a spec section {name = ..., <params>} against the named entry's schema."""
        values = dict(values)
        if "name" not in values:
            raise SpecError(f"{where}.name is missing; choose one of: {', '.join(self._entries)}")
        name = values.pop("name")
        entry = self.get(str(name))
        return Choice(entry.name, check_params(entry.schema, values, where))
