"""Hand-made engine event sequences for storage tests: a real spec and plan, random arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ensgui.engine.events import (EpochEnded, Evaluated, Event, LogLine, MemberData, Progress, RunEnded, RunStarted,
                                  Scalar, SnapshotTaken)
from ensgui.engine.methods import method_for
from ensgui.engine.methods import plan_for
from ensgui.engine.spec import Spec
from ensgui.storage.writer import RunWriter

CLASSES = 10
TEST_N = 60
VAL_N = 40
CURVE_METRICS = ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc")
MEMBER_METRICS = ("error", "nll", "ece")


def small_spec(epochs: int = 1, members: int = 2, method: str = "deep_ensemble", name: str = "storage test") -> Spec:
    return Spec.from_dict({
        "name": name, "seed": 0, "device": "cpu",
        "data": {"name": "fashion-mnist", "train_size": 2000, "val_size": 500},
        "model": {"name": "lenet5_caffe"},
        "method": {"name": method, "members": members},
        "optimizer": {"name": "sgd"},
        "schedule": {"name": "base"},
        "budget": {"epochs": epochs},
    })


def random_probs(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    logits = rng.normal(size=(k, n, CLASSES))
    p = np.exp(logits)
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


def snapshot_state(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "0.weight": rng.normal(size=(20, 1, 5, 5)).astype(np.float32),
        "0.bias": rng.normal(size=(20,)).astype(np.float32),
        "5.weight": rng.normal(size=(10, 50)).astype(np.float32),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),  # a 0-d buffer, as BatchNorm has
    }


def evaluation(rng: np.random.Generator, split: str, k: int, n: int, temperature: float | None) -> Evaluated:
    curves = {m: np.column_stack([rng.random(k), rng.random(k) * 0.1]) for m in CURVE_METRICS}
    members = {m: rng.random(k) for m in MEMBER_METRICS}
    labels = rng.integers(0, CLASSES, size=n).astype(np.int64)
    return Evaluated(split, random_probs(rng, k, n), labels, curves, members, temperature)


def run_events(spec: Spec, seed: int = 0, end: str | None = "finished", error: str = "",
               epochs_done: int | None = None, bagging_data: bool = True) -> list[Event]:
    """What the engine emits for a spec: start, per-epoch scalars, snapshots, evaluation, end."""
    rng = np.random.default_rng(seed)
    plan = plan_for(spec)
    events: list[Event] = [LogLine("loading fashion-mnist (train 2000, validation 500)"),
                           RunStarted(spec.to_toml(), plan, "cpu", tuple(method_for(spec).row_names(plan))),
                           LogLine("deep_ensemble: 2 member(s)")]
    if bagging_data:
        for m in range(plan.members):
            drawn = np.sort(rng.integers(0, 2000, size=2000))
            events.append(MemberData(m, drawn, np.setdiff1d(np.arange(2000), drawn)))
    per = plan.iters_per_epoch
    last = plan.epochs if epochs_done is None else epochs_done
    for epoch in range(last):
        for b in range(0, per, 4):
            step = epoch * per + b
            for m in range(plan.members):
                events.append(Scalar(m, "train_loss", step, epoch + (b + 1) / per, float(rng.random())))
                events.append(Scalar(m, "lr", step, epoch + (b + 1) / per, float(plan.lr[step])))
        events.append(Progress("training", (epoch + 1) * per * plan.members, plan.total_iters * plan.members,
                               (per,) * plan.members, plan.total_iters, epoch + 1, 1.0, 2.0))
        step = (epoch + 1) * per - 1
        for m in range(plan.members):
            for name in ("train_acc", "val_loss", "val_acc"):
                events.append(Scalar(m, name, step, epoch + 1, float(rng.random())))
        if step in set(int(s) for s in plan.snapshots):
            j = [int(s) for s in plan.snapshots].index(step)
            for m in range(plan.members):
                events.append(SnapshotTaken(m, j, m * len(plan.snapshots) + j, epoch + 1, step,
                                            float(plan.lr[step]), snapshot_state(rng)))
        events.append(EpochEnded(epoch + 1))
    if end is None:
        return events
    if end in ("finished", "cancelled") and last:
        events.append(evaluation(rng, "val", plan.rows, VAL_N, 1.25))
        events.append(evaluation(rng, "test", plan.rows, TEST_N, 1.25))
    events.append(RunEnded(end, error, 12.5, {"peak_memory_mb": 321.0}))
    return events


def write_events(path: Path, events: list[Event]) -> RunWriter:
    writer = RunWriter(path)
    for event in events:
        writer(event)
    return writer
