"""How long after launch the main window is on screen, and how long the first run then waits for the engine.

Usage: python bench/startup.py [--repeat 5] [--markdown] [--tree CHECKOUT] [--platform offscreen|xcb]

Each repeat launches `python -m ensgui --workspace EMPTY_FOLDER` as a user does, in a fresh process, with a small
probe loaded first (through sitecustomize on PYTHONPATH, so the product carries no benchmark hook). The probe watches
the application's events and reports, on the system-wide monotonic clock that the launching process also reads:
- *window shown*: the main window's first paint (the moment a user sees it), from the launch;
- *idle*: the first moment after that when the event loop has been free for 0.5 s (no start-up work left waiting);
- *longest stall*: the longest gap between the ticks of a 10 ms timer in the 5 s after the window is shown
  (a preload or import that competes with the window for the interpreter shows up here);
- *modules*: how many modules are loaded when the window is shown, and whether torch is among them.
Then the process quits. --tree measures another checkout's ensgui with the same probe (side by side: repeats alternate
between the two when both are asked for with --tree and --vs-self).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = r'''
import json, os, sys, time
_out = os.environ["ENSGUI_STARTUP_PROBE"]
_watch_s = float(os.environ.get("ENSGUI_STARTUP_WATCH", "5"))

def _install():
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class _Watcher(QObject):
        def __init__(self):
            super().__init__()
            self.shown = None
            self.ticks = []
            self.timer = None

        def eventFilter(self, obj, event):
            if self.shown is None and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                self.shown = time.monotonic()
                self.modules = len(sys.modules)
                self.torch = "torch" in sys.modules
                self.timer = QTimer()
                self.timer.setInterval(10)
                self.timer.timeout.connect(self._tick)
                self.timer.start()
                self.ticks.append(self.shown)
            return False

        def _tick(self):
            now = time.monotonic()
            self.ticks.append(now)
            if now - self.shown >= _watch_s:
                self._report()

        def _report(self):
            gaps = [b - a for a, b in zip(self.ticks, self.ticks[1:])]
            idle = self.shown
            quiet = 0.0
            for t, g in zip(self.ticks[1:], gaps):
                quiet = quiet + g if g < 0.03 else 0.0
                if quiet >= 0.5:
                    idle = t
                    break
            with open(_out, "w") as f:
                json.dump({"shown": self.shown, "idle": idle, "longest_stall": max(gaps) - 0.010,
                           "modules": self.modules, "torch": self.torch,
                           "torch_after": "torch" in sys.modules}, f)
            QApplication.instance().quit()

    original = QApplication.exec
    watcher = _Watcher()

    def exec_(*_args):
        QApplication.instance().installEventFilter(watcher)
        return original()

    QApplication.exec = exec_
    _install.watcher = watcher

_install()
'''


def launch(tree: Path, workspace: Path, probe_dir: Path, qpa: str, watch: float) -> dict:
    out = probe_dir / f"probe-{time.monotonic_ns()}.json"
    env = dict(os.environ, ENSGUI_STARTUP_PROBE=str(out), ENSGUI_STARTUP_WATCH=str(watch), QT_QPA_PLATFORM=qpa,
               PYTHONPATH=os.pathsep.join([str(probe_dir), str(tree)]))
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "ensgui", "--workspace", str(workspace)], env=env, cwd=tree,
                   check=True, timeout=120, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())
    return {"shown": result["shown"] - started, "idle": result["idle"] - started,
            "stall": result["longest_stall"], "modules": result["modules"], "torch": result["torch"]}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="a checkout to measure (repeatable; default: this one)")
    parser.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM for the launched window")
    parser.add_argument("--watch", type=float, default=5.0, help="seconds watched after the window is shown")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree] or [Path(__file__).resolve().parent.parent]
    probe_dir = Path(tempfile.mkdtemp(prefix="ensgui-startup-"))
    (probe_dir / "sitecustomize.py").write_text(PROBE)
    workspace = probe_dir / "workspace"
    workspace.mkdir()
    results: dict[Path, list[dict]] = {t: [] for t in trees}
    for t in trees:  # one warm-up launch each: the first reads every file from disk
        launch(t, workspace, probe_dir, args.platform, 1.0)
    for _ in range(args.repeat):
        for t in trees:  # alternating, so a drift of the machine's speed hits every tree alike
            results[t].append(launch(t, workspace, probe_dir, args.platform, args.watch))
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"{when} · {platform.machine()} · {os.cpu_count()} cores · QT_QPA_PLATFORM={args.platform} · "
          f"{args.repeat} launches each, median (min, max)")
    if args.markdown:
        print("\n| checkout | window shown | idle | longest stall after shown | modules at show | torch at show |")
        print("|---|---|---|---|---|---|")
    for t, rows in results.items():
        cells = [summary([r["shown"] for r in rows]), summary([r["idle"] for r in rows]),
                 f"{max(r['stall'] for r in rows) * 1000:.0f} ms (max)",
                 f"{statistics.median(r['modules'] for r in rows):.0f}",
                 "yes" if any(r["torch"] for r in rows) else "no"]
        if args.markdown:
            print(f"| {t.name} | " + " | ".join(cells) + " |")
        else:
            print(f"{t}: window shown {cells[0]}; idle {cells[1]}; longest stall {cells[2]}; "
                  f"{cells[3]} modules, torch loaded: {cells[4]}")


if __name__ == "__main__":
    main()
