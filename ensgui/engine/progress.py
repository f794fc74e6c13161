"""Progress accounting with an ETA, rate-limited so a fast loop does not flood the sinks."""

from __future__ import annotations

import time
from typing import Callable

from .events import Progress, Sink


class ProgressTracker:
    """Counts member-steps; emits Progress at most `rate` times a second (and always at the end)."""

    def __init__(self, emit: Sink, members: int, member_total: int, rate: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
        self.phase = phase
        self._phase_start = self._clock()

    def phase_step(self, done: int, total: int) -> None:
        """Progress of a non-training phase: done of total units, with an ETA from this phase's pace."""
        elapsed = self._clock() - self._phase_start
        eta = elapsed * (total - done) / done if done > 0 else None
        self.emit(Progress(self.phase, done, total, tuple(self.member_done), self.member_total, self.epoch,
                           self.elapsed(), eta))

    def snapshot(self) -> Progress:
        elapsed = self.elapsed()
        progressed = self.done - self._done_at_start
        eta = elapsed * (self.total - self.done) / progressed if progressed > 0 else None
        return Progress(self.phase, self.done, self.total, tuple(self.member_done), self.member_total, self.epoch,
                        elapsed, eta)
