"""Shared training machinery: every method trains its members through train_members, with its own hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from .data import DataSplits
from .events import Event, TrainingState
from .group_loop import GroupTraining, InFlight
from .members import MemberGroup
from .nets import build_model, has_batchnorm
from .plan import Plan
from .progress import ProgressTracker
from .task_state import TaskState

if TYPE_CHECKING:
    from .spec import Spec


class StoredRuns(Protocol):
    """What a method may read from finished run files; the engine has no h5py, so the caller provides it."""

    def final_weights(self, path: str) -> dict[str, np.ndarray]:
        """The weights of member 0's last snapshot."""
        ...

    def mean_train_margin(self, path: str) -> float:
        """The mean raw training margin of member 0."""
        ...


@dataclass(frozen=True)
class TrainHooks:
    """What a method adds to the shared loop; every field left at its default trains plain SGD-style members."""

    # Called after every optimiser step with (group, member ids, 0-based step, learning rate): Langevin noise, say.
    after_step: Callable[[MemberGroup, list[int], int, float], None] | None = None
    # Per-object gaps (N_train,) on the device, indexed by each batch's training indices and handed to the loss.
    object_gaps: torch.Tensor | None = None
    # Weights a member starts from instead of its random initialisation (FGE from a finished run).
    initial_weights: Mapping[int, Mapping[str, np.ndarray]] = field(default_factory=dict)
    # Random generators the hooks draw from (Langevin noise): checkpoints keep their states.
    generators: tuple[torch.Generator, ...] = ()


NO_HOOKS = TrainHooks()


@dataclass
class TrainContext:
    """What a method needs to train: the spec, data on the device, the plan, and the task's state."""

    spec: Spec
    data: DataSplits
    device: torch.device
    plan: Plan
    state: TaskState
    progress: ProgressTracker
    stored_runs: StoredRuns | None = None
    rows: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # ensemble row -> weights
    resume: TrainingState | None = None  # the checkpoint a resumed run continues from
    finished: set[int] = field(default_factory=set)  # members whose training has ended
    in_flight: dict[int, InFlight] = field(default_factory=dict)  # members stopped mid-training
    elapsed_before: float = 0.0  # seconds a resumed run had spent in earlier sessions

    def trained_before(self, member: int) -> bool:
        """Whether a resumed run had started this member before it stopped: what the method set up for it then
        (a boosting round's gaps, say) is in the run file already and must not be stored twice."""
        return self.resume is not None and (member in self.resume.finished or member in self.resume.members)

    def elapsed(self) -> float:
        """Seconds this run has spent, over all its sessions."""
        return self.elapsed_before + self.progress.elapsed()

    def emit(self, event: Event) -> None:
        self.state.emit(event)

    def log(self, text: str) -> None:
        self.state.log(text)

    def check_stop(self) -> None:
        self.state.check_stop()

    def build_model(self, member: int, weights: Mapping[str, np.ndarray] | None = None,
                    trained: bool = False) -> nn.Module:
        """The spec's net for a member on the device (see nets.build_model)."""
        return build_model(self.spec, self.data.input_shape, self.data.num_classes, member, weights,
                           trained).to(self.device)


def can_vectorize(model: nn.Module) -> bool:
    return not has_batchnorm(model)


def train_members(ctx: TrainContext, members: list[int], index_sets: list[np.ndarray], vectorize: bool,
                  hooks: TrainHooks = NO_HOOKS) -> None:
    """Train the members on their own training objects, as one vectorised group or one after another.

    A resumed run skips the members that had finished and continues the group in flight from its checkpoint.
    """
    probe = ctx.build_model(members[0])
    if vectorize and not can_vectorize(probe):
        ctx.log("this model has BatchNorm, which vmap cannot train: members train one after another")
        vectorize = False
    groups = [members] if vectorize else [[m] for m in members]
    for group_members in groups:
        resume = ctx.resume
        if resume is not None and tuple(group_members) != resume.members and set(group_members) <= ctx.finished:
            continue  # trained before the run stopped: its rows were read back from the run file
        sets = [index_sets[members.index(m)] for m in group_members]
        training = GroupTraining(ctx, group_members, sets, vectorize, hooks)
        if resume is not None and tuple(group_members) == resume.members:
            training.restore(resume)
        training.run()
        ctx.finished.update(group_members)


def train_on_all_data(ctx: TrainContext, members: int, vectorize: bool, hooks: TrainHooks = NO_HOOKS) -> None:
    """Independent members that each see the whole training subset (in their own order)."""
    everything = np.arange(len(ctx.data.train_y))
    train_members(ctx, list(range(members)), [everything] * members, vectorize, hooks)
