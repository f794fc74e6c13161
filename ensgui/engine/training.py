"""Shared training machinery: every method trains its members through train_members, with its own hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from .data import DataSplits
from .errors import DivergedError
from .events import EpochEnded, Event, Scalar, SnapshotTaken
from .losses import loss_for, per_object_cross_entropy
from .margin_tracking import LIVE_TRAIN_STREAM, LIVE_VAL_STREAM, group_margins, live_subset, measured_events
from .members import MemberGroup, SingleMember, StackedMembers
from .nets import build_model, has_batchnorm
from .optim import OPTIMIZERS
from .plan import Plan
from .progress import ProgressTracker
from .seeding import ORDER, derive_seed
from .task_state import TaskState

if TYPE_CHECKING:
    from .spec import Spec

LOG_POINTS_PER_EPOCH = 25


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


def cross_entropy_per_member(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each member: logits (K, B, C), targets (K, B) -> (K,)."""
    return per_object_cross_entropy(logits, targets).mean(1)


def make_group(models: list[nn.Module], vectorize: bool) -> MemberGroup:
    return StackedMembers(models) if vectorize else SingleMember(models[0])


def can_vectorize(model: nn.Module) -> bool:
    return not has_batchnorm(model)


def train_members(ctx: TrainContext, members: list[int], index_sets: list[np.ndarray], vectorize: bool,
                  hooks: TrainHooks = NO_HOOKS) -> None:
    """Train the members on their own training objects, as one vectorised group or one after another."""
    probe = ctx.build_model(members[0])
    if vectorize and not can_vectorize(probe):
        ctx.log("this model has BatchNorm, which vmap cannot train: members train one after another")
        vectorize = False
    groups = [members] if vectorize else [[m] for m in members]
    for group_members in groups:
        sets = [index_sets[members.index(m)] for m in group_members]
        _train_group(ctx, group_members, sets, vectorize, hooks)


