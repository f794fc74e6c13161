"""A run's progress is one bar through training and the phases after it, with an ETA to the run's end."""

from __future__ import annotations

from ensgui.engine.events import Progress
from ensgui.engine.progress import ProgressTracker, run_work
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState

from support import tiny_spec_dict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_fraction_moves_forward_through_every_phase_and_the_eta_counts_them():
    events: list[Progress] = []
    clock = Clock()
    # Training 600 units, predicting 200, metrics 100, margins 100.
    work = {"training": 600.0, "predicting": 200.0, "evaluating": 100.0, "margins": 100.0}
    tracker = ProgressTracker(events.append, members=2, member_total=10, clock=clock, work=work)
    for step in range(10):
        clock.now += 1.0
        tracker.advance([0, 1], force=True)
    # Halfway through training the ETA already covers the 400 units after it, at the training pace.
    half = events[4]
    assert half.run_fraction == 0.3 and abs(half.run_eta - (5.0 + 400 * 5.0 / 300)) < 1e-9
    tracker.start_phase("predicting")
    for row in range(1, 5):
        clock.now += 0.5
        tracker.phase_step(row, 4)
    tracker.start_phase("evaluating")
    tracker.phase_step(1, 2)
    tracker.phase_step(2, 2)
    tracker.start_phase("margins")
    tracker.phase_step(1, 1)
    fractions = [e.run_fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [e.phase for e in events if e.run_fraction == 0.6] == ["training"]
    assert events[-1].run_eta == 0.0


def test_a_real_run_reports_one_monotone_bar_to_its_end():
    events: list = []
    spec = Spec.from_dict(tiny_spec_dict(members=2, epochs=1, train_size=200, val_size=100, test_size=100))
    assert run_spec(spec, TaskState([events.append]), threads=1).status == "finished"
    progress = [e for e in events if isinstance(e, Progress)]
    assert {"training", "predicting", "evaluating", "margins"} <= {p.phase for p in progress}
    fractions = [p.run_fraction for p in progress]
    assert all(f is not None for f in fractions)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Training is not the whole bar: the phases after it have their share.
    end_of_training = max(p.run_fraction for p in progress if p.phase == "training")
    assert 0.2 < end_of_training < 1.0


def test_run_work_weighs_a_training_step_as_three_forwards():
    work = run_work(members=5, member_steps=10, batch=128, rows=5, eval_objects=11000, orders=5, margin_objects=2000)
    assert work["training"] == 5 * 10 * 128 * 3 and work["predicting"] == 5 * 11000 and work["margins"] == 5 * 2000
