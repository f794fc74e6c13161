"""The experiment spec: a frozen, validated description of one run that round-trips through TOML."""

from __future__ import annotations

import codecs
import stat
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .data import DATASETS
from .errors import SpecError, one_line
from .losses import LOSSES
from .methods import METHODS, method_for, plan_for
from .models import MODELS
from .optim import OPTIMIZERS
from .schedules import SCHEDULES
from .schema import Choice, Param, Schema, check_params, defaults

BUDGET_SCHEMA: Schema = (
    Param("epochs", int, 3, "passes over the training set per member", minimum=1, maximum=10000),
    Param("batch_size", int, 128, "objects per optimisation step", minimum=1, maximum=65536, label="batch size"),
)

EVALUATION_SCHEMA: Schema = (
    Param("orders", int, 5, "random member orders averaged in the metric-vs-size curves", minimum=1, maximum=100),
    Param("ece_bins", int, 15, "equal-width confidence bins of the ECE", minimum=2, maximum=100, label="ECE bins"),
    Param("cnll_splits", int, 2, "folds of the test-time cross-validated temperature", minimum=2, maximum=10,
          label="CNLL folds"),
    Param("cnll_runs", int, 5, "random repetitions of the CNLL cross-validation", minimum=1, maximum=50,
          label="CNLL repetitions"),
    # 256 measured fastest for LeNet-5-Caffe and LeNet-300-100 forwards on a 2-core CPU (docs/benchmarks.md):
    # bigger batches leave the cache; a GPU may prefer more.
    Param("batch_size", int, 256, "objects per forward pass when predicting", minimum=1, maximum=65536,
          label="batch size"),
    Param("margin_train_objects", int, 2000, "training objects whose final margins are stored, the first of the "
          "shuffled training split, a fixed random subset (0 = all); validation and test margins cover every "
          "object", minimum=0, maximum=10_000_000, label="train margins on"),
    # A fixed subset keeps the per-epoch cost small; the final margins at the end cover every object.
    Param("live_margins", int, 1000, "training and validation objects whose margins are measured at every epoch "
          "end for the live histograms (0 switches them off)", minimum=0, maximum=100000, label="live margins"),
)

TOP_SCHEMA: Schema = (
    Param("name", str, "experiment", "a short name for the run (used in file names)"),
    Param("seed", int, 0, "one seed drives data split, data order, initialisation and sampling", minimum=0,
          maximum=2**31 - 1),
    Param("device", str, "auto", "where to train: auto picks CUDA when present", choices=("auto", "cpu", "cuda")),
)

MAX_SPEC_BYTES = 1 << 20  # a spec is a page of TOML; a larger file is the wrong file, not a spec

SECTIONS = ("data", "model", "loss", "method", "optimizer", "schedule")
# Specs written before losses existed have no [loss]; they trained with plain cross-entropy.
DEFAULT_SECTIONS: dict[str, Mapping[str, Any]] = {"loss": {"name": "cross_entropy"}}


REGISTRIES: dict[str, Any] = {"data": DATASETS, "model": MODELS, "loss": LOSSES, "method": METHODS,
                               "optimizer": OPTIMIZERS, "schedule": SCHEDULES}


def registry_for(section: str) -> Any:
    """The registry whose entries fill a spec section."""
    return REGISTRIES[section]


