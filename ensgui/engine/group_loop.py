"""The shared training loop of one group of members, which a checkpoint captures and restores exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import checkpoint as ck
from .errors import CancelledError, DivergedError
from .events import CheckpointTaken, EpochEnded, Scalar, SnapshotTaken, TrainingState
from .losses import loss_for, per_object_cross_entropy
from .margin_tracking import LIVE_TRAIN_STREAM, LIVE_VAL_STREAM, group_margins, live_subset, measured_events
from .members import MemberGroup, SingleMember, StackedMembers
from .optim import OPTIMIZERS
from .seeding import ORDER, derive_seed

if TYPE_CHECKING:
    from .training import TrainContext, TrainHooks

LOG_POINTS_PER_EPOCH = 25
COUNTERS = ("counter/correct", "counter/window_loss", "counter/seen", "counter/window_steps")


@dataclass(frozen=True)
class InFlight:
    """A member stopped mid-training: its weights as they stand, the epoch it reached and its last step."""

    weights: dict[str, np.ndarray]
    epoch: float
    step: int


def cross_entropy_per_member(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each member: logits (K, B, C), targets (K, B) -> (K,)."""
    return per_object_cross_entropy(logits, targets).mean(1)


def make_group(models: list[torch.nn.Module], vectorize: bool) -> MemberGroup:
    return StackedMembers(models) if vectorize else SingleMember(models[0])


