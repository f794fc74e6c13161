"""The Monitor screen and run controller: real tiny runs trained in a worker thread and watched live."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer

from ensgui.engine.events import Progress, RunEnded, RunStarted, Scalar
from ensgui.engine.plan import Plan
from ensgui.engine.spec import Spec
from ensgui.views.live_curves import LiveCurvesPlot, debiased_ema
from ensgui.views.monitor_view import MonitorView, member_summary
from ensgui.views.task_panel import progress_text
from ensgui.views.theme import PALETTE, format_duration
from support import tiny_spec_dict


@pytest.fixture(scope="module", autouse=True)
def _engine_imports_done():
    # The first vmap call of a process imports torch._dynamo (about 900 modules; seconds, with
    # single GIL holds of up to half a second). That one-off engine cost would show up as a GUI
    # freeze in whichever test trains first; these tests measure the controller and the monitor.
    import torch._dynamo  # noqa: F401


@pytest.fixture
def controller(qtbot, context):
    controller = context.controller
    controller.threads = max(1, __import__("os").cpu_count() - 1)  # the default: every core but one for torch
    yield controller
    # A failing test must not leave the engine thread running when Qt objects go away.
    controller.shutdown()


@pytest.fixture
def monitor(qtbot, context, controller):
    view = MonitorView(context)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    qtbot.waitExposed(view)
    return view


class TickRecorder:
    """A 20 ms timer in the GUI thread; long gaps between its ticks mean a frozen window."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.last: float | None = None
        self.max_gap = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def metric_rows(path: Path, member: int, name: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[f"metrics/{member}/{name}"][()]


def test_live_run_fills_curves_and_finishes(qtbot, controller, monitor, tmp_path, screenshot):
    spec = Spec.from_dict(tiny_spec_dict(epochs=2, train_size=1000))
    path = tmp_path / "tiny.h5"
    finished: list[tuple[RunEnded, Path]] = []
    controller.run_finished.connect(lambda ended, p: finished.append((ended, p)))
    ticks = TickRecorder()
    ticks.start()
    assert monitor.status() == "idle"
    assert not monitor.cancel_button.isEnabled()

    controller.start(spec, path)
    assert controller.is_running() and controller.current_path == path
    assert monitor.cancel_button.isEnabled()
    with pytest.raises(RuntimeError, match="already in progress"):
        controller.start(spec, tmp_path / "second.h5")

    qtbot.waitUntil(lambda: monitor.loss_plot.displayed_data(0)[0].size > 0 and monitor.progress_bar.value() > 0,
                    timeout=60_000)
    qtbot.waitUntil(lambda: monitor.progress_bar.value() >= 400, timeout=60_000)  # a screenshot with curves
    assert monitor.status() in ("training", "evaluating…")
    assert "elapsed" in monitor.progress_bar.text()
    screenshot(monitor, "monitor-training", colors=(PALETTE[0],))

    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    ticks.stop()
    ended, ended_path = finished[0]
    assert ended.status == "finished", ended.error
    assert ended_path == path
    assert not controller.is_running()
    assert monitor.status() == "finished"
    assert not monitor.cancel_button.isEnabled()
    assert monitor.progress_bar.value() == 1000
    assert monitor.progress_bar.text().startswith("100% — finished after")
    assert "3 members" in monitor.details_label.text() and "2 epochs" in monitor.details_label.text()
    assert monitor.member_progress.text() == " · ".join(f"{m}: 32/32" for m in range(3))
    assert ticks.ticks > 10 and ticks.max_gap < 0.5, f"GUI froze for {ticks.max_gap:.3f} s"

    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        stored_log = [line.decode() if isinstance(line, bytes) else line for line in f["log"][()]]
    assert monitor.log_view.toPlainText().splitlines() == stored_log  # every log line, in order
    for name, plot in monitor.plots.items():
        # One curve per member; the lr plot also shows the planned schedule and each member's snapshot.
        assert len(plot.getPlotItem().listDataItems()) == (3 + 1 + 3 if name == "lr" else 3)
        assert len(plot.curves) == 3
        for m in range(3):
            rows = metric_rows(path, m, name)
            x, y = plot.raw_data(m)
            np.testing.assert_array_equal(x, rows[:, 1])
            np.testing.assert_array_equal(y, rows[:, 2])
    # The displayed loss is smoothed; with smoothing off it is exactly the stored values.
    x, shown = monitor.loss_plot.displayed_data(0)
    assert not np.array_equal(shown, metric_rows(path, 0, "train_loss")[:, 2])
    monitor.smoothing_slider.setValue(0)
    monitor.loss_plot.redraw()
    for m in range(3):
        np.testing.assert_array_equal(monitor.loss_plot.displayed_data(m)[1], metric_rows(path, m, "train_loss")[:, 2])
    # One snapshot per member, at the end of training, marked on the lr plot at its planned lr.
    lr = metric_rows(path, 0, "lr")
    for m in range(3):
        np.testing.assert_allclose(monitor.lr_plot.marked_points(m), [[2.0, lr[-1, 2]]])
    monitor.smoothing_slider.setValue(60)
    shown = monitor.acc_plot.displayed_data(0)[1]
    raw = metric_rows(path, 0, "val_acc")[:, 2]
    np.testing.assert_allclose(shown, tensorboard_smoothing(list(raw), 0.6), rtol=1e-12)
    screenshot(monitor, "monitor-finished", colors=(PALETTE[0], PALETTE[1]))


def test_cancel_ends_run_cancelled_and_keeps_finished_epochs(qtbot, controller, monitor, tmp_path, screenshot):
    spec = Spec.from_dict(tiny_spec_dict(epochs=30, train_size=1000))
    path = tmp_path / "long.h5"
    finished: list[RunEnded] = []
    controller.run_finished.connect(lambda ended, p: finished.append(ended))
    clicked: list[float] = []

    def cancel_after_first_epoch(progress: Progress) -> None:
        # The first update past epoch 1 guarantees a finished epoch whose metrics must survive.
        if not clicked and progress.epoch >= 2:
            clicked.append(time.monotonic())
            qtbot.mouseClick(monitor.cancel_button, Qt.MouseButton.LeftButton)

    controller.progress.connect(cancel_after_first_epoch)
    controller.start(spec, path)
    qtbot.waitUntil(lambda: bool(clicked), timeout=60_000)
    assert monitor.status() == "stopping…"
    assert monitor.cancel_button.text() == "Stopping…" and not monitor.cancel_button.isEnabled()
    assert controller.wait(10_000)  # joins the thread and delivers the rest, run_finished included
    assert time.monotonic() - clicked[0] < 5.0
    assert len(finished) == 1 and not controller.is_running()
    assert finished[0].status == "cancelled"
    assert monitor.status() == "cancelled"
    assert "stopped at" in monitor.log_view.toPlainText() and "partial row(s) evaluated" in monitor.log_view.toPlainText()
    screenshot(monitor, "monitor-cancelled", colors=(PALETTE[0],))

    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "cancelled"
        for m in range(3):
            val = f[f"metrics/{m}/val_acc"][()]
            loss = f[f"metrics/{m}/train_loss"][()]
            assert len(val) >= 1 and val[0, 1] == 1.0  # epoch 1 finished and kept
            assert loss[:, 1].max() < 30  # training stopped long before the budget
    for m in range(3):
        np.testing.assert_array_equal(monitor.acc_plot.raw_data(m)[1], metric_rows(path, m, "val_acc")[:, 2])


def test_failure_before_training_is_shown(qtbot, controller, monitor, tmp_path):
    path = tmp_path / "taken.h5"
    path.write_bytes(b"not a run file")  # a run file is never overwritten: the run must fail, not clobber it
    with qtbot.waitSignal(controller.run_finished, timeout=60_000) as blocker:
        controller.start(Spec.from_dict(tiny_spec_dict(epochs=1)), path)
    ended, _ = blocker.args
    assert ended.status == "failed" and "already exists" in ended.error
    assert monitor.status() == "failed"
    assert monitor.error_label.isVisible() and "already exists" in monitor.error_label.text()
    assert path.read_bytes() == b"not a run file"
    assert not controller.is_running()


def test_legend_click_hides_and_shows_a_curve(qtbot, tmp_path, screenshot):
    plot = LiveCurvesPlot("training loss", "loss")
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    qtbot.waitExposed(plot)
    plot.reset(3, ["member 0", "member 1", "member 2"])
    x = np.linspace(0, 2, 50)
    for m in range(3):
        plot.extend(m, x, np.exp(-x) + 0.1 * m)
    plot.mark(1, 2.0, 0.5)
    plot.redraw()
    qtbot.wait(50)  # let the legend lay itself out

    sample, label = plot.legend.items[1]
    assert label.text == "member 1"
    centre = sample.mapToScene(sample.boundingRect().center())
    pos: QPoint = plot.mapFromScene(centre)
    curve = plot.curves[1]
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: not curve.isVisible(), timeout=2000)
    assert plot.curves[0].isVisible() and plot.curves[2].isVisible()
    assert not plot.mark_item(1).isVisible()  # snapshot marks follow their member
    screenshot(plot, "monitor-legend-hidden", colors=(PALETTE[0], PALETTE[2]))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(curve.isVisible, timeout=2000)
    assert plot.mark_item(1).isVisible()


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's own loop, as a reference for the vectorised version."""
    last, count, out = 0.0, 0, []
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight ** count) if weight < 1 else last)
    return out