@dataclass(frozen=True)
class Spec:
    """Everything that defines one experiment; build it with Spec.from_dict or Spec.from_toml."""

    name: str
    seed: int
    device: str
    data: Choice
    model: Choice
    loss: Choice
    method: Choice
    optimizer: Choice
    schedule: Choice
    budget: Mapping[str, Any] = field(default_factory=lambda: defaults(BUDGET_SCHEMA))
    evaluation: Mapping[str, Any] = field(default_factory=lambda: defaults(EVALUATION_SCHEMA))

    # ------------------------------------------------------------ construction

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Spec:
        values = dict(values)
        sections = set(SECTIONS) | {"budget", "evaluation"}
        top = {k: v for k, v in values.items() if k not in sections}
        for key, value in top.items():
            if isinstance(value, Mapping):
                raise SpecError(f"[{key}] is not a spec section; allowed sections: {', '.join(sorted(sections))}")
        head = check_params(TOP_SCHEMA, top, "spec")
        regs = REGISTRIES
        chosen = {}
        for section in SECTIONS:
            if section not in values and section in DEFAULT_SECTIONS:
                values[section] = DEFAULT_SECTIONS[section]
            if section not in values:
                raise SpecError(f"the spec has no [{section}] section; add one with name = one of "
                                f"{', '.join(regs[section].names())}")
            chosen[section] = regs[section].choice(_table(values[section], section), section)
        spec = cls(
            name=head["name"], seed=head["seed"], device=head["device"], **chosen,
            budget=check_params(BUDGET_SCHEMA, _table(values.get("budget", {}), "budget"), "budget"),
            evaluation=check_params(EVALUATION_SCHEMA, _table(values.get("evaluation", {}), "evaluation"),
                                    "evaluation"),
        )
        spec.check_consistency()
        return spec

    @classmethod
    def from_toml(cls, text: str) -> Spec:
        return cls.from_dict(parse_toml(text))

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        """Read and check a spec file; any reason it cannot be used is one SpecError naming the file and the fix."""
        return cls.from_toml(read_spec_text(Path(path)))

    def check_consistency(self) -> None:
        """Checks that involve several sections (sizes against the dataset, schedule against budget)."""
        plan_for(self)  # builds schedule and method plan; raises SpecError on impossible settings
        method_for(self).check()
        self._check_fold_sizes()

    def _check_fold_sizes(self) -> None:
        """The calibrated NLL cuts the validation and test objects into folds, each of at least one object."""
        folds = self.evaluation["cnll_splits"]
        for key in ("val_size", "test_size"):
            size = self.data[key]
            if 0 < size < folds:  # 0 means no validation split, or the whole test set
                raise SpecError(f"data.{key} = {size} is too small for evaluation.cnll_splits = {folds}: the "
                                f"calibrated NLL cuts it into {folds} folds of at least one object; raise "
                                f"data.{key} or lower evaluation.cnll_splits")

    # ------------------------------------------------------------ output

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "seed": self.seed, "device": self.device}
        for section in SECTIONS:
            choice: Choice = getattr(self, section)
            out[section] = {"name": choice.name, **choice.params}
        out["budget"] = dict(self.budget)
        out["evaluation"] = dict(self.evaluation)
        return out

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_toml())

    def with_values(self, section: str, **changes: Any) -> Spec:
        """A copy with some values of one section (or of the top level, section="") changed and re-checked."""
        values = self.to_dict()
        if section and "name" in changes and changes["name"] != values[section].get("name"):
            values[section] = dict(changes)  # another entry: the old entry's parameters do not apply
        elif section:
            values[section] = {**values[section], **changes}
        else:
            values.update(changes)
        return Spec.from_dict(values)

    def renamed(self, name: str) -> Spec:
        return replace(self, name=name)


def read_spec_text(path: Path) -> str:
    """The text of a spec file: a regular, readable, small file of UTF-8 (a UTF-8 byte-order mark is allowed)."""
    where = f"spec file {path}"
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise SpecError(f"{where} is a folder; give the path of a .toml file in it")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise SpecError(f"{where} is not a regular file; give the path of a .toml file")
        if info.st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{where} holds {info.st_size:,} bytes, too many for a spec (at most "
                            f"{MAX_SPEC_BYTES:,}); check that the path names a .toml spec")
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read {where}: {exc.strerror or one_line(exc)}; check the path and that the file "
                        f"is readable") from None
    return decode_spec(data, where)


def decode_spec(data: bytes, where: str) -> str:
    """Bytes as UTF-8 text, or a SpecError saying what the bytes are instead and to save them as UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SpecError(f"{where} is UTF-16 text, not UTF-8: save it as UTF-8")
    nul = data.find(b"\0")
    if nul >= 0:  # UTF-16 without a mark, or a binary file: UTF-8 TOML never holds a NUL byte
        raise SpecError(f"{where} is not a text file (a NUL byte at offset {nul}): give a TOML spec saved as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save "
                        f"it as UTF-8") from None


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a dict, or a SpecError saying where the text breaks TOML's rules."""
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"the spec is not valid TOML: {one_line(exc)}; correct the text at that line "
                        f"(TOML's rules: https://toml.io)") from None
    except ValueError as exc:  # an integer too long for Python to convert; its own advice is for programmers
        raise SpecError(f"the spec holds a value that cannot be read ({one_line(exc).split(';')[0]}); shorten "
                        f"it") from None
    if not values:
        raise SpecError("the spec is empty; start from a preset in resources/presets (e.g. default.toml)")
    return values


def _table(value: Any, section: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"[{section}] must be a table of values, not {value!r}")
    return value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def dumps_toml(values: Mapping[str, Any]) -> str:
    """Write a two-level dict (scalars, then tables of scalars) as TOML."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, Mapping)]
    for key, table in values.items():
        if isinstance(table, Mapping):
            lines.append("")
            lines.append(f"[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"
