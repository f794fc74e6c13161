"""Final margins in the run file: written under /analysis/margins/<split>, read back, mean training margin."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from storage_events import run_events, small_spec, write_events

from ensgui.engine.errors import RunFileError
from ensgui.engine.events import Artefact, RunEnded
from ensgui.engine.margin_tracking import margins_artefact
from ensgui.storage.reader import OPEN_OPTIONS, mean_train_margin, read_margins


def margins_events(rows: int, sizes: dict[str, int], seed: int = 3) -> list[Artefact]:
    rng = np.random.default_rng(seed)
    return [margins_artefact(split, rng.normal(1.0, 2.0, size=(rows, n)).astype(np.float32),
                             rng.uniform(-1.4, 1.4, size=(rows, n)).astype(np.float32),
                             rng.integers(0, 10, size=n).astype(np.int64))
            for split, n in sizes.items()]


def write_with_margins(path: Path, margins: list[Artefact]) -> Path:
    events = run_events(small_spec())
    assert isinstance(events[-1], RunEnded)
    write_events(path, events[:-1] + list(margins) + events[-1:])
    return path


def test_margins_round_trip(tmp_path: Path) -> None:
    margins = margins_events(2, {"train": 50, "val": 40, "test": 60})
    path = write_with_margins(tmp_path / "m.h5", margins)
    with h5py.File(path, "r", **OPEN_OPTIONS) as f:
        assert f.attrs["status"] == "finished"
        assert f["analysis/margins/train/raw"].dtype == np.float32
        assert f["analysis/margins/test/normalized"].shape == (2, 60)
        assert f["analysis/margins/val/labels"].dtype == np.int64
    read = read_margins(path)
    assert sorted(read) == ["test", "train", "val"]
    for ev in margins:
        split = ev.name.split("/")[1]
        for key in ("raw", "normalized", "labels"):
            np.testing.assert_array_equal(getattr(read[split], key), ev.arrays[key])


def test_mean_train_margin_per_row(tmp_path: Path) -> None:
    margins = margins_events(2, {"train": 50, "test": 60})
    path = write_with_margins(tmp_path / "m.h5", margins)
    train = margins[0].arrays["raw"].astype(np.float64)
    assert mean_train_margin(path) == pytest.approx(train[0].mean(), rel=1e-12)
    assert mean_train_margin(path, row=1) == pytest.approx(train[1].mean(), rel=1e-12)
    assert mean_train_margin(path) != pytest.approx(mean_train_margin(path, row=1))
    with pytest.raises(RunFileError, match="not of row 2"):
        mean_train_margin(path, row=2)


def test_run_without_margins(tmp_path: Path) -> None:
    path = tmp_path / "old.h5"
    write_events(path, run_events(small_spec()))
    assert read_margins(path) == {}
    with pytest.raises(RunFileError) as info:
        mean_train_margin(path)
    message = str(info.value)
    assert str(path) in message and "no stored training margins" in message and "run it again" in message
