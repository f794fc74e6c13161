"""The interpolation task: losses along the line between pairs of a run's snapshots, each stored as it is done."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from ..engine.data import load_splits
from ..engine.errors import EnsguiError, RunFileError, SpecError
from ..engine.events import Artefact
from ..engine.interpolation import (DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, lambda_grid, objects_note,
                                    pair_label, pick_test_objects, snapshot_name, train_subset_size)
from ..engine.line_losses import choose_engine, interpolate
from ..engine.nets import build_model, has_batchnorm
from ..engine.runner import resolve_device
from ..engine.task_state import TaskState
from ..storage import layout as L
from ..storage.analysis import INTERPOLATION_ARTEFACT, interpolation_meta, write_interpolation
from ..storage.reader import SnapshotInfo, read_run, read_snapshot

PHASE = "interpolating"


def compute_interpolations(path: Path | str, pairs: Sequence[tuple[SnapshotInfo, SnapshotInfo]], points: int,
                           state: TaskState, train_objects: int = DEFAULT_TRAIN_OBJECTS, device: str | None = None,
                           threads: int | None = None, test_objects: int = DEFAULT_TEST_OBJECTS) -> list[str]:
    """Interpolate every pair of a run's snapshots and store each as soon as it is done; returns the labels.

    The data are the run's own (its spec's dataset, split and seed); train_objects and test_objects bound the
    objects every λ is measured on (line_losses.interpolate says which), and each pair is stored with the counts
    used and how they were chosen. Progress counts λ points over all pairs;
    every stored pair is also emitted as its Artefact, so a screen can draw it at once. A stop raises
    CancelledError and keeps the pairs already stored. Raises EnsguiError subclasses for what the user can fix.
    """
    path = Path(path)
    if not pairs:
        raise ValueError("no snapshot pairs to interpolate")
    if threads:
        torch.set_num_threads(threads)
    lambdas = lambda_grid(points)
    run = read_run(path, with_probs=False)
    if run.spec is None:
        raise RunFileError(f"{path} holds a spec this ensgui cannot rebuild, so its model and data are unknown")
    if run.summary.status in (L.STATUS_RUNNING, L.STATUS_INCOMPLETE):
        raise RunFileError(f"{path} has not ended (status {run.summary.status}); analyses are stored only in "
                           f"runs that have ended")
    spec = run.spec
    try:
        target = resolve_device(device or spec.device)
    except SpecError:
        target = torch.device("cpu")  # a run trained on a GPU is still analysable on a machine without one
    total = len(pairs) * len(lambdas)
    state.start_phase(PHASE, total, f"loading {spec.data.name}")
    data = load_splits(spec.data.name, spec.data.params, spec.seed, state.log)
    used = train_subset_size(data, train_objects)
    tested = len(pick_test_objects(data.test_y.numpy(), test_objects, spec.seed))
    note = objects_note(used, len(data.train_y), tested, len(data.test_y), spec.seed)
    engine = choose_engine("auto", target)
    batchnorm = has_batchnorm(build_model(spec, data.input_shape, data.num_classes, trained=True))
    labels: list[str] = []
    for i, (a, b) in enumerate(pairs):
        state.check_stop("interpolation cancelled by the user")
        started = time.monotonic()
        text = f"{snapshot_name(a.member, a.index)} → {snapshot_name(b.member, b.index)}"
        base = i * len(lambdas)
        state.advance(base, text, force=True)
        state_a, state_b = read_snapshot(path, a.member, a.index), read_snapshot(path, b.member, b.index)
        try:
            result = interpolate(spec, state_a, state_b, lambdas, data, target,
                                 progress=lambda done, n, base=base, text=text: state.advance(base + done, text),
                                 should_stop=state.should_stop, train_objects=used, test_objects=tested,
                                 engine=engine)
        except ValueError as exc:
            raise EnsguiError(f"cannot interpolate {text}: {exc}") from None
        label = pair_label(a, b)
        meta = interpolation_meta(a, b, used, test_objects=tested, objects=note,
                                  train_split_objects=int(len(data.train_y)), test_split_objects=int(len(data.test_y)),
                                  batchnorm=batchnorm, device=str(target), engine=engine,
                                  seconds=round(time.monotonic() - started, 3))
        write_interpolation(path, label, result, meta)
        labels.append(label)
        state.emit(Artefact(f"{INTERPOLATION_ARTEFACT}/{label}", result.arrays(), meta))
    return labels


__all__ = ["PHASE", "compute_interpolations"]
