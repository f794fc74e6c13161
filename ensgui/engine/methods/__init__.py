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


def curve_order_note(spec: Spec | None) -> str:
    """How a run's metric-vs-size curves were formed: training order (boosting) or random member orders."""
    try:
        ordered = spec is not None and method_for(spec).ordered_rows()
    except Exception:  # noqa: BLE001 - a stored spec whose method is no longer registered keeps the usual note
        ordered = False
    return "the first k in training order" if ordered else "mean ± std over random member orders"


__all__ = ["METHODS", "Method", "curve_order_note", "method_for"]
