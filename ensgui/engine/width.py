"""The width of a trained net's minimum as stored and shown: trace estimates with standard errors, and defaults."""

from __future__ import annotations

from dataclasses import dataclass

# PyHessian hessian.py `trace`: at most 100 probes, stop when the running mean moves by less than 1e-3 relative.
DEFAULT_MAX_ITER = 100
DEFAULT_TOL = 1e-3
# PyHessian's relative-change rule can stop by chance after a handful of probes (4 probes, 12% standard
# error, in our first study); widths compared across gaps need at least this many.
MIN_PROBES = 10
# methods.md 6, small scale: traces on a fixed subset of 2000 training objects.
DEFAULT_WIDTH_OBJECTS = 2000


@dataclass(frozen=True)
class TraceEstimate:
    """Mean of the Monte Carlo samples, its standard error (nan below two samples) and the sample count."""

    mean: float
    stderr: float
    samples: int


@dataclass(frozen=True)
class WidthResult:
    """Traces of plain cross-entropy at the trained weights, each with its standard error, on `objects` objects."""

    hessian: TraceEstimate
    fisher_true: TraceEstimate
    fisher_empirical: TraceEstimate
    objects: int