def test_smoothing_changes_display_not_data(qtbot, controller, monitor):
    rng = np.random.default_rng(0)
    x = np.arange(1, 201) / 100
    y = np.exp(-x) + 0.2 * rng.standard_normal(200)
    y[120] = np.nan  # a diverging value shows as a gap and must not erase the rest
    plot = monitor.loss_plot
    plot.reset(2, ["member 0", "member 1"])
    plot.extend(0, x[:77], y[:77])
    plot.extend(0, x[77:], y[77:])  # appended in two parts: the running average carries over
    plot.extend(1, x, y[::-1])
    plot.redraw()
    monitor.smoothing_slider.setValue(90)
    assert monitor.smoothing_value.text() == "0.90"
    plot.redraw()
    _, shown = plot.displayed_data(0)
    np.testing.assert_allclose(shown, tensorboard_smoothing(list(y), 0.9), rtol=1e-12)
    assert np.isnan(shown[120]) and np.isfinite(shown[121:]).all()
    raw_x, raw_y = plot.raw_data(0)
    np.testing.assert_array_equal(raw_x, x)
    np.testing.assert_array_equal(raw_y, y)
    assert np.nanstd(np.diff(shown)) < np.nanstd(np.diff(y)) / 3

    monitor.smoothing_slider.setValue(0)
    assert monitor.smoothing_value.text() == "0.00"
    plot.redraw()
    np.testing.assert_array_equal(plot.displayed_data(0)[1], y)
    np.testing.assert_array_equal(plot.displayed_data(1)[1], y[::-1])


