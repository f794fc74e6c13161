"""Gap sweeps: gap lists, the plan and spec of each point, and the gap taken from a run."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from .errors import EnsguiError, SpecError
from .losses import LOSSES
from .schema import Choice
from .spec import Spec

MEAN = "mean"  # the gap list's word for "the mean training margin of the sweep's gap-0 point"
EXAMPLE = "0, 0.5, 1, 2, 4, mean"

GapValue = float | str  # a gap >= 0, or MEAN


# ---------------------------------------------------------------- gap lists and plans


def _gap_limit() -> float:
    maximum = next(p.maximum for p in LOSSES.get("gap").schema if p.name == "gap")
    return float(maximum) if maximum is not None else math.inf


def parse_gap_values(text: str) -> tuple[GapValue, ...]:
    """Gap values from text such as "0, 0.5, 1, 2, 4, mean" (commas or spaces); SpecError naming a bad entry."""
    tokens = [t for t in re.split(r"[,;\s]+", text.strip()) if t]
    if not tokens:
        raise SpecError(f"the gap list is empty; give gaps >= 0 and optionally the word 'mean', e.g. \"{EXAMPLE}\"")
    limit = _gap_limit()
    values: list[GapValue] = []
    for token in tokens:
        if token.lower() == MEAN:
            value: GapValue = MEAN
        else:
            try:
                value = float(token)
            except ValueError:
                raise SpecError(f"gap {token!r} is not a number or the word 'mean'; write the gaps like "
                                f"\"{EXAMPLE}\"") from None
            if not math.isfinite(value) or not 0.0 <= value <= limit:
                raise SpecError(f"gap {token} is invalid: a gap must be a number >= 0 and <= {limit:g}")
            value = value + 0.0  # -0.0 is the same gap as 0
        if value in values:
            raise SpecError(f"gap {token} appears twice in the gap list; list every gap once")
        values.append(value)
    return tuple(values)


@dataclass(frozen=True)
class SweepPlan:
    """The points in training order: gap 0 comes first whenever 'mean' needs it, added if the list lacked it."""

    gaps: tuple[GapValue, ...]
    added_zero: bool


def plan_sweep(gaps: Sequence[GapValue]) -> SweepPlan:
    """Order the points so that 'mean' can be resolved from the gap-0 point when it is reached."""
    gaps = tuple(MEAN if isinstance(g, str) else float(g) for g in gaps)
    if not gaps:
        raise SpecError(f"the gap list is empty; give at least one gap, e.g. \"{EXAMPLE}\"")
    if any(isinstance(g, str) and g != MEAN for g in gaps):
        raise SpecError(f"a gap must be a number >= 0 or the word 'mean', got {gaps!r}")
    if MEAN not in gaps:
        return SweepPlan(gaps, added_zero=False)
    rest = tuple(g for g in gaps if g != 0.0)
    return SweepPlan((0.0, *rest), added_zero=0.0 not in gaps)


def point_label(gap: GapValue, resolved: float | None = None) -> str:
    """"0", "0.5", or "mean = 2.31" once the mean is known."""
    if isinstance(gap, str):
        return MEAN if resolved is None else f"{MEAN} = {resolved:.3g}"
    return f"{gap:g}"


def point_spec(spec: Spec, gap: float) -> Spec:
    """The spec of one point: [loss] becomes the gap loss with this gap (keeping the last-layer options) and the
    name gets the gap as a suffix."""
    loss = spec.loss.params
    values = spec.to_dict()
    values["loss"] = {"name": "gap", "gap": float(gap),
                      "freeze_last_layer": loss.get("freeze_last_layer", False),
                      "last_layer_norm": loss.get("last_layer_norm", 0.0)}
    values["name"] = f"{spec.name}-gap{float(gap):g}"
    return Spec.from_dict(values)


# ---------------------------------------------------------------- gap = mean margin of a run


def resolve_gap_from_run(spec: Spec, mean_train_margin: Callable[[str], float] | None) -> tuple[Spec, float | None]:
    """For [loss] gap with gap_from_run set: the spec to train (gap = that run's mean training margin of member 0,
    gap_from_run cleared) and the gap. Other specs come back unchanged with None."""
    source = spec.loss.params.get("gap_from_run", "") if spec.loss.name == "gap" else ""
    if not source:
        return spec, None
    where = f"loss.gap_from_run = {source!r}"
    if mean_train_margin is None:
        raise SpecError(f"{where} needs a caller that can read run files; run the spec from the GUI or with "
                        f"`ensgui run`, or leave loss.gap_from_run empty")
    if not Path(source).is_file():
        raise SpecError(f"{where}: no such run file; pick a finished run (.h5) or leave loss.gap_from_run empty")
    try:
        gap = float(mean_train_margin(source))
    except (EnsguiError, OSError) as exc:
        raise SpecError(f"{where} gives no gap: {exc}") from None
    if not math.isfinite(gap) or gap < 0:
        raise SpecError(f"{where}: the mean training margin of its member 0 is {gap:.4g}, but a gap must be >= 0; "
                        f"pick a run that classifies most training objects correctly")
    params = {**spec.loss.params, "gap": gap, "gap_from_run": ""}
    return replace(spec, loss=Choice(spec.loss.name, params)), gap
