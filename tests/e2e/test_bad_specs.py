"""Every bad spec and bad command line is answered with one line and exit code 2, before anything is written.

The corpus under tests/corpus/specs holds the bad spec files; its index.toml says what is wrong with each and a
fragment of the message it must give. All of them fail before training starts, so each case takes milliseconds.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from ensgui.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "specs"
INDEX = tomllib.loads((CORPUS / "index.toml").read_text(encoding="utf-8"))
GOOD = ROOT / "resources" / "presets" / "smoke-deep_ensemble.toml"


def answered_once(code: int, err: str, out_folder: Path) -> str:
    """Assert the rules for a bad input and return the message: exit code 2, one stderr line, no run file."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ensgui: error: "), err
    assert not list(out_folder.rglob("*.h5")), "a run file was written for a bad input"
    return lines[0]


def run_in_process(capsys, *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out
    return code, captured.err


def test_the_index_lists_every_corpus_file_and_there_are_enough():
    files = {p.name for p in CORPUS.iterdir() if p.name != "index.toml"}
    assert files == set(INDEX)
    assert len(files) >= 60


@pytest.mark.parametrize("name", sorted(INDEX), ids=lambda n: n.removesuffix(".toml"))
def test_a_bad_spec_is_one_line_and_exit_code_2(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # some specs name files by paths relative to the checkout
    out = tmp_path / "runs"
    code, err = run_in_process(capsys, "run", CORPUS / name, "--out", out)
    message = answered_once(code, err, tmp_path)
    assert INDEX[name]["expect"] in message
    assert len(message) < 600, "the message should be a readable line"
    assert not out.exists(), "the output folder was created for a bad spec"


@pytest.mark.parametrize("option, value", [("--threads", "-1"), ("--threads", "0"), ("--threads", "10" * 12),
                                           ("--threads", "two"), ("--seed", "-1"), ("--seed", str(2**31)),
                                           ("--device", "gpu")])
def test_a_bad_run_option_is_one_line_and_exit_code_2(option, value, capsys, tmp_path):
    code, err = run_in_process(capsys, "run", GOOD, "--out", tmp_path / "runs", option, value)
    assert f"argument {option}:" in answered_once(code, err, tmp_path)


@pytest.mark.parametrize("args", [["--threads", "-2"], ["--width-objects", "0"], ["--probes", "-5"],
                                  ["--probes", "1e3"], ["--width-objects", "100000"]],
                         ids=lambda a: " ".join(a))
def test_a_bad_sweep_option_is_one_line_and_exit_code_2(args, capsys, tmp_path):
    code, err = run_in_process(capsys, "sweep", GOOD, "--gaps", "0, 1", "--out", tmp_path / "runs", *args)
    message = answered_once(code, err, tmp_path)
    assert args[0] in message or "width objects = 100000 is more than the 2000 training objects" in message
    assert not list(tmp_path.rglob("*.sweep.h5"))


def test_missing_folder_fifo_and_unreadable_specs_are_one_line(capsys, tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # opening it would block forever
    unreadable = tmp_path / "secret.toml"
    unreadable.write_bytes(GOOD.read_bytes())
    unreadable.chmod(0)
    cases = {tmp_path / "nope.toml": "No such file or directory", tmp_path: "is a folder",
             fifo: "is not a regular file"}
    if os.geteuid() != 0:  # root reads any file
        cases[unreadable] = "Permission denied"
    for path, expected in cases.items():
        code, err = run_in_process(capsys, "run", path, "--out", tmp_path / "runs")
        assert expected in answered_once(code, err, tmp_path)
    unreadable.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_bad_spec_for_the_window_is_one_line_before_the_window_opens(capsys, tmp_path):
    code, err = run_in_process(capsys, "--spec", CORPUS / "encoding-latin1.toml")
    assert "is not UTF-8 text" in answered_once(code, err, tmp_path)


# ---------------------------------------------------------------- inputs beyond the spec file: device, data files


def spec_with(tmp_path: Path, **data: object) -> Path:
    """The smoke preset with some [data] values replaced, written to tmp_path."""
    text = GOOD.read_text(encoding="utf-8")
    for key, value in data.items():
        start = text.index(f"\n{key} = ") + 1
        text = text[:start] + f"{key} = {value!r}".replace("'", '"') + text[text.index("\n", start):]
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_idx(path: Path, dims: tuple[int, ...], values: int | None = None) -> None:
    """An unsigned-byte IDX file of the given shape; values < the product of dims makes it truncated."""
    size = int(np.prod(dims)) if values is None else values
    header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(header + bytes(size))


@pytest.mark.parametrize("damage", ["truncated", "partial copy", "not IDX", "bad gzip"])
def test_damaged_dataset_files_are_one_line_before_the_run_file_exists(damage, capsys, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    counts = {"train": 60000, "t10k": 10000} if damage != "partial copy" else {"train": 100, "t10k": 100}
    for part, n in counts.items():
        write_idx(folder / f"{part}-images-idx3-ubyte", (n, 28, 28), 1000 if damage == "truncated" else None)
        write_idx(folder / f"{part}-labels-idx1-ubyte", (n,))
    if damage == "not IDX":
        (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\xff" * 3)
    if damage == "bad gzip":
        (folder / "t10k-labels-idx1-ubyte").unlink()
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(40))
    code, err = run_in_process(capsys, "run", spec_with(tmp_path, root=str(folder)), "--out", tmp_path / "runs")
    message = answered_once(code, err, tmp_path)
    assert str(folder) in message and "reinstall the dataset files" in message


def test_a_failed_download_is_one_line(capsys, tmp_path, monkeypatch):
    torchvision = pytest.importorskip("torchvision")

    class Offline:  # what torchvision raises without a network: one line per mirror tried
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n"
                               "<urlopen error [Errno -2] Name or service not known>\nTried http://b/, got:\n")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    text = spec_with(tmp_path, root=str(tmp_path)).read_text().replace('name = "fashion-mnist"', 'name = "mnist"')
    (tmp_path / "spec.toml").write_text(text)
    code, err = run_in_process(capsys, "run", tmp_path / "spec.toml", "--out", tmp_path / "runs")
    message = answered_once(code, err, tmp_path)
    assert "MNIST not found under" in message and "Name or service not known" in message


def test_cuda_without_a_gpu_is_one_line_before_the_run_file_exists(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_in_process(capsys, "run", GOOD, "--out", tmp_path / "runs", "--device", "cuda")
    assert "no CUDA GPU is visible to torch" in answered_once(code, err, tmp_path)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- the real command, as a user types it


def ensgui(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ensgui", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args", [["encoding-latin1.toml"], ["encoding-utf16-bom.toml"], ["encoding-binary.toml"],
                                  [GOOD, "--threads", "-1"], [GOOD, "--threads", "0"]],
                         ids=lambda a: " ".join(map(str, a)).replace(str(ROOT) + "/", ""))
def test_the_command_answers_in_one_line(args, tmp_path):
    spec = args[0] if isinstance(args[0], Path) else CORPUS / args[0]
    result = ensgui("run", spec, "--out", tmp_path / "runs", *args[1:])
    answered_once(result.returncode, result.stderr, tmp_path)
    assert result.stdout == ""
