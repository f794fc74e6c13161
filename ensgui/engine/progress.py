"""Progress accounting of a run: member-steps while training, then the phases after it, as one bar with one ETA.

The phases of a run are weighed in one unit, "forward passes of one object": a training step of a member on a
batch of B objects costs about 3 B (a forward and a backward pass), predicting one row on N objects N, and so on.
The weights only split the bar and give the later phases an ETA before they start; each phase's own pace, once
measured, replaces its estimate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Callable

from .events import Progress, Sink

RUN_PHASES: tuple[str, ...] = ("training", "predicting", "evaluating", "margins")

# Forward passes one optimisation step of one object costs (forward + backward is about three forwards).
TRAIN_STEP_COST = 3.0
# Forward passes the metric curves cost per row, member order and evaluated object: bench/evaluation_curves.py
# took 0.7 s for 20 rows x 5 orders x 11k objects (0.6 us each) on 2 cores, where a LeNet-5 forward costs about
# 100 us per object. A lighter net makes the phase relatively dearer; the tracker's rates refine it as it runs.
METRICS_COST = 0.01


def run_work(members: int, member_steps: int, batch: int, rows: int, eval_objects: int, orders: int,
             margin_objects: int) -> dict[str, float]:
    """The estimated cost of each phase of a run, in forward passes of one object."""
    return {"training": members * member_steps * batch * TRAIN_STEP_COST,
            "predicting": rows * eval_objects,
            "evaluating": rows * orders * eval_objects * METRICS_COST,
            "margins": rows * margin_objects}


class ProgressTracker:
    """Counts member-steps; emits Progress at most `rate` times a second (and always at the end).

    With work (phase -> estimated cost, see the module docstring) every Progress also carries the whole run's
    fraction and ETA, which move forward only, through all phases.
    """

    def __init__(self, emit: Sink, members: int, member_total: int, rate: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, work: Mapping[str, float] | None = None) -> None:
        self.emit = emit
        self.member_done = [0] * members
        self.member_total = member_total
        self.total = members * member_total
        self.epoch = 0
        self.phase = "training"
        self._clock = clock
        self._start = clock()
        self._interval = 1.0 / rate
        self._last = -1e9
        self._done_at_start = 0
        self._phase_start = self._start
        self._phase_fraction = 0.0
        self.work = {p: float(w) for p, w in (work or {}).items() if w > 0}
        self._finished_phases: list[str] = []
        self._spent: dict[str, float] = {}  # seconds each finished phase took

    @property
    def done(self) -> int:
        return sum(self.member_done)

    def elapsed(self) -> float:
        return self._clock() - self._start

    def advance(self, members: list[int], steps: int = 1, epoch: int | None = None, force: bool = False) -> None:
        for m in members:
            self.member_done[m] += steps
        if epoch is not None:
            self.epoch = epoch
        now = self._clock()
        if force or now - self._last >= self._interval or self.done >= self.total:
            self._last = now
            self.emit(self.snapshot())

    def resume_from(self, member_done: list[int], epoch: int) -> None:
        """A resumed run's progress: what each member had done; the ETA counts only steps taken from here."""
        self.member_done = list(member_done)
        self.epoch = epoch
        self._done_at_start = self.done

    def start_phase(self, phase: str) -> None:
        """A new phase (e.g. evaluating) measured in its own units from now on."""
        now = self._clock()
        if self.phase not in self._finished_phases:
            self._finished_phases.append(self.phase)
            self._spent[self.phase] = now - self._phase_start
        self.phase = phase
        self._phase_start = now
        self._phase_fraction = 0.0

    def phase_step(self, done: int, total: int) -> None:
        """Progress of a non-training phase: done of total units, with an ETA from this phase's pace."""
        elapsed = self._clock() - self._phase_start
        eta = elapsed * (total - done) / done if done > 0 else None
        self._phase_fraction = done / total if total else 1.0
        fraction, run_eta = self._run_progress(eta)
        self.emit(Progress(self.phase, done, total, tuple(self.member_done), self.member_total, self.epoch,
                           self.elapsed(), eta, run_fraction=fraction, run_eta=run_eta))

    def snapshot(self) -> Progress:
        elapsed = self.elapsed()
        progressed = self.done - self._done_at_start
        eta = elapsed * (self.total - self.done) / progressed if progressed > 0 else None
        if self.phase == "training":
            self._phase_fraction = self.done / self.total if self.total else 1.0
        fraction, run_eta = self._run_progress(eta)
        return Progress(self.phase, self.done, self.total, tuple(self.member_done), self.member_total, self.epoch,
                        elapsed, eta, run_fraction=fraction, run_eta=run_eta)

    def _run_progress(self, phase_eta: float | None) -> tuple[float | None, float | None]:
        """(share of the whole run done, seconds to its end) from the work estimate; (None, None) without one."""
        total = sum(self.work.values())
        if not total or self.phase not in self.work:
            return None, None
        later = [p for p in RUN_PHASES if p in self.work and p != self.phase and p not in self._finished_phases]
        before = sum(self.work[p] for p in self._finished_phases if p in self.work)
        here = self.work[self.phase]
        fraction = min(1.0, (before + here * self._phase_fraction) / total)
        # Seconds a unit of work costs: measured over what is done so far (training dominates it early on).
        units_done = before + here * self._phase_fraction
        # A resumed run's clock starts at the resume: the steps done before it are not in its elapsed time.
        if self.total:
            units_done -= self.work.get("training", 0.0) * self._done_at_start / self.total
        if units_done <= 0 or phase_eta is None:
            return fraction, None
        pace = self.elapsed() / units_done
        return fraction, phase_eta + pace * sum(self.work[p] for p in later)


PHASE_TITLES = {"training": "training", "predicting": "predicting", "evaluating": "computing metrics",
                "margins": "computing margins"}


def describe(progress: Progress, epochs: int | None = None) -> str:
    """What a Progress is doing, in words: "training · epoch 2 of 3", "predicting · row 3 of 20", ...; a task's
    own phase is named by itself and its text."""
    title = PHASE_TITLES.get(progress.phase, progress.phase)
    if progress.phase == "training":
        return f"{title} · epoch {progress.epoch}" + (f" of {epochs}" if epochs else "") if progress.member_total \
            else title + (f": {progress.text}" if progress.text else "")
    if progress.phase in ("predicting", "margins") and progress.total:
        return f"{title} · row {progress.done} of {progress.total}"
    if progress.phase == "evaluating":
        return title
    return f"{title}: {progress.text}" if progress.text else title


def shown_fraction(progress: Progress) -> float:
    """How full a bar is: the whole run's share when the task is a run, else the phase's own."""
    if progress.run_fraction is not None:
        return progress.run_fraction
    return progress.done / progress.total if progress.total else 1.0


def shown_eta(progress: Progress) -> float | None:
    """Seconds to the end of what the bar shows (the whole run, evaluation included, for a run)."""
    return progress.run_eta if progress.run_fraction is not None else progress.eta
