"""Every bad run file and gap-sweep summary is answered with one line: `ensgui show` exits with 2 and prints
`ensgui: error: ...` once, with no traceback; opening a run as the GUI does raises that line; and nothing is
written to the file (the corpus is tests/corpus/run_files.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import pytest

from corpus.run_files import (BadFile, make, names, run_file_corpus, sweep_file_corpus, write_good_sweep)
from ensgui import cli
from ensgui.storage.file_checks import UnreadableFile
from ensgui.storage.opened_run import open_run_file
from ensgui.storage.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
RUN_CASES = run_file_corpus()
SWEEP_CASES = sweep_file_corpus()
FIFO_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def goods(finished_runs, tmp_path_factory) -> dict[str, Path]:
    """The good files the corpus spoils: a finished deep ensemble and a gap-sweep summary."""
    folder = tmp_path_factory.mktemp("good-sweep")
    return {"run": finished_runs["deep_ensemble"], "sweep": write_good_sweep(folder / "good.sweep.h5",
                                                                             finished_runs["deep_ensemble"])}


def fingerprint(path: Path) -> tuple:
    """What a reader must leave as it was: the bytes and mode of a file, the listing of a folder, or absence."""
    if not os.path.lexists(path):
        return ("absent",)
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode):
        return ("folder", sorted(os.listdir(path)))
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    with open(path, "rb") as f:
        return ("file", info.st_mode, info.st_size, hashlib.sha256(f.read()).hexdigest())


def show(path: Path, capsys) -> tuple[int, str, str]:
    """`ensgui show PATH` in this process: its exit code and what it printed on stdout and stderr."""
    capsys.readouterr()
    code = cli.main(["show", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_answered(code: int, out: str, err: str, words: tuple[str, ...]) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ensgui: error: "), err
    assert_says(lines[0], words)


def assert_says(message: str, words: tuple[str, ...]) -> None:
    assert "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def skip_when_root_reads_it(bad: BadFile) -> None:
    if bad.root_reads_it and os.geteuid() == 0:
        pytest.skip("root reads any file; test_a_file_without_permission runs it as another user")


@pytest.mark.parametrize("bad", RUN_CASES, ids=names(RUN_CASES))
def test_bad_run_file(bad, goods, tmp_path, capsys):
    skip_when_root_reads_it(bad)
    path = make(bad, goods, tmp_path, "run")
    before = fingerprint(path)
    if bad.show:
        assert_answered(*show(path, capsys), bad.words)
    with pytest.raises(UnreadableFile) as opened:  # the GUI's open-run path: Results shows this line
        open_run_file(path)
    assert_says(str(opened.value), bad.words)
    Workspace(tmp_path).runs()  # the listing never raises, whatever lies in the folder
    assert fingerprint(path) == before


@pytest.mark.parametrize("bad", SWEEP_CASES, ids=names(SWEEP_CASES))
def test_bad_sweep_file(bad, goods, tmp_path, capsys):
    path = make(bad, goods, tmp_path, "sweep")
    before = fingerprint(path)
    assert_answered(*show(path, capsys), bad.words)
    assert fingerprint(path) == before


def test_the_corpus_is_large_enough():
    assert len(RUN_CASES) >= 40 and len(set(names(RUN_CASES + SWEEP_CASES))) == len(RUN_CASES + SWEEP_CASES)


def test_good_files_show_with_exit_code_0(goods, capsys):
    for path in goods.values():
        code, out, err = show(path, capsys)
        assert code == 0 and err == "" and out


# ---------------------------------------------------------------- in a real process


def ensgui_show(path: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ensgui", "show", str(path)], capture_output=True, text=True,
                          timeout=FIFO_TIMEOUT_S, cwd=ROOT, env=env, **kwargs)


@pytest.mark.parametrize("name", ["x.h5", "x.sweep.h5"])
def test_a_named_pipe_is_refused_without_hanging(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    result = ensgui_show(fifo)  # raises TimeoutExpired if show waits for a writer of the pipe
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ensgui: error: ")
    assert "named pipe" in result.stderr and "not a regular file" in result.stderr


def test_a_file_without_permission(goods):
    """Run as another user when the tests run as root (root reads any file)."""
    folder = Path(tempfile.mkdtemp(prefix="ensgui-permission-"))
    try:
        folder.chmod(0o755)
        path = folder / "x.h5"
        shutil.copy(goods["run"], path)
        path.chmod(0)
        as_other_user = []
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv to drop to another user")
            as_other_user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([*as_other_user, sys.executable, "-m", "ensgui", "show", str(path)],
                                capture_output=True, text=True, timeout=FIFO_TIMEOUT_S, cwd=ROOT, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "permission denied" in result.stderr
        assert "chmod" in result.stderr
    finally:
        shutil.rmtree(folder)


# ---------------------------------------------------------------- text from a file is printed harmless

ESCAPES = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def test_control_characters_in_stored_text_are_not_printed(goods, tmp_path, capsys):
    path = Path(shutil.copy(goods["run"], tmp_path / "x.h5"))
    with h5py.File(path, "a") as f:
        f.attrs["status"] = "\x1b[31mfinished\x1b]0;owned\x07"
        f.attrs["error"] = "first line\nfake line\x1b[2J\r"
        f.attrs["device"] = "cpu\u202e\x9b2J"
        f.attrs["created"] = "2026-01-01T00:00:00+00:00\x1b[1A"
        spec = f.attrs["spec"]
        f.attrs["spec"] = spec.replace('name = "tiny-de"', 'name = "tiny\\u001b[2J-de"') + "\x1b[1m\n"
    code, out, err = show(path, capsys)
    assert code == 0 and err == ""
    assert not any(c in out for c in ESCAPES)
    header = out.splitlines()[0]
    assert "status finished, " in header and "device cpu," in header
    assert "# error: first line fake line" in out
    summary = Workspace(tmp_path).runs()[0]
    assert summary.status == "finished" and summary.name == "tiny-de"


def test_control_characters_in_a_sweep_are_not_printed(goods, tmp_path, capsys):
    path = Path(shutil.copy(goods["sweep"], tmp_path / "x.sweep.h5"))
    with h5py.File(path, "a") as f:
        f.attrs["status"] = "finished\x1b[2K"
        f.attrs["requested"] = "0, 1\x1b]2;title\x07"
        labels = f["labels"][()]
        labels[0] = "zero\r\x1b[A"
        f["labels"][...] = labels
    code, out, err = show(path, capsys)
    assert code == 0 and err == ""
    assert not any(c in out for c in ESCAPES)
    assert "status finished," in out and '"0, 1"' in out and "zero" in out
