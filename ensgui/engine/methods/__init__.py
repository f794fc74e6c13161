"""Ensembling methods: one module per method, each a registry entry with its parameter schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from ..plan import Plan
from ..planning import MAX_ITERATIONS, iters_per_epoch
from .base import METHODS, Method

# Importing the modules registers their methods, in the order the GUI lists them.
from . import single, deep_ensemble, bagging, swag, dropout, snapshot, fge, csgld  # noqa: E402,F401
from . import gap_boosting  # noqa: E402,F401

if TYPE_CHECKING:
    from ..spec import Spec


def method_for(spec: Spec) -> Method:
    """The spec's method, ready to plan and train."""
    return METHODS.get(spec.method.name).factory(spec)


def plan_for(spec: Spec) -> Plan:
    """Ask the spec's method for its plan (a method may replace the schedule, e.g. cyclic ones)."""
    per_epoch = iters_per_epoch(spec)
    total = per_epoch * spec.budget["epochs"]
    if total > MAX_ITERATIONS:
        raise SpecError(f"budget.epochs = {spec.budget['epochs']} gives {total:,} iterations of batch "
                        f"{spec.budget['batch_size']}, more than {MAX_ITERATIONS:,}; lower budget.epochs or "
                        f"raise budget.batch_size")
    return method_for(spec).plan(per_epoch)


def curve_order_note(spec: Spec | None) -> str:
    """How a run's metric-vs-size curves were formed: training order (boosting) or random member orders."""
    try:
        ordered = spec is not None and method_for(spec).ordered_rows()
    except Exception:  # noqa: BLE001 - a stored spec whose method is no longer registered keeps the usual note
        ordered = False
    return "the first k in training order" if ordered else "mean ± std: k = 1 over every row, k ≥ 2 over random orders"


__all__ = ["METHODS", "Method", "curve_order_note", "method_for", "plan_for"]