def test_curves_grow_geometrically_and_draw_once_per_turn(qtbot):
    plot = LiveCurvesPlot("validation accuracy", "accuracy", symbol="o")
    qtbot.addWidget(plot)
    plot.reset(1)
    calls = []
    original = plot.curves[0].setData
    plot.curves[0].setData = lambda *a, **k: (calls.append(len(a[0])), original(*a, **k))
    for i in range(1000):
        plot.append(0, i / 10, 0.5)
    assert calls == []  # nothing drawn per point
    qtbot.waitUntil(lambda: calls == [1000], timeout=1000)
    assert plot._series[0].x.size == 1024  # 256 doubled twice


def test_debiased_ema_and_text_helpers():
    out, last, count = debiased_ema(np.array([2.0, 2.0, 2.0]), 0.9)
    np.testing.assert_allclose(out, 2.0)  # the debiasing removes the pull towards the zero start
    assert count == 3
    assert format_duration(62) == "1:02" and format_duration(3725) == "1:02:05" and format_duration(None) == "–:––"
    progress = Progress("training", 37, 100, (37,), 100, 1, 62.0, 105.0)
    assert progress_text(progress, 3) == "37% — training · epoch 1 of 3 — 1:02 elapsed, ETA 1:45"
    # A run's bar and ETA cover all its phases: after training the bar goes on from where training left it.
    after = Progress("predicting", 3, 20, (100,), 100, 3, 80.0, 4.0, run_fraction=0.81, run_eta=9.0)
    assert progress_text(after, 3) == "81% — predicting · row 3 of 20 — 1:20 elapsed, ETA 0:09"
    assert member_summary((390, 390, 120, 130) + (0,) * 12, 390) == \
        "16 members: 2 done · 2 training (120–130/390) · 12 waiting"


def test_many_members_collapse_to_one_line(qtbot, controller, monitor, tmp_path, screenshot):
    # Driven through the controller's public signals, as the drain timer would, without training.
    members, per_epoch, epochs = 16, 20, 3
    lr = np.concatenate([np.full(per_epoch * 2, 0.1), np.linspace(0.1, 0.001, per_epoch)])
    plan = Plan(lr, np.array([len(lr) - 1]), per_epoch, epochs, members, members)
    path = tmp_path / "sixteen.h5"
    controller.run_started.emit(RunStarted("name = 'sixteen'\n[method]\nname = 'deep_ensemble'\n", plan, "cpu",
                                           tuple(f"member {m}" for m in range(members))), path)
    assert not monitor.member_progress.bars
    assert len(monitor.loss_plot.curves) == members
    rng = np.random.default_rng(1)
    steps = np.arange(per_epoch * 2)
    batch = [Scalar(m, "train_loss", int(t), (t + 1) / per_epoch, float(2.3 * np.exp(-t / 15) + 0.1 * m / members
                                                                        + 0.05 * rng.standard_normal()))
             for m in range(members) for t in steps]
    batch += [Scalar(m, "val_acc", per_epoch * e - 1, float(e), 0.5 + 0.1 * e + 0.01 * m)
              for m in range(members) for e in (1, 2)]
    batch += [Scalar(m, "lr", int(t), (t + 1) / per_epoch, float(lr[t])) for m in range(members) for t in steps]
    controller.scalars.emit(batch)
    done = tuple([plan.total_iters] * 3 + [40] * 2 + [0] * 11)
    controller.progress.emit(Progress("training", sum(done), members * plan.total_iters, done, plan.total_iters,
                                      2, 30.0, 60.0))
    assert monitor.member_progress.text() == "16 members: 3 done · 2 training (40/60) · 11 waiting"
    assert monitor.progress_bar.text() == "27% — training · epoch 2 of 3 — 0:30 elapsed, ETA 1:00"
    qtbot.waitUntil(lambda: monitor.loss_plot.displayed_data(15)[0].size == 40, timeout=2000)
    screenshot(monitor, "monitor-sixteen-members")


def test_the_monitor_says_what_to_do_before_any_run(monitor) -> None:
    assert monitor.name_label.text() == "no run yet"
    assert "Setup" in monitor.details_label.text() and "Ctrl+R" in monitor.details_label.text()
