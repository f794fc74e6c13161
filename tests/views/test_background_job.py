"""BackgroundJob: work in a Qt-owned thread, drained and announced from the GUI thread exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from PySide6.QtCore import QThread

from ensgui.views.background_job import BackgroundJob, Mailbox

GUARD_S = 10.0  # a work waits at most this long for the test, so a failing test cannot hang the suite


class Harness:
    """A job with a mailbox whose drain keeps every item in order, recording where finished was emitted."""

    def __init__(self) -> None:
        self.mailbox: Mailbox[object] = Mailbox()
        self.drained: list[object] = []
        self.on_items: Callable[[list[object]], None] | None = None  # a slot fed by the drain
        self.drains_after_finish = 0
        self.finished: list[tuple[bool, bool]] = []  # (emitted in the GUI thread, job still running)
        self.job = BackgroundJob(self.drain)
        self.job.finished.connect(self.on_finished)

    def drain(self) -> None:
        if self.finished:
            self.drains_after_finish += 1
        items = self.mailbox.drain()
        self.drained.extend(items)
        if items and self.on_items is not None:
            self.on_items(items)

    def on_finished(self) -> None:
        gui = threading.current_thread() is threading.main_thread()
        self.finished.append((gui, self.job.is_running()))


@pytest.fixture
def harness(qtbot):
    harness = Harness()
    yield harness
    harness.job.shutdown()  # a failing test must not leave its thread running


def test_start_runs_the_work_in_its_own_thread_and_finishes_once_after_the_last_drain(qtbot, harness):
    names: list[str] = []

    def work(stop: threading.Event) -> None:
        names.append(QThread.currentThread().objectName())
        for i in range(5):
            harness.mailbox.put(i)

    seen_running: list[bool] = []
    harness.job.start(work, "test-worker", before_start=lambda: seen_running.append(harness.job.is_running()))
    assert seen_running == [True]
    with qtbot.waitSignal(harness.job.finished, timeout=int(GUARD_S * 1000)):
        pass  # the event loop delivers the thread's end: no wait() call here
    assert names == ["test-worker"]
    assert harness.drained == [0, 1, 2, 3, 4]
    assert harness.finished == [(True, False)]
    assert harness.job.error is None and not harness.job.is_running()
    qtbot.wait(100)  # timer ticks after the end must not drain or finish again
    assert harness.finished == [(True, False)] and harness.drains_after_finish == 0


def test_cancel_sets_the_stop_flag_the_work_checks(qtbot, harness):
    started = threading.Event()
    stopped: list[bool] = []

    def work(stop: threading.Event) -> None:
        started.set()
        stopped.append(stop.wait(GUARD_S))
        harness.mailbox.put("stopped")

    harness.job.start(work, "test-cancel")
    assert started.wait(GUARD_S)
    assert not harness.job.cancel_requested()
    harness.job.cancel()
    assert harness.job.cancel_requested()
    assert harness.job.wait(int(GUARD_S * 1000))
    assert stopped == [True]
    assert harness.drained == ["stopped"] and len(harness.finished) == 1


def test_wait_with_a_timeout_returns_false_while_the_work_runs(qtbot, harness):
    release = threading.Event()

    def work(stop: threading.Event) -> None:
        harness.mailbox.put("begun")
        release.wait(GUARD_S)
        harness.mailbox.put("done")

    harness.job.start(work, "test-timeout")
    assert harness.job.wait(50) is False
    assert harness.job.is_running() and harness.finished == []
    with pytest.raises(RuntimeError, match="already running"):
        harness.job.start(work, "test-second")
    release.set()
    assert harness.job.wait() is True
    assert harness.drained == ["begun", "done"] and harness.finished == [(True, False)]
    assert harness.job.wait(0) is True  # nothing running: at once, and no second finished
    qtbot.wait(100)  # the thread's queued end arrives after wait() finished it
    assert len(harness.finished) == 1


def test_finished_once_when_slots_of_the_final_drain_and_of_finished_call_wait(qtbot, harness):
    waits: list[bool] = []
    # The final drain's slot re-enters the finish in progress; so does the finished slot, once it is done.
    harness.on_items = lambda items: waits.append(harness.job.wait())
    harness.job.finished.connect(lambda: waits.append(harness.job.wait()))

    def work(stop: threading.Event) -> None:
        harness.mailbox.put("last")

    harness.job.start(work, "test-reentrant")
    assert harness.job.wait()
    qtbot.wait(100)
    assert harness.drained == ["last"]
    assert len(harness.finished) == 1
    assert waits == [True, True]  # once from the final drain, once from the finished slot


def test_an_exception_in_the_work_still_finishes_and_is_kept(qtbot, harness):
    def work(stop: threading.Event) -> None:
        harness.mailbox.put("before")
        raise ValueError("boom")

    with qtbot.waitSignal(harness.job.finished, timeout=int(GUARD_S * 1000)):
        harness.job.start(work, "test-error")
    assert isinstance(harness.job.error, ValueError) and str(harness.job.error) == "boom"
    assert harness.drained == ["before"] and harness.finished == [(True, False)]

    # The next work starts clean: the error belongs to the last work only.
    harness.job.start(lambda stop: harness.mailbox.put("again"), "test-after-error")
    assert harness.job.wait()
    assert harness.job.error is None and harness.drained == ["before", "again"]


def test_a_slot_of_finished_may_start_the_next_work(qtbot, harness):
    def restart() -> None:
        if len(harness.finished) == 1:
            harness.job.start(lambda stop: harness.mailbox.put("second"), "test-next")

    harness.job.finished.connect(restart)
    harness.job.start(lambda stop: harness.mailbox.put("first"), "test-first")
    assert harness.job.wait()
    assert harness.job.is_running()  # started from the finished slot, inside that wait()
    assert harness.job.wait()
    assert harness.drained == ["first", "second"] and len(harness.finished) == 2
    assert not harness.job.is_running()
