"""The engine in a process of its own: a window's runs train there, so they never hold the window's interpreter lock.

Importing torch holds the interpreter lock for up to 200 ms at a time, and a training loop's Python work and its
run-file writes hold it too: in a thread of the window's process each of these is a frozen window. A child
process (`python -m ensgui.tasks.engine_process FD`) imports the engine as soon as it is spawned, then waits for
one job on its standard input; while the job runs it writes the events a window shows to the pipe FD (length-
prefixed pickles) and reads "stop" from its standard input. The end of that input (a window that closed or died)
is a stop too: the run checkpoints, evaluates what it has and stays resumable. One process runs one job.

The child knows what importing ensgui registers. A method, model or dataset registered at run time in the window's
own process (a test's toy method) is unknown there: such a window runs its jobs in a thread instead
(RunController(backend="thread")).
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from threading import Event as StopFlag

from ..engine.events import Event, LogLine, RunEnded, Sink
from ..text import printable
from .engine_info import EngineInfo, engine_info
from .jobs import Job, execute, window_event

STOP = b"stop\n"


_HEADER = struct.Struct("!Q")
POLL_S = 0.1  # how often the parent looks at the stop flag while it waits for events
STDERR_TAIL = 6  # lines of a crashed engine's standard error quoted in its end status


def write_frame(stream, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream) -> object:
    """The next value, or EOFError at the end of the stream (also inside a frame cut short)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size, = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    try:
        return pickle.loads(data)
    except Exception as exc:  # the frame was read whole, so the stream stays in step after this one
        raise UnreadableFrame(f"{type(exc).__name__}: {exc}") from exc


class UnreadableFrame(Exception):
    """A frame whose value did not unpickle here (a bug: both ends run the same code)."""


class EngineProcess:
    """One engine child, spawned at once (it loads torch while nobody waits) and given one job later."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        # A session of its own: Ctrl-C in the terminal that started the window reaches the window, which stops the
        # run properly, rather than killing the engine in mid-write.
        self.process = subprocess.Popen([sys.executable, "-m", "ensgui.tasks.engine_process", str(write_end)],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                        pass_fds=(write_end,), env=env, start_new_session=True)
        os.close(write_end)
        self._events = os.fdopen(read_end, "rb")
        self._used = False
        self._reading = threading.Lock()  # poll_info (GUI thread) and run (a worker) never read the pipe together
        self.info: EngineInfo | None = None

    def poll_info(self) -> EngineInfo | None:
        """The engine's EngineInfo once it has loaded torch, else None; never waits."""
        if self.info is None and self._reading.acquire(blocking=False):
            try:
                if not self._used and select.select([self._events], [], [], 0)[0]:
                    self._take(read_frame(self._events))
            except EOFError:
                pass
            finally:
                self._reading.release()
        return self.info

    def _take(self, frame: object) -> object | None:
        """A frame from the pipe: the engine's info is kept here, anything else is an event for the caller."""
        if isinstance(frame, EngineInfo):
            self.info = frame
            return None
        return frame

    def run(self, job: Job, sink: Sink, stop: StopFlag, threads: int) -> None:
        """Run job in the child, sending its events to sink until it ends; the last event is the job's RunEnded,
        also when the child dies (then with what its standard error said)."""
        with self._reading:
            if self._used:
                raise RuntimeError("an engine process runs one job")
            self._used = True
        ended = False
        try:
            write_frame(self.process.stdin, (job, threads))
        except OSError:
            pass  # the child is gone already: its exit status says why, below
        stop_sent = False
        try:
            while True:
                if stop.is_set() and not stop_sent:
                    stop_sent = self._send_stop()
                ready, _, _ = select.select([self._events], [], [], POLL_S)
                if not ready:
                    continue
                try:
                    event = self._take(read_frame(self._events))
                except EOFError:
                    break
                except UnreadableFrame as exc:
                    # One lost event must not end the run in the window without its end status: say it, go on.
                    event = LogLine(f"warning: an event from the engine could not be read ({exc})")
                if event is None:
                    continue
                ended = ended or isinstance(event, RunEnded)
                sink(event)
        finally:
            self._events.close()
            code = self.process.wait()
        if not ended:
            sink(RunEnded("failed", self._died(code)))

    def _send_stop(self) -> bool:
        try:
            self.process.stdin.write(STOP)
            self.process.stdin.flush()
        except OSError:
            pass  # it has ended, or is ending: there is nothing left to stop
        return True

    def _died(self, code: int) -> str:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self._stderr.seek(0)
        lines = [printable(line) for line in self._stderr.read().decode("utf-8", "replace").splitlines()
                 if line.strip()][-STDERR_TAIL:]
        said = f" ({' / '.join(lines)})" if lines else ""
        return (f"the engine process {how} before the run ended{said}; the run file keeps every finished epoch "
                f"and its checkpoint: Resume continues it")

    def close(self) -> None:
        """Let a child that never got a job go (it exits at the end of its input) and reap it."""
        if self._used:
            return
        self._used = True
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._events.close()


# ------------------------------------------------------------------ the child


def _watch_input(stop: StopFlag) -> None:
    """Set the stop flag when the parent says stop or goes away (the end of standard input)."""
    for line in iter(sys.stdin.buffer.readline, b""):
        if line == STOP:
            stop.set()
    stop.set()


class _EventPipe:
    """The child's sink: window events as frames on the pipe; a parent that has gone no longer hears them."""

    def __init__(self, fd: int) -> None:
        self.stream = os.fdopen(fd, "wb")
        self.lock = threading.Lock()
        self.open = True

    def __call__(self, event: Event) -> None:
        shown = window_event(event)
        if shown is not None:
            self.send(shown)

    def send(self, frame: object) -> None:
        if not self.open:
            return
        with self.lock:
            try:
                write_frame(self.stream, frame)
            except OSError:
                self.open = False  # the window closed: the run goes on to its stop and its file


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops a run through "stop", never by a signal
    events = _EventPipe(int(argv[0]))
    # Loaded now, while no job waits: this is the time a run would otherwise spend before its first step.
    for name in ("torch", "ensgui.tasks.run", "ensgui.tasks.sweep"):
        importlib.import_module(name)
    events.send(engine_info())
    try:
        job, threads = read_frame(sys.stdin.buffer)
    except EOFError:
        return 0  # a standby that was never needed
    stop = threading.Event()
    threading.Thread(target=_watch_input, args=(stop,), name="ensgui-engine-stop", daemon=True).start()
    execute(job, events, stop, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

