"""Parameter-space interpolation between stored snapshots: the pairs, the λ grid and the curves it gives.

The losses along the line are computed by engine.line_losses (torch); this module is what the screens and
the run file need to know about an interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, TypeVar

import numpy as np

from .data import stratified_take

if TYPE_CHECKING:
    from .data import DataSplits

MIN_POINTS = 21  # the Snapshot Ensembles figure's resolution; coarser grids miss the barrier's shape
DEFAULT_POINTS = 21
MAX_POINTS = 401
# Every λ is a forward pass of both subsets, so their sizes set the cost. Until issue 12 the defaults were 5000
# training objects and the whole test split; these smaller ones (an option on the screen and the command line)
# are part of that speed-up, see docs/benchmarks.md "Interpolation".
DEFAULT_TRAIN_OBJECTS = 1000
DEFAULT_TEST_OBJECTS = 2000
_TEST_SUBSET_STREAM = 0x11E5  # the test subset's own random stream, apart from the splits' (data.load_splits)

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]


@dataclass(frozen=True, eq=False)
class InterpolationResult:
    """Losses and errors at every λ of θ(λ) = (1 − λ) θ_a + λ θ_b; all float64 arrays of one length."""

    lambdas: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray
    test_error: np.ndarray

    ARRAYS = ("lambdas", "train_loss", "train_error", "test_loss", "test_error")

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.ARRAYS}


class SnapshotRef(Protocol):
    """Anything that names a stored snapshot (the reader's SnapshotInfo is one)."""

    @property
    def member(self) -> int: ...

    @property
    def index(self) -> int: ...


S = TypeVar("S", bound=SnapshotRef)


def lambda_grid(points: int = DEFAULT_POINTS) -> np.ndarray:
    """λ = 0, 1/(n−1), ..., 1: n evenly spaced points, n >= MIN_POINTS."""
    if points < MIN_POINTS:
        raise ValueError(f"an interpolation grid needs at least {MIN_POINTS} points, got {points}")
    return np.linspace(0.0, 1.0, int(points))


def snapshot_name(member: int, index: int) -> str:
    """The name a snapshot has in row names and in the stored attributes, e.g. "member 0 snapshot 3"."""
    return f"member {int(member)} snapshot {int(index)}"


def pair_label(a: SnapshotRef, b: SnapshotRef) -> str:
    """A short, HDF5-safe name for the pair a → b, e.g. "m0s1-m0s3"."""
    return f"m{int(a.member)}s{int(a.index)}-m{int(b.member)}s{int(b.index)}"


def pairs_against_final(snapshots: Sequence[S]) -> list[tuple[S, S]]:
    """The Snapshot Ensembles figure's pairs: (earlier snapshot, final snapshot) of every member.

    λ = 0 is the earlier snapshot and λ = 1 the member's final one. A member with a single snapshot
    has nothing earlier and gives no pair.
    """
    by_member: dict[int, list[S]] = {}
    for snap in snapshots:
        by_member.setdefault(int(snap.member), []).append(snap)
    pairs: list[tuple[S, S]] = []
    for member in sorted(by_member):
        ordered = sorted(by_member[member], key=lambda s: int(s.index))
        final = ordered[-1]
        pairs.extend((earlier, final) for earlier in ordered[:-1])
    return pairs


def train_subset_size(data: DataSplits, train_objects: int) -> int:
    """How many training objects the losses use: the first train_objects, or all if there are fewer."""
    if train_objects < 1:
        raise ValueError(f"train_objects must be at least 1, got {train_objects}")
    return min(int(train_objects), len(data.train_y))


def pick_test_objects(test_y: np.ndarray, test_objects: int, seed: int) -> np.ndarray:
    """Positions in the test split the losses use: all of it in order, or a class-stratified sample of
    test_objects drawn with the spec seed (sorted), since a split may list its objects class by class."""
    if test_objects < 1:
        raise ValueError(f"test_objects must be at least 1, got {test_objects}")
    labels = np.asarray(test_y)
    if test_objects >= len(labels):
        return np.arange(len(labels))
    return np.sort(stratified_take(labels, int(test_objects), np.random.default_rng([int(seed), _TEST_SUBSET_STREAM])))


def objects_note(train_used: int, train_available: int, test_used: int, test_available: int, seed: int) -> str:
    """How the objects were chosen, in words, for the stored attributes."""
    train = (f"all {train_available} training objects" if train_used >= train_available else
             f"the first {train_used} of {train_available} training objects (the run's shuffled split)")
    test = (f"all {test_available} test objects" if test_used >= test_available else
            f"{test_used} of {test_available} test objects (class-stratified, seed {seed})")
    return f"{train}; {test}"
