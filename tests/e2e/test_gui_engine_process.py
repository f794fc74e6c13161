"""The window as `ensgui` opens it: its runs train in a standby engine process, and the window never loads torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: this test process has loaded torch long ago.
SCRIPT = r"""
import json, sys
from pathlib import Path
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
sys.path.insert(0, sys.argv[2])
from support import tiny_spec_dict
from ensgui.app import create_window
from ensgui.engine.spec import Spec

app = QApplication([])
spec = Spec.from_dict(tiny_spec_dict(members=2, epochs=2, train_size=256, val_size=64, test_size=200, name="proc"))
window = create_window(Path(sys.argv[1]), spec, threads=1)
window.show()
controller = window.controller
controller.keep_engine_ready()
loop = QEventLoop()

def wait_for(condition, seconds):
    for _ in range(int(seconds * 20)):
        if condition():
            return
        QTimer.singleShot(50, loop.quit)
        loop.exec()
    raise SystemExit("timed out")

wait_for(lambda: controller._standby is not None, 30)
standby = controller._standby.process.pid
ended = []
controller.run_finished.connect(lambda e, p: ended.append((e.status, str(p))))
window.start_run(spec)
wait_for(lambda: ended, 120)
wait_for(lambda: controller._standby is not None, 30)  # a new standby for the next run
print(json.dumps({"status": ended[0][0], "path": ended[0][1], "torch": "torch" in sys.modules,
                  "standby_used": standby, "next_standby": controller._standby.process.pid}))
window.close()
"""


@pytest.mark.gui
def test_the_window_trains_in_its_standby_engine_and_never_loads_torch(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT / "tests")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "finished"
    assert report["torch"] is False
    assert report["next_standby"] != report["standby_used"]
    import h5py

    with h5py.File(report["path"], "r", locking=False) as f:
        assert f.attrs["status"] == "finished" and f["eval/test/probs"].shape[0] == 2
        assert int(f.attrs["pid"]) == report["standby_used"]  # the standby wrote it: Start did not wait for torch
        log = [line.decode() for line in f["log"][()]]
    assert any("CPU thread(s)" in line for line in log)
