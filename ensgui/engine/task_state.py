"""The state every long task shares with whoever runs it: events out, a stop flag in, progress by phase with an ETA.

A task (a run, a sweep, an interpolation, a width measurement, any later analysis) is a plain function that takes
a TaskState. The CLI gives it a terminal sink, the GUI a mailbox drained by a Qt timer, a cluster backend its own
sink: the task never knows which.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from .errors import CancelledError
from .events import Event, LogLine, Progress, Sink

PROGRESS_RATE = 10.0  # Progress events a second at most; the last of a phase always goes out


class TaskState:
    """Fans events out to sinks, answers should_stop, and reports rate-limited progress of the current phase."""

    def __init__(self, sinks: Iterable[Sink] = (), stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic, rate: float = PROGRESS_RATE) -> None:
        self.sinks = list(sinks)
        self.stop = stop if stop is not None else threading.Event()
        self._clock = clock
        self._interval = 1.0 / rate
        self._started = clock()
        self._phase = ""
        self._phase_total = 0
        self._phase_started = self._started
        self._last_report = -1e9

    # ------------------------------------------------------------ events

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)

    def log(self, text: str) -> None:
        self.emit(LogLine(text))

    def with_sinks(self, sinks: Iterable[Sink], first: bool = False) -> TaskState:
        """A state for a sub-task (one point of a sweep, a run with its file): the same stop flag, these sinks
        added after ours, or before them with first (a file writer, which must see an event before it is shown)."""
        extra = list(sinks)
        ordered = [*extra, *self.sinks] if first else [*self.sinks, *extra]
        return TaskState(ordered, self.stop, self._clock, 1.0 / self._interval)

    # ------------------------------------------------------------ stopping

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def check_stop(self, message: str = "cancelled by the user") -> None:
        """Raise CancelledError once a stop was asked for: call it between units of work."""
        if self.stop.is_set():
            raise CancelledError(message)

    # ------------------------------------------------------------ progress

    def elapsed(self) -> float:
        return self._clock() - self._started

    def start_phase(self, name: str, total: int, text: str = "") -> None:
        """A new phase of `total` units; its ETA is measured from now, at this phase's pace."""
        self._phase, self._phase_total, self._phase_started = name, int(total), self._clock()
        self.advance(0, text, force=True)

    def advance(self, done: int, text: str = "", force: bool = False) -> None:
        """done of the phase's units are finished; reported at most `rate` times a second and always at the end."""
        now = self._clock()
        total = self._phase_total
        if not (force or done >= total or now - self._last_report >= self._interval):
            return
        self._last_report = now
        spent = now - self._phase_started
        eta = spent * (total - done) / done if 0 < done < total else (0.0 if done >= total else None)
        self.emit(Progress(self._phase, int(done), total, elapsed=now - self._started, eta=eta, text=text))


def collect(events: list) -> TaskState:
    """A state whose events are appended to a list (tests and small scripts)."""
    return TaskState([events.append])


__all__ = ["PROGRESS_RATE", "TaskState", "collect"]
