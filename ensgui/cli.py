"""The `ensgui` command: the GUI by default, `run` / `sweep` to train headless, `interpolate` to add interpolations
to a run, `show` to print a run or sweep file."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn, Sequence, TextIO

from . import __version__
from .engine.errors import EnsguiError, one_line
from .text import format_duration, printable

if TYPE_CHECKING:
    from .engine.spec import Spec
    from .storage.reader import RunData

EXIT_USER_ERROR = 2
# torch takes any positive count, but far beyond the cores it is a typo, not a choice; a run's stored count must fit.
MAX_THREADS = 256
MAX_PROBES = 10_000
MAX_WIDTH_OBJECTS = 1_000_000
MAX_INTERPOLATION_OBJECTS = 10_000_000


class TerminalProgress:
    """An event sink that draws one progress line on a terminal (or prints a line per 10% elsewhere)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, show_errors: bool = True) -> None:
        self.stream = stream
        self.width = width
        # False where the caller prints the run's error itself, so that it appears once.
        self.show_errors = show_errors
        self.tty = stream.isatty()
        self._last_decile = -1

    def __call__(self, event: object) -> None:
        from .engine.events import LogLine, Progress, RunEnded, RunStarted

        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, RunStarted):
            self._last_decile = -1  # a sweep runs one run after another through the same sink
        elif isinstance(event, LogLine):
            self._line(event.text)
        elif isinstance(event, RunEnded):
            self._line(f"run {event.status} after {format_duration(event.elapsed)}"
                       + (f": {event.error}" if event.error and self.show_errors else ""))

    def _progress(self, p: object) -> None:
        from .engine.progress import describe, shown_eta, shown_fraction

        fraction = shown_fraction(p)
        bar = "#" * int(fraction * self.width) + "." * (self.width - int(fraction * self.width))
        where = describe(p) + (f" · {p.done}/{p.total} member-steps" if p.phase == "training" and p.member_total
                               else f" · {p.done}/{p.total}" if p.run_fraction is None else "")
        text = (f"[{bar}] {fraction:4.0%} {where} · {format_duration(p.elapsed)} elapsed · "
                f"ETA {format_duration(shown_eta(p))}")
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif int(fraction * 10) > self._last_decile:
            self._last_decile = int(fraction * 10)
            self.stream.write(text + "\n")

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


def cmd_run(args: argparse.Namespace) -> int:
    spec = _spec_with_overrides(args)  # before the imports below, which load torch: a bad file is answered at once

    from .engine.task_state import TaskState
    from .storage.workspace import Workspace
    from .tasks.run import check_run_inputs, run_to_file

    check_run_inputs(spec)  # a bad input ends the command here: no output folder, run file or progress line yet
    path = Workspace(Path(args.out)).new_run_path(spec.name)
    # The run's error, if any, ends the command as its last line (main), so the progress lines leave it out.
    result = _until_interrupted(lambda stop: run_to_file(spec, path, TaskState([TerminalProgress(show_errors=False)],
                                                                               stop), threads=args.threads))
    return _report(path, result)


def cmd_resume(args: argparse.Namespace) -> int:
    from .engine.task_state import TaskState
    from .tasks.run import resume_run

    path = Path(args.run)
    result = _until_interrupted(lambda stop: resume_run(path, TaskState([TerminalProgress(show_errors=False)],
                                                                        stop), threads=args.threads))
    return _report(path, result)


def _until_interrupted(start):
    """Run start(stop) with Ctrl-C setting stop: the run stops at its next step, evaluates and stays resumable."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        return start(stop)
    finally:
        signal.signal(signal.SIGINT, previous)


def _report(path: Path, result) -> int:
    """Print the run file and its table; a failed run is one error line (exit 2), a stopped one exits 1."""
    if result.status in ("failed", "diverged") and not path.exists():
        raise EnsguiError(result.error)
    print(path)
    if path.exists():
        _print_table(path, "test", sys.stdout)
    if result.status in ("failed", "diverged"):
        raise EnsguiError(result.error)
    if result.status == "cancelled":
        print(f"stopped; continue it with: ensgui resume {path}", file=sys.stderr)
    return 0 if result.status == "finished" else 1


def _spec_with_overrides(args: argparse.Namespace) -> Spec:
    """The spec file with the command line's --seed and --device applied (and checked again)."""
    from .engine.spec import Spec

    spec = Spec.load(args.spec)
    overrides = {key: getattr(args, key) for key in ("seed", "device") if getattr(args, key) is not None}
    return spec.with_values("", **overrides) if overrides else spec