class GroupTraining:
    """Members trained side by side (one vmap group) or one alone, for the plan's epochs.

    Everything that decides what comes next lives on this object (nets, optimiser, data-order generators and
    where they stood when the epoch began, the batch, the running counters), so capture() at an epoch end or at
    a stop and restore() in a later process continue bit for bit as if the run had never stopped.
    """

    def __init__(self, ctx: TrainContext, ids: list[int], index_sets: list[np.ndarray], vectorize: bool,
                 hooks: TrainHooks) -> None:
        self.ctx, self.ids, self.hooks = ctx, ids, hooks
        spec = ctx.spec
        self.group = make_group([ctx.build_model(m, hooks.initial_weights.get(m)) for m in ids], vectorize)
        # group.parameters() holds only trainable tensors, so a frozen last layer gets no steps and no weight decay.
        self.optimizer = OPTIMIZERS.get(spec.optimizer.name).factory(spec.optimizer.params, self.group.parameters())
        self.loss_function = loss_for(spec.loss)
        self.batch_size = spec.budget["batch_size"]
        self.orders = {f"order/{m}": torch.Generator().manual_seed(derive_seed(spec.seed, m, ORDER)) for m in ids}
        self.hook_rngs = {f"hook/{i}": g for i, g in enumerate(hooks.generators)}
        self.sets = [torch.from_numpy(np.asarray(s, dtype=np.int64)) for s in index_sets]
        self.snapshot_at = {int(s): j for j, s in enumerate(ctx.plan.snapshots)}
        self.log_every = max(1, ctx.plan.iters_per_epoch // LOG_POINTS_PER_EPOCH)
        k = len(ids)
        self.epoch = 0  # 0-based epoch in progress
        self.batch = 0  # next batch of that epoch
        self.step = 0  # iterations trained
        self.order_states = [g.get_state() for g in self.orders.values()]  # before this epoch's permutations
        self.correct = torch.zeros(k, device=ctx.device)
        self.seen = 0
        self.window_loss = torch.zeros(k, device=ctx.device)
        self.window_steps = 0

    # ------------------------------------------------------------ checkpoints

    def capture(self, reason: str) -> TrainingState:
        ctx = self.ctx
        done = self.epoch >= ctx.plan.epochs
        arrays = {**ck.pack_group(self.group), **ck.pack_optimizer(self.optimizer),
                  **ck.pack_rngs(self.hook_rngs, ctx.device),
                  **{f"{ck.RNG}{name}": state.numpy().copy() for name, state in zip(self.orders, self.order_states)},
                  "counter/correct": ck.tensor_array(self.correct),
                  "counter/window_loss": ck.tensor_array(self.window_loss),
                  "counter/seen": np.int64(self.seen), "counter/window_steps": np.int64(self.window_steps)}
        finished = sorted(set(ctx.finished) | (set(self.ids) if done else set()))
        return TrainingState(tuple(self.ids), tuple(finished), self.epoch, self.batch, self.step, reason,
                             ctx.elapsed(), arrays)

    def restore(self, saved: TrainingState) -> None:
        arrays = saved.arrays
        ck.unpack_group(self.group, arrays)
        ck.unpack_optimizer(self.optimizer, arrays)
        ck.unpack_rngs(self.hook_rngs, self.ctx.device, arrays)
        self.order_states = [torch.from_numpy(np.array(arrays[ck.RNG + name])) for name in self.orders]
        self.epoch, self.batch, self.step = saved.epoch, saved.batch, saved.step
        self.correct = ck.to_tensor(arrays["counter/correct"], like=self.correct)
        self.window_loss = ck.to_tensor(arrays["counter/window_loss"], like=self.window_loss)
        self.seen = int(arrays["counter/seen"])
        self.window_steps = int(arrays["counter/window_steps"])

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Train from where this group stands to the plan's last epoch; on a stop, checkpoint and re-raise."""
        plan = self.ctx.plan
        try:
            while self.epoch < plan.epochs:
                self._run_epoch()
        except CancelledError:
            self.ctx.emit(CheckpointTaken(self.capture("stop")))
            fraction = self.epoch + self.batch / plan.iters_per_epoch
            for i, m in enumerate(self.ids):
                self.ctx.in_flight[m] = InFlight(self.group.state(i), fraction, self.step - 1)
            raise

    def _permutations(self) -> list[torch.Tensor]:
        # Drawn from the generators as they stood when the epoch began: a restored epoch draws the same orders.
        for generator, state in zip(self.orders.values(), self.order_states):
            generator.set_state(state)
        return [s[torch.randperm(len(s), generator=g)].to(self.ctx.device)
                for s, g in zip(self.sets, self.orders.values())]

    def _run_epoch(self) -> None:
        ctx, plan, data, hooks = self.ctx, self.ctx.plan, self.ctx.data, self.hooks
        self.group.train(True)
        perms = self._permutations()
        for b in range(self.batch, plan.iters_per_epoch):
            ctx.check_stop()
            step, lr = self.step, float(plan.lr[self.step])
            for param_group in self.optimizer.param_groups:
                param_group["lr"] = lr
            batch = torch.stack([p[b * self.batch_size:(b + 1) * self.batch_size] for p in perms])
            x, y = data.train_x[batch], data.train_y[batch]
            logits = self.group.forward(x)
            gaps = None if hooks.object_gaps is None else hooks.object_gaps[batch]
            losses = self.loss_function(logits, y, gaps).mean(1)
            self.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            self.optimizer.step()
            if hooks.after_step is not None:
                hooks.after_step(self.group, self.ids, step, lr)
            self.window_loss += losses.detach()
            self.window_steps += 1
            self.correct += (logits.detach().argmax(-1) == y).sum(1)
            self.seen += y.shape[1]
            if (step + 1) % self.log_every == 0 or b == plan.iters_per_epoch - 1:
                self._log_window(step, self.epoch + (b + 1) / plan.iters_per_epoch, lr)
            if step in self.snapshot_at:
                take_snapshots(ctx, self.group, self.ids, self.snapshot_at[step], step, self.epoch + 1)
            self.step += 1
            self.batch = b + 1
            ctx.progress.advance(self.ids, 1, epoch=self.epoch + 1)
        end_epoch(ctx, self.group, self.ids, self.epoch, self.step - 1, self.correct / max(self.seen, 1))
        self.epoch += 1
        self.batch = 0
        self.order_states = [g.get_state() for g in self.orders.values()]
        self.correct.zero_()
        self.seen = 0
        ctx.emit(CheckpointTaken(self.capture("epoch")))

    def _log_window(self, step: int, fraction: float, lr: float) -> None:
        check_finite(self.window_loss, self.ids, step, self.epoch, lr)
        for i, m in enumerate(self.ids):
            self.ctx.emit(Scalar(m, "train_loss", step, fraction, float(self.window_loss[i] / self.window_steps)))
            self.ctx.emit(Scalar(m, "lr", step, fraction, lr))
        self.window_loss.zero_()
        self.window_steps = 0


def check_finite(window_loss: torch.Tensor, ids: list[int], step: int, epoch: int, lr: float) -> None:
    bad = ~torch.isfinite(window_loss)
    if bool(bad.any()):
        member = ids[int(bad.nonzero()[0, 0])]
        raise DivergedError(
            f"member {member} diverged at iteration {step + 1} (epoch {epoch + 1}, learning rate {lr:.3g}): "
            f"the training loss is not finite; lower optimizer.lr or choose a decaying schedule"
        )


def take_snapshots(ctx: TrainContext, group: MemberGroup, ids: list[int], index: int, step: int, epoch: int) -> None:
    per_member = len(ctx.plan.snapshots)
    for i, m in enumerate(ids):
        state = group.state(i)
        row = m * per_member + index
        ctx.rows[row] = state
        ctx.emit(SnapshotTaken(m, index, row, epoch, step, float(ctx.plan.lr[step]), state))


@torch.no_grad()
def end_epoch(ctx: TrainContext, group: MemberGroup, ids: list[int], epoch: int, step: int,
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
        losses, hits, margins = evaluate_group(group, data.val_x, data.val_y, evaluation["batch_size"], val_keep)
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


def evaluate_group(group: MemberGroup, x: torch.Tensor, y: torch.Tensor, batch: int,
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
