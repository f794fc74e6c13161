"""Parameter-space interpolation between two stored weight sets: losses and errors along θ(λ)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bn_update import update_batchnorm
from .data import DataSplits
from .errors import CancelledError
from .models import MODELS, has_batchnorm

if TYPE_CHECKING:
    from .spec import Spec

MIN_POINTS = 21  # the Snapshot Ensembles figure's resolution; coarser grids miss the barrier's shape
DEFAULT_POINTS = 21
DEFAULT_TRAIN_OBJECTS = 5000

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


def build_model(spec: Spec, data: DataSplits) -> nn.Module:
    """An empty net of the spec's architecture, shaped for the data; its initial weights are overwritten."""
    factory = MODELS.get(spec.model.name).factory
    # The random initialisation is thrown away; forking keeps it from shifting the caller's RNG stream.
    with torch.random.fork_rng(devices=[]):
        return factory(spec.model.params, data.input_shape, data.num_classes)


def _interpolated_states(model: nn.Module, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                         device: torch.device) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]],
                                                        dict[str, torch.Tensor]]:
    """Split the state into (a, b) tensor pairs to mix and tensors taken from a as they are."""
    expected = set(model.state_dict())
    for name, state in (("a", state_a), ("b", state_b)):
        if set(state) != expected:
            missing = sorted(expected - set(state))[:3]
            extra = sorted(set(state) - expected)[:3]
            raise ValueError(f"state {name} does not fit the spec's model (missing {missing}, unexpected {extra})")
    mixed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    fixed: dict[str, torch.Tensor] = {}
    for name in model.state_dict():
        a = torch.as_tensor(np.asarray(state_a[name])).to(device)
        b = torch.as_tensor(np.asarray(state_b[name])).to(device)
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {tuple(a.shape)} in a but {tuple(b.shape)} in b")
        # Counters such as BatchNorm's num_batches_tracked have no meaningful midpoint.
        if a.is_floating_point():
            mixed[name] = (a, b)
        else:
            fixed[name] = a
    return mixed, fixed


@torch.no_grad()
def evaluate_loss_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device,
                        should_stop: StopCheck) -> tuple[float, float]:
    """Mean cross-entropy and error rate of a net in eval mode (summed in float64)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(y), batch):
        if should_stop():
            raise CancelledError("interpolation cancelled by the user")
        xb = x[start:start + batch].to(device)
        yb = y[start:start + batch].to(device)
        logits = model(xb).double()
        total += F.cross_entropy(logits, yb, reduction="sum")
        wrong += (logits.argmax(-1) != yb).sum()
    n = max(len(y), 1)
    return float(total) / n, float(wrong) / n


def interpolate(spec: Spec, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                lambdas: Sequence[float] | np.ndarray, data: DataSplits, device: torch.device | str,
                progress: Progress | None = None, should_stop: StopCheck | None = None,
                train_objects: int = DEFAULT_TRAIN_OBJECTS) -> InterpolationResult:
    """Train loss, train error, test loss and test error of θ(λ) = (1 − λ) θ_a + λ θ_b at every λ.

    Floating-point parameters and buffers are mixed; integer buffers are taken from a. When the net has
    BatchNorm, its running statistics are recomputed at every λ (also at 0 and 1, so the curve is one
    consistent family) on the training objects the losses use. Those are the first train_objects of the
    training split, which load_splits already shuffled with the spec seed: a fixed random subset.
    progress(done, total) is called after every point; should_stop is checked between batches and
    raises CancelledError.
    """
    grid = np.asarray(lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("lambdas must be a non-empty 1-D sequence")
    device = torch.device(device)
    stop = should_stop or (lambda: False)
    model = build_model(spec, data).to(device)
    mixed, fixed = _interpolated_states(model, state_a, state_b, device)
    batchnorm = has_batchnorm(model)
    n_train = train_subset_size(data, train_objects)
    x_train, y_train = data.train_x[:n_train].to(device), data.train_y[:n_train].to(device)
    x_test, y_test = data.test_x.to(device), data.test_y.to(device)
    eval_batch = int(spec.evaluation["batch_size"])
    bn_batch = int(spec.budget["batch_size"])
    out = np.full((4, grid.size), np.nan)
    total = int(grid.size)
    if progress is not None:
        progress(0, total)
    for i, lam in enumerate(grid.tolist()):
        if stop():
            raise CancelledError("interpolation cancelled by the user")
        # (1 − λ) a + λ b rather than a + λ (b − a): λ = 0 and λ = 1 then give a and b bit for bit.
        state = {name: (1.0 - lam) * a + lam * b for name, (a, b) in mixed.items()}
        state.update(fixed)
        model.load_state_dict(state)
        if batchnorm:
            update_batchnorm(model, x_train, bn_batch)
        out[0, i], out[1, i] = evaluate_loss_error(model, x_train, y_train, eval_batch, device, stop)
        out[2, i], out[3, i] = evaluate_loss_error(model, x_test, y_test, eval_batch, device, stop)
        if progress is not None:
            progress(i + 1, total)
    return InterpolationResult(grid.copy(), out[0], out[1], out[2], out[3])


__all__ = ["DEFAULT_POINTS", "DEFAULT_TRAIN_OBJECTS", "InterpolationResult", "MIN_POINTS", "SnapshotRef",
           "build_model", "evaluate_loss_error", "interpolate", "lambda_grid", "pair_label", "pairs_against_final",
           "snapshot_name", "train_subset_size"]
