"""How long the GUI thread is blocked when a user opens stored runs, measured by a 10 ms QTimer probe.

Usage: python bench/gui_latency.py [--runs FOLDER] [--repeat 3] [--markdown] [--tree CHECKOUT]

Without --runs it first trains three small runs into a temporary workspace (a deep ensemble of 5 and a snapshot
ensemble of 4 cycles on 2k Fashion-MNIST objects, a gap-boosting run of 3 models; every one evaluated on the full
10k test set), so that Results, Margins, Boosting, Interpolation and Weight space all have something to draw.

A QTimer ticks every 10 ms on the GUI thread; a gap between two ticks longer than that is time the window could
not react. For every run file, as a user does it, and --repeat times:
- open: Open on the Runs screen, until Results has drawn the run, then 0.3 s more; split into "reading" (until
  the document announces the run: the worker reads the file while the GUI thread waits for nothing) and
  "drawing" (from then on);
- first look: Interpolation, then Weight space, then Results' Margins (or Boosting) tab shown for the first time;
- reopen: the same run opened again (the document's cache).
Printed per phase: the longest stall (the largest gap minus 10 ms), its 99th percentile and the number of ticks.

--tree measures another checkout of ensgui with the same runs (the one before issue 10, say: its window opened a
run on the GUI thread, so it has no reading phase and no document; screens are reached by their attributes).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QTabWidget  # noqa: E402

INTERVAL_MS = 10
SETTLE_MS = 300


class Probe:
    """Timestamps of a 10 ms timer's ticks; stalls are the gaps beyond the interval."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.ticks: list[float] = []
        self.mark: float | None = None  # a moment within the measured window (the run announced)
        self.timer = QTimer()
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(self.now()))

    def now(self) -> float:
        return self.clock.nsecsElapsed() / 1e6

    def start(self) -> None:
        self.ticks = []
        self.mark = None
        self.clock.start()
        self.timer.start()
        self.ticks.append(0.0)

    def stop(self) -> np.ndarray:
        self.ticks.append(self.now())
        self.timer.stop()
        return np.maximum(np.diff(np.asarray(self.ticks)) - INTERVAL_MS, 0.0)

    def split(self, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stalls before the mark and those from the gap that holds the mark on."""
        ends = np.asarray(self.ticks[1:])
        after = ends > (self.mark if self.mark is not None else np.inf)
        return gaps[~after], gaps[after]


def pump_until(condition, timeout_ms: int = 120_000, then_ms: int = SETTLE_MS) -> None:
    """Run the event loop until condition() holds, then then_ms more (the probe keeps ticking throughout)."""
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        QTimer.singleShot(5, loop.quit)
        loop.exec()
    QTimer.singleShot(then_ms, loop.quit)
    loop.exec()


def train_runs(folder: Path) -> list[Path]:
    from ensgui.engine.spec import Spec
    from ensgui.engine.task_state import TaskState
    from ensgui.resources import PRESETS
    from ensgui.storage.workspace import Workspace
    from ensgui.tasks.run import run_to_file

    workspace = Workspace(folder)
    paths = []
    for preset, changes in (("smoke-deep_ensemble", {"members": 5}), ("smoke-snapshot", {}),
                            ("smoke-gap_boosting", {"models": 3})):
        spec = Spec.load(str(PRESETS / f"{preset}.toml"))
        if changes:
            spec = spec.with_values("method", **changes)
        path = workspace.new_run_path(spec.name)
        print(f"training {spec.name} into {path.name}", file=sys.stderr)
        result = run_to_file(spec, path, TaskState(), threads=max(1, (os.cpu_count() or 2) - 1))
        assert result.status == "finished", result.error
        paths.append(path)
    return paths


def screen(window, key: str):
    return window.screen(key) if hasattr(window, "screens") else getattr(window, key)


def show(window, key: str) -> None:
    window.tabs.setCurrentWidget(screen(window, key))


def opened(window, path: Path) -> bool:
    """Whether the window holds the run (at once, for a window that reads runs on the GUI thread)."""
    document = getattr(window, "document", None)
    return document is None or (document.current is not None and document.current.path == path
                                and not document.busy())


def measure(window, path: Path, probe: Probe) -> dict[str, np.ndarray]:
    results = screen(window, "results")
    show(window, "runs")
    pump_until(lambda: True, then_ms=100)
    phases: dict[str, np.ndarray] = {}

    probe.start()
    window.open_run(path)
    pump_until(lambda: opened(window, path))
    phases["open"] = probe.stop()
    if hasattr(window, "document"):
        phases["open: reading"], phases["open: drawing"] = probe.split(phases["open"])

    looks = []
    for key in ("interpolation", "weight_space"):
        probe.start()
        show(window, key)
        pump_until(lambda: True)
        looks.append(probe.stop())
    show(window, "results")
    pump_until(lambda: True, then_ms=100)
    for tabs in results.findChildren(QTabWidget):
        for i in range(tabs.count()):
            if tabs.tabText(i) in ("Margins", "Boosting"):
                probe.start()
                tabs.setCurrentIndex(i)
                pump_until(lambda: True)
                looks.append(probe.stop())
    phases["first look"] = np.concatenate(looks)

    show(window, "runs")
    pump_until(lambda: True, then_ms=100)
    probe.start()
    window.open_run(path)
    pump_until(lambda: True)
    phases["reopen"] = probe.stop()
    return phases


def run_spec_for_bench():
    """The run that --run starts: a deep ensemble of 3 on 2k objects, 2 epochs, the full 10k test set."""
    from ensgui.engine.spec import Spec
    from ensgui.resources import PRESETS

    return Spec.load(str(PRESETS / "smoke-deep_ensemble.toml"))


def measure_run(window, probe: Probe) -> dict[str, np.ndarray]:
    """Start a run as Start does and split the stalls into start (until the first training curve point),
    training (until the run ends) and end of run (until Results has drawn the finished run, then 0.3 s)."""
    controller = window.controller
    marks: dict[str, float] = {}
    controller.scalars.connect(lambda _batch: marks.setdefault("first scalar", probe.now()))
    controller.run_finished.connect(lambda *_: marks.setdefault("ended", probe.now()))
    spec = run_spec_for_bench()
    show(window, "setup")
    pump_until(lambda: True, then_ms=300)
    probe.start()
    window.start_run(spec)
    pump_until(lambda: "ended" in marks, timeout_ms=600_000, then_ms=0)
    path = controller.current_path
    pump_until(lambda: opened(window, path))
    gaps = probe.stop()
    ends = np.asarray(probe.ticks[1:])
    first, ended = marks.get("first scalar", marks["ended"]), marks["ended"]
    return {"run: start": gaps[ends <= first], "run: training": gaps[(ends > first) & (ends <= ended)],
            "run: end of run": gaps[ends > ended]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, help="a workspace folder of run files (default: train three)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--tree", type=Path, help="measure the ensgui package of this checkout instead")
    parser.add_argument("--run", action="store_true",
                        help="also start a run in the window (Start) and measure start, training and its end")
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    folder = args.runs or Path(tempfile.mkdtemp(prefix="ensgui-latency-"))
    # --run alone measures a run started in the window only; add --runs to open stored runs as well.
    paths = sorted(folder.glob("*.h5")) if args.runs else [] if args.run else train_runs(folder)
    paths = [p for p in paths if not p.name.endswith(".sweep.h5")]

    app = QApplication.instance() or QApplication(sys.argv)
    from ensgui.app import create_window

    window = create_window(folder)
    window.resize(1280, 820)
    window.show()
    try:  # as ensgui.app.run_gui does after showing the window (a checkout from before it has no such step)
        from ensgui.app import freeze_long_lived_objects
    except ImportError:
        pass
    else:
        freeze_long_lived_objects()
    try:  # and collects cycles on the GUI thread only
        from ensgui.app import collect_garbage_on_the_gui_thread
    except ImportError:
        collector = None
    else:
        collector = collect_garbage_on_the_gui_thread()  # noqa: F841 - lives as long as the window
    ready = getattr(window.controller, "keep_engine_ready", None)
    if ready is not None:  # as ensgui.app.run_gui does: an engine process loads torch while the user looks
        ready()
        pump_until(lambda: True, then_ms=8000)
    index = getattr(getattr(window, "context", None), "index", None)
    pump_until(lambda: index is None or index.scanned)
    probe = Probe()
    if hasattr(window, "document"):
        window.document.loaded.connect(lambda _loaded: setattr(probe, "mark", probe.now()))
    stalls: dict[str, list[np.ndarray]] = {}
    per_run: list[tuple[str, str, float]] = []
    for _ in range(args.repeat if args.run else 0):
        for phase, gaps in measure_run(window, probe).items():
            stalls.setdefault(phase, []).append(gaps)
            per_run.append(("(a run started in the window)", phase, float(gaps.max()) if len(gaps) else 0.0))
    for _ in range(args.repeat):
        for path in paths:
            if hasattr(window, "document"):
                window.document._cache.clear()  # every repeat opens the file afresh, as after a restart
            for phase, gaps in measure(window, path, probe).items():
                stalls.setdefault(phase, []).append(gaps)
                per_run.append((path.name, phase, float(gaps.max()) if len(gaps) else 0.0))
    window.close()
    app.processEvents()

    import ensgui

    print(f"# {datetime.date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
          f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')} · {len(paths)} runs x {args.repeat} · "
          f"ensgui from {Path(ensgui.__file__).parent.parent}")
    print("| phase | longest stall (ms) | p99 stall (ms) | probe ticks |")
    print("|---|---|---|---|")
    for phase, parts in stalls.items():
        gaps = np.concatenate(parts)
        print(f"| {phase} | {gaps.max():.0f} | {np.percentile(gaps, 99):.0f} | {len(gaps)} |")
    if not args.markdown:
        print()
        for name, phase, worst in per_run:
            print(f"{name:50s} {phase:10s} {worst:6.0f} ms")


if __name__ == "__main__":
    main()
