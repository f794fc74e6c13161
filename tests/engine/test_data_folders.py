"""Where data are read from: a folder the user names is the only place looked in, and every load says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensgui.engine.data import DATA_ENV, fashion_mnist_locations, load_splits, named_data_folder
from ensgui.engine.errors import DataError
from ensgui.engine.spec import Spec


def test_a_named_root_is_the_only_place_looked_in(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert fashion_mnist_locations(str(tmp_path)) == [tmp_path]
    assert fashion_mnist_locations("")[0] == tmp_path  # $ENSGUI_DATA comes first among the default places


@pytest.mark.parametrize("root, env, message", [
    ("/nonexistent/ensgui-data", None, "data.root = '/nonexistent/ensgui-data' does not exist"),
    ("/dev/null", None, "data.root = '/dev/null' is not a folder"),
    ("", "/nonexistent/ensgui-env", "$ENSGUI_DATA = '/nonexistent/ensgui-env' does not exist; set it to the folder"),
])
def test_a_named_folder_that_is_not_there_is_an_error_not_a_fallback(root, env, message, monkeypatch):
    if env is None:
        monkeypatch.delenv(DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(DATA_ENV, env)
    with pytest.raises(DataError, match=message.replace("$", r"\$")):
        named_data_folder(root)


def test_every_load_logs_the_folder_it_read():
    from support import tiny_spec_dict

    spec = Spec.from_dict(tiny_spec_dict())
    lines: list[str] = []
    load_splits(spec.data.name, spec.data.params, spec.seed, lines.append)
    assert len(lines) == 1 and lines[0].startswith("fashion-mnist read from ")
    assert Path(lines[0].removeprefix("fashion-mnist read from ")).is_dir()