def _train_group(ctx: TrainContext, ids: list[int], index_sets: list[np.ndarray], vectorize: bool,
                 hooks: TrainHooks) -> None:
    plan, spec, data = ctx.plan, ctx.spec, ctx.data
    group = make_group([ctx.build_model(m, hooks.initial_weights.get(m)) for m in ids], vectorize)
    # group.parameters() holds only trainable tensors, so a frozen last layer gets no steps and no weight decay.
    optimizer = OPTIMIZERS.get(spec.optimizer.name).factory(spec.optimizer.params, group.parameters())
    loss_function = loss_for(spec.loss)
    batch_size = spec.budget["batch_size"]
    orders = [torch.Generator().manual_seed(derive_seed(spec.seed, m, ORDER)) for m in ids]
    sets = [torch.from_numpy(np.asarray(s, dtype=np.int64)) for s in index_sets]
    snapshot_at = {int(s): j for j, s in enumerate(plan.snapshots)}
    log_every = max(1, plan.iters_per_epoch // LOG_POINTS_PER_EPOCH)
    k = len(ids)
    window_loss = torch.zeros(k, device=ctx.device)
    window_steps = 0
    step = 0
    for epoch in range(plan.epochs):
        group.train(True)
        perms = [s[torch.randperm(len(s), generator=g)].to(ctx.device) for s, g in zip(sets, orders)]
        correct = torch.zeros(k, device=ctx.device)
        seen = 0
        for b in range(plan.iters_per_epoch):
            ctx.check_stop()
            lr = float(plan.lr[step])
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            batch = torch.stack([p[b * batch_size:(b + 1) * batch_size] for p in perms])
            x, y = data.train_x[batch], data.train_y[batch]
            logits = group.forward(x)
            gaps = None if hooks.object_gaps is None else hooks.object_gaps[batch]
            losses = loss_function(logits, y, gaps).mean(1)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            if hooks.after_step is not None:
                hooks.after_step(group, ids, step, lr)
            detached = losses.detach()
            window_loss += detached
            window_steps += 1
            correct += (logits.detach().argmax(-1) == y).sum(1)
            seen += y.shape[1]
            fraction = epoch + (b + 1) / plan.iters_per_epoch
            if (step + 1) % log_every == 0 or b == plan.iters_per_epoch - 1:
                _check_finite(window_loss, ids, step, epoch, lr)
                for i, m in enumerate(ids):
                    ctx.emit(Scalar(m, "train_loss", step, fraction, float(window_loss[i] / window_steps)))
                    ctx.emit(Scalar(m, "lr", step, fraction, lr))
                window_loss.zero_()
                window_steps = 0
            if step in snapshot_at:
                _take_snapshots(ctx, group, ids, snapshot_at[step], step, epoch + 1)
            step += 1
            ctx.progress.advance(ids, 1, epoch=epoch + 1)
        _end_epoch(ctx, group, ids, epoch, step - 1, correct / max(seen, 1))


def _check_finite(window_loss: torch.Tensor, ids: list[int], step: int, epoch: int, lr: float) -> None:
    bad = ~torch.isfinite(window_loss)
    if bool(bad.any()):
        member = ids[int(bad.nonzero()[0, 0])]
        raise DivergedError(
            f"member {member} diverged at iteration {step + 1} (epoch {epoch + 1}, learning rate {lr:.3g}): "
            f"the training loss is not finite; lower optimizer.lr or choose a decaying schedule"
        )


def _take_snapshots(ctx: TrainContext, group: MemberGroup, ids: list[int], index: int, step: int, epoch: int) -> None:
    per_member = len(ctx.plan.snapshots)
    for i, m in enumerate(ids):
        state = group.state(i)
        row = m * per_member + index
        ctx.rows[row] = state
        ctx.emit(SnapshotTaken(m, index, row, epoch, step, float(ctx.plan.lr[step]), state))


@torch.no_grad()
def _end_epoch(ctx: TrainContext, group: MemberGroup, ids: list[int], epoch: int, step: int,
               train_acc: torch.Tensor) -> None:
    data, evaluation = ctx.data, ctx.spec.evaluation
    for i, m in enumerate(ids):
        ctx.emit(Scalar(m, "train_acc", step, epoch + 1, float(train_acc[i])))
    live = evaluation["live_margins"]
    group.train(False)
    if live:
        _live_train_margins(ctx, group, ids, epoch + 1, live)
    if len(data.val_y):
        val_keep = live_subset(ctx.spec.seed, len(data.val_y), live, LIVE_VAL_STREAM) if live else None
        losses, hits, margins = _evaluate_group(group, data.val_x, data.val_y, evaluation["batch_size"], val_keep)
        for i, m in enumerate(ids):
            ctx.emit(Scalar(m, "val_loss", step, epoch + 1, float(losses[i])))
            ctx.emit(Scalar(m, "val_acc", step, epoch + 1, float(hits[i])))
        if margins is not None:
            for event in measured_events(ids, epoch + 1, "val", *margins):
                ctx.emit(event)
    ctx.emit(EpochEnded(epoch + 1))


def _live_train_margins(ctx: TrainContext, group: MemberGroup, ids: list[int], epoch: int, size: int) -> None:
    """Margins of the members on the fixed live subset of training objects (eval mode, as validation)."""
    data, batch = ctx.data, ctx.spec.evaluation["batch_size"]
    keep = torch.from_numpy(live_subset(ctx.spec.seed, len(data.train_y), size, LIVE_TRAIN_STREAM))
    keep = keep.to(data.train_x.device)
    x, y = data.train_x[keep], data.train_y[keep]
    logits = torch.cat([group.predict(x[s:s + batch]) for s in range(0, len(y), batch)], dim=1)
    for event in measured_events(ids, epoch, "train", *group_margins(logits, y)):
        ctx.emit(event)


def _evaluate_group(group: MemberGroup, x: torch.Tensor, y: torch.Tensor, batch: int,
                    keep: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, tuple[torch.Tensor, torch.Tensor] | None]:
    """Mean loss and accuracy of every member on a labelled set, and the raw and normalised margins
    (K, len(keep)) of the kept objects from the same forward pass (None without keep)."""
    # Plain cross-entropy whatever the training loss, so validation losses compare across losses.
    loss = torch.zeros(group.size, dtype=torch.float64, device=x.device)
    hits = torch.zeros(group.size, dtype=torch.float64, device=x.device)
    kept = None if keep is None else torch.from_numpy(keep).to(x.device)
    raw: list[torch.Tensor] = []
    normalized: list[torch.Tensor] = []
    for start in range(0, len(y), batch):
        logits = group.predict(x[start:start + batch])
        target = y[start:start + batch]
        loss += cross_entropy_per_member(logits, target.expand(group.size, -1)).double() * len(target)
        hits += (logits.argmax(-1) == target).sum(1).double()
        if kept is not None:
            # Only the kept objects of this batch: the subset stays small whatever the split's size.
            inside = kept[(kept >= start) & (kept < start + len(target))] - start
            r, n = group_margins(logits[:, inside], target[inside])
            raw.append(r)
            normalized.append(n)
    margins = (torch.cat(raw, dim=1), torch.cat(normalized, dim=1)) if kept is not None else None
    return (loss / len(y)).cpu().numpy(), (hits / len(y)).cpu().numpy(), margins


def train_on_all_data(ctx: TrainContext, members: int, vectorize: bool, hooks: TrainHooks = NO_HOOKS) -> None:
    """Independent members that each see the whole training subset (in their own order)."""
    everything = np.arange(len(ctx.data.train_y))
    train_members(ctx, list(range(members)), [everything] * members, vectorize, hooks)