def _print_table(path: Path, split: str, out: TextIO) -> None:
    from .storage.reader import read_run

    _print_eval(read_run(path, with_probs=False), split, out)


def _print_eval(run: RunData, split: str, out: TextIO) -> None:
    """A split's metrics against ensemble size, as a table."""
    from .engine.methods import curve_order_note
    from .text import metric_scale

    data = run.eval.get(split)
    if data is None or not data.curves:
        out.write(f"no {split} evaluation stored (status {run.summary.status})\n")
        return
    names = [m for m in ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc") if m in data.curves]
    out.write(f"{split}: metrics vs ensemble size ({curve_order_note(run.spec)})\n")
    # Error in percent, as the window and the papers show it (the file keeps the fraction).
    headers = [f"{n} (%)" if metric_scale(n) != 1 else n for n in names]
    out.write("   k  " + "  ".join(f"{h:>17}" for h in headers) + "\n")
    rows = len(next(iter(data.curves.values())))
    for k in range(rows):
        cells = [f"{data.curves[n][k, 0] * metric_scale(n):8.4f} ± {data.curves[n][k, 1] * metric_scale(n):6.4f}"
                 for n in names]
        out.write(f"{k + 1:4d}  " + "  ".join(cells) + "\n")
    if data.partial:
        labels = [run.row_names[r] if r < len(run.row_names) else f"row {r}" for r in sorted(data.partial)]
        out.write("partial rows (stopped in flight, evaluated as they stood): "
                  + ", ".join(f"{label} at epoch {data.partial[r]:.2f}" for label, r in zip(labels, sorted(data.partial)))
                  + "\n")


def cmd_sweep(args: argparse.Namespace) -> int:
    from .engine.spec import Spec
    from .engine.sweep import parse_gap_values
    from .engine.task_state import TaskState
    from .storage.sweep_store import read_sweep
    from .tasks.run import check_run_inputs
    from .tasks.sweep import resume_gap_sweep, run_gap_sweep

    if args.resume is not None and (args.spec is not None or args.gaps is not None):
        raise EnsguiError("--resume takes the spec and the gaps from the sweep file; drop SPEC and --gaps")
    if args.resume is None and (args.spec is None or args.gaps is None or args.out is None):
        raise EnsguiError("a sweep needs SPEC, --gaps and --out (or --resume SWEEP_FILE to go on with one)")
    if args.resume is None:  # checked before anything trains
        gaps = parse_gap_values(args.gaps)
        spec = Spec.load(args.spec)
        check_run_inputs(spec)

    def start(stop: threading.Event) -> Path:
        state = TaskState([TerminalProgress()], stop)
        if args.resume is not None:
            return resume_gap_sweep(Path(args.resume), state, threads=args.threads)
        return run_gap_sweep(spec, gaps, Path(args.out), state, threads=args.threads,
                             width_objects=args.width_objects, probes=args.probes)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        path = start(stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(path)
    _print_sweep(path, sys.stdout)
    return 0 if read_sweep(path).status == "finished" else 1


def _print_sweep(path: Path, out: TextIO) -> None:
    from .storage.sweep_store import read_sweep

    sweep = read_sweep(path)
    out.write(f"# {path.name}: gap sweep, status {sweep.status}, {len(sweep)} of {sweep.extra.get('planned', '?')} "
              f"points, gaps \"{sweep.requested}\", width on {sweep.width_objects} training objects, "
              f"created {sweep.created}\n")
    if sweep.error:
        out.write(f"# error: {sweep.error}\n")
    out.write("# member 0 of each run; AUROC = misclassification ROC-AUC with max probability / predicted-class "
              "margin as the score; traces of CE: mean ± standard error\n")
    head = ["gap", "label", "train acc", "test acc", "AUROC prob", "AUROC margin", "tr H", "tr F (true)",
            "tr F (empirical)", "run"]
    widths = [8, 12, 9, 9, 10, 12, 19, 19, 19, 0]
    out.write("  ".join(f"{h:>{w}}" if w else h for h, w in zip(head, widths)) + "\n")
    for i in sweep.order():
        traces = [f"{f'{t[i, 0]:.4g} ± {t[i, 1]:.2g}':>19}" for t in (sweep.hessian, sweep.fisher_true,
                                                                 sweep.fisher_empirical)]
        cells = [f"{sweep.gaps[i]:8.4f}", f"{sweep.labels[i]:>12}", f"{sweep.train_acc[i]:9.4f}",
                 f"{sweep.test_acc[i]:9.4f}", f"{sweep.auroc_prob[i]:10.4f}", f"{sweep.auroc_margin[i]:12.4f}",
                 *traces, sweep.runs[i] + ("" if sweep.statuses[i] == "finished" else f" ({sweep.statuses[i]})")]
        out.write("  ".join(cells) + "\n")


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .engine.errors import CancelledError
    from .engine.task_state import TaskState
    from .storage.reader import list_snapshots
    from .tasks.interpolation import compute_interpolations

    path = Path(args.run)
    pairs = _interpolation_pairs(list_snapshots(path), args.pair)
    labels: list[str] = []

    def start(stop: threading.Event) -> None:
        # Appended as each pair is stored (the task emits it), so that a stop still prints what was kept.
        def keep(event: object) -> None:
            from .engine.events import Artefact

            if isinstance(event, Artefact):
                labels.append(event.name.split("/", 1)[1])

        compute_interpolations(path, pairs, args.points, TaskState([TerminalProgress(), keep], stop),
                               train_objects=args.train_objects, test_objects=args.test_objects,
                               threads=args.threads)

    try:
        _until_interrupted(start)
    except CancelledError:
        print(path)
        _print_interpolations(path, labels, sys.stdout)
        print(f"stopped: {len(labels)} of {len(pairs)} pair(s) stored", file=sys.stderr)
        return 1
    print(path)
    _print_interpolations(path, labels, sys.stdout)
    return 0


def _interpolation_pairs(snapshots: list, named: list[list[str]] | None) -> list:
    """--pair A B as snapshots (member:index each), or the screen's default: final vs each earlier snapshot."""
    from .engine.interpolation import pairs_against_final

    if not named:
        pairs = pairs_against_final(snapshots)
        if not pairs:
            raise EnsguiError("every member of this run has a single snapshot, so none has an earlier one: name the "
                              "pairs with --pair, e.g. --pair 0:0 1:0 (member:snapshot)")
        return pairs
    by_key = {(s.member, s.index): s for s in snapshots}
    pairs = []
    for texts in named:
        ends = []
        for text in texts:
            try:
                key = tuple(int(part) for part in text.split(":"))
            except ValueError:
                key = ()
            if len(key) != 2 or key not in by_key:
                known = ", ".join(f"{m}:{i}" for m, i in sorted(by_key)) or "none"
                raise EnsguiError(f"--pair {text!r} is not a stored snapshot as member:snapshot (stored: {known})")
            ends.append(by_key[key])
        if ends[0] is ends[1]:
            raise EnsguiError(f"--pair {texts[0]} {texts[1]} names one snapshot twice: pick two different ones")
        pairs.append(tuple(ends))
    return pairs


def _print_interpolations(path: Path, labels: list[str], out: TextIO) -> None:
    """Every interpolation just stored, as a table along λ."""
    from .storage.analysis import read_interpolations

    stored = read_interpolations(path)
    for label in labels:
        result, attrs = stored[label]
        out.write(f"{label}: {attrs.get('a')} (λ = 0) → {attrs.get('b')} (λ = 1); "
                  f"{attrs.get('objects', '')}; {attrs.get('seconds', 0):.1f} s on {attrs.get('device', '?')}\n")
        out.write("       λ  train loss  train error   test loss  test error\n")
        for row in zip(result.lambdas, result.train_loss, result.train_error, result.test_loss, result.test_error):
            out.write("  " + "  ".join(f"{v:10.4f}" for v in row) + "\n")


def cmd_show(args: argparse.Namespace) -> int:
    from .storage.reader import read_run
    from .storage.workspace import is_sweep_path

    if is_sweep_path(args.run):
        _print_sweep(Path(args.run), sys.stdout)
        return 0
    # The probabilities are checked (row by row, not kept), so that damage in them is found here, not on a later open.
    run = read_run(Path(args.run), with_probs=False, check_probs=True)
    s = run.summary
    print(f"# {printable(s.path.name)}: status {s.status}, method {s.method}, dataset {s.dataset}, model {s.model}, "
          f"created {s.created}, device {s.device}"
          + (f", {run.elapsed:.1f} s" if run.elapsed else ""))
    if run.error:
        print(f"# error: {run.error}")
    print(run.spec_toml.rstrip())
    print()
    for split in args.split:
        _print_eval(run, split, sys.stdout)
    return 0


class CommandLineParser(argparse.ArgumentParser):
    """argparse answering a bad command line as every user error is answered: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"ensgui: error: {message} (see `{self.prog} --help`)\n")


def bounded_int(low: int, high: int, fix: str) -> Callable[[str], int]:
    """An argparse type: an integer from low to high, else an error saying so and how to fix it."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: must be an integer from {low:,} to {high:,}; {fix}")
        return value

    return parse


def _add_threads(parser: argparse.ArgumentParser, default: str = "torch's choice") -> None:
    cores = os.cpu_count() or 1
    parser.add_argument("--threads", type=bounded_int(1, MAX_THREADS, f"drop --threads to let torch choose (this "
                                                                      f"machine has {cores} CPU cores)"),
                        default=None, help=f"torch CPU threads (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    from .engine.interpolation import (DEFAULT_POINTS, DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, MAX_POINTS,
                                       MIN_POINTS)
    from .engine.spec import TOP_SCHEMA
    from .engine.width import DEFAULT_MAX_ITER, DEFAULT_WIDTH_OBJECTS

    top = {p.name: p for p in TOP_SCHEMA}  # --seed and --device take what the spec's own fields take
    seeds = bounded_int(int(top["seed"].minimum), int(top["seed"].maximum), "drop --seed to keep the spec's")
    parser = CommandLineParser(prog="ensgui", description="A desktop lab for ensembles of neural networks.")
    parser.add_argument("--version", action="version", version=f"ensgui {__version__}")
    parser.add_argument("--workspace", help="folder of run files the GUI lists (default $ENSGUI_WORKSPACE or "
                                            "~/ensgui-runs)")
    parser.add_argument("--spec", help="open the GUI on this spec instead of the default experiment")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="train a spec headless and write its run file")
    run.add_argument("spec", help="a TOML spec, e.g. resources/presets/smoke-deep_ensemble.toml")
    run.add_argument("--out", required=True, help="folder for the run file (created if missing)")
    _add_threads(run)
    run.add_argument("--seed", type=seeds, default=None, help="override the spec's seed")
    run.add_argument("--device", choices=top["device"].choices, default=None, help="override the spec's device")
    run.set_defaults(func=cmd_run)
    resume = sub.add_parser("resume", help="continue a stopped (cancelled, killed or failed) run in its own file "
                                           "from its latest checkpoint")
    resume.add_argument("run", help="the run file (.h5)")
    _add_threads(resume, "the run's own, which gives bitwise the numbers of an uninterrupted run on the CPU")
    resume.set_defaults(func=cmd_resume)
    sweep = sub.add_parser("sweep", help="train a spec once per gap of the gap loss, measure each net's width, and "
                                         "write the runs and a summary (.sweep.h5)")
    sweep.add_argument("spec", nargs="?", help="a TOML spec; its [loss] becomes the gap loss (last-layer options "
                                               "kept)")
    sweep.add_argument("--gaps", help="gap values, e.g. \"0, 0.5, 1, 2, 4, mean\" (mean: the mean training "
                                      "margin of the gap-0 run)")
    sweep.add_argument("--out", help="folder for the run files and the summary (created if missing)")
    sweep.add_argument("--resume", metavar="SWEEP_FILE",
                       help="go on with a cancelled or interrupted sweep (.sweep.h5) with its own spec, gaps and "
                            "width settings: its finished points are kept, the rest are trained")
    sweep.add_argument("--width-objects", type=bounded_int(1, MAX_WIDTH_OBJECTS, "2000 is the usual choice"),
                       default=DEFAULT_WIDTH_OBJECTS, help="training objects the Hessian and Fisher traces use "
                                                           f"(default {DEFAULT_WIDTH_OBJECTS})")
    sweep.add_argument("--probes", type=bounded_int(1, MAX_PROBES, "at most 100 is the usual choice"),
                       default=DEFAULT_MAX_ITER, help=f"most Hutchinson probes of the Hessian trace "
                                                      f"(default {DEFAULT_MAX_ITER})")
    _add_threads(sweep)
    sweep.set_defaults(func=cmd_sweep)
    interp = sub.add_parser("interpolate", help="store the losses along the line between pairs of a finished run's "
                                                "snapshots in its file (the Interpolation screen's computation)")
    interp.add_argument("run", help="the run file (.h5)")
    interp.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"),
                        help="snapshots a (λ = 0) and b (λ = 1) as member:snapshot, e.g. --pair 0:1 0:3; repeat for "
                             "more pairs (default: each member's final snapshot against each of its earlier ones)")
    interp.add_argument("--points", type=bounded_int(MIN_POINTS, MAX_POINTS, f"the default is {DEFAULT_POINTS}"),
                        default=DEFAULT_POINTS, help=f"λ grid points from 0 to 1 (default {DEFAULT_POINTS})")
    objects = bounded_int(1, MAX_INTERPOLATION_OBJECTS, "a number beyond the split's size uses all of it")
    interp.add_argument("--train-objects", type=objects, default=DEFAULT_TRAIN_OBJECTS,
                        help="training objects every λ is measured on (and BatchNorm statistics recomputed from): the "
                             f"first of the run's shuffled training split (default {DEFAULT_TRAIN_OBJECTS})")
    interp.add_argument("--test-objects", type=objects, default=DEFAULT_TEST_OBJECTS,
                        help="test objects every λ is measured on: a class-stratified sample of the test split drawn "
                             f"with the run's seed, all of it when larger (default {DEFAULT_TEST_OBJECTS})")
    _add_threads(interp)
    interp.set_defaults(func=cmd_interpolate)
    show = sub.add_parser("show", help="print a run file's spec and its metrics-vs-size table, or a sweep's table")
    show.add_argument("run", help="a run file (.h5) or a gap-sweep summary (.sweep.h5)")
    show.add_argument("--split", nargs="+", default=["test"], choices=("test", "val"))
    show.set_defaults(func=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version or a bad command line (already answered): in-process callers get
        return int(exc.code or 0)  # the code rather than an exit
    try:
        if args.command is None:
            return _gui(args)
        return args.func(args)
    except EnsguiError as exc:
        print(f"ensgui: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR


def _gui(args: argparse.Namespace) -> int:
    from .app import run_gui
    from .engine.spec import Spec

    spec = Spec.load(args.spec) if args.spec else None
    return run_gui(Path(args.workspace) if args.workspace else None, spec)


if __name__ == "__main__":
    sys.exit(main())
