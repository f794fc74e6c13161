"""Ensembling methods: one module per method, each a registry entry with its parameter schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import METHODS, Method

# Importing the modules registers their methods, in the order the GUI lists them.
from . import single, deep_ensemble, bagging, swag, dropout, snapshot, fge, csgld  # noqa: E402,F401
from . import gap_boosting  # noqa: E402,F401

if TYPE_CHECKING:
    from ..spec import Spec


def method_for(spec: Spec) -> Method:
    """The spec's method, ready to plan and train."""
    return METHODS.get(spec.method.name).factory(spec)


__all__ = ["METHODS", "Method", "method_for"]
