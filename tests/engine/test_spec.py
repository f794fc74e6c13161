"""The spec: TOML round trips, presets, and one clear message per invalid value."""

import pytest

from ensgui.engine.errors import SpecError
from ensgui.engine.methods import plan_for
from ensgui.engine.spec import BUDGET_SCHEMA, EVALUATION_SCHEMA, SECTIONS, TOP_SCHEMA, Spec, registry_for
from ensgui.resources import preset_paths


def base_dict():
    from support import tiny_spec_dict

    return tiny_spec_dict()


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
def test_every_preset_loads_and_round_trips(path):
    spec = Spec.load(str(path))
    again = Spec.from_toml(spec.to_toml())
    assert again == spec
    assert again.to_toml() == spec.to_toml()


def test_presets_cover_every_method_with_a_smoke_version():
    from ensgui.engine.methods import METHODS

    stems = {p.stem for p in preset_paths()}
    for method in METHODS.names():
        assert method in stems and f"smoke-{method}" in stems
    default = Spec.load(str(next(p for p in preset_paths() if p.stem == "default")))
    assert (default.method.name, default.method["members"], default.model.name) == ("deep_ensemble", 5, "lenet5_caffe")
    assert (default.data["train_size"], default.budget["epochs"], default.device) == (10000, 3, "auto")


def test_defaults_are_filled_in():
    spec = Spec.from_dict(base_dict())
    assert spec.optimizer["momentum"] == 0.9
    assert spec.schedule["final_factor"] == 0.01


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("method", "members", 0, r"method.members = 0 is invalid: must be an integer >= 1"),
        ("optimizer", "lr", -1.0, r"optimizer.lr = -1.0 is invalid: must be a number > 0"),
        ("budget", "batch_size", 0, r"budget.batch_size = 0 is invalid"),
        ("model", "dropout", 1.5, r"model.dropout = 1.5 is invalid: must be a number >= 0 and <= 0.95"),
        ("data", "train_size", 59900, r"data.train_size = 59900 is invalid: only 59800 training objects remain"),
        ("method", "membres", 3, r"method: unknown parameter 'membres'; allowed here: members, vectorize"),
        ("method", "name", "boosting", r"method 'boosting' is unknown; choose one of: single, deep_ensemble, bagging"),
        ("", "device", "tpu", r"spec.device = 'tpu' is invalid: must be one of 'auto', 'cpu', 'cuda'"),
        ("method", "members", 2.5, r"method.members = 2.5 is invalid"),
    ],
)
def test_invalid_values_name_the_field_the_value_and_what_is_allowed(section, key, value, message):
    values = base_dict()
    if section == "data" and key == "train_size":
        values["data"]["val_size"] = 200
    (values[section] if section else values)[key] = value
    with pytest.raises(SpecError, match=message):
        Spec.from_dict(values)


def test_missing_section_and_bad_toml_are_clear():
    values = base_dict()
    del values["model"]
    with pytest.raises(SpecError, match=r"no \[model\] section"):
        Spec.from_dict(values)
    with pytest.raises(SpecError, match="not valid TOML"):
        Spec.from_toml("name = ")
    with pytest.raises(SpecError, match="cannot read spec"):
        Spec.load("/nonexistent/spec.toml")


def test_plan_counts_iterations_from_the_subset_and_batch():
    spec = Spec.from_dict(base_dict())  # 600 objects, batch 64, 1 epoch
    plan = plan_for(spec)
    assert plan.iters_per_epoch == 10 and plan.total_iters == 10
    assert list(plan.snapshots) == [9]
    assert plan.members == plan.rows == 3


def test_with_values_rechecks():
    spec = Spec.from_dict(base_dict())
    assert spec.with_values("method", members=4).method["members"] == 4
    with pytest.raises(SpecError):
        spec.with_values("budget", epochs=0)


def test_an_absurd_budget_is_refused_before_anything_is_allocated():
    values = base_dict()
    values["budget"] = {"epochs": 10000, "batch_size": 1}
    values["data"]["train_size"] = 50000
    with pytest.raises(SpecError, match=r"budget.epochs = 10000 gives 500,000,000 iterations"):
        Spec.from_dict(values)


def test_with_values_switching_entry_drops_the_old_parameters():
    spec = Spec.from_dict(base_dict())
    switched = spec.with_values("schedule", name="cosine")
    assert switched.schedule.name == "cosine" and "end" not in switched.schedule.params


# Words only the developers know: the help of every registry entry and parameter is read by users in the window.
JARGON = ("methods.md", "seed 00", "max_{", "θ₀", "‖", ".py")


def test_no_registry_help_text_uses_developer_jargon() -> None:
    texts: list[tuple[str, str]] = []
    for section in SECTIONS:
        for entry in registry_for(section):
            texts.append((f"{section}.{entry.name}", entry.help))
            texts += [(f"{section}.{entry.name}.{p.name}", p.help) for p in entry.schema]
    for name, schema in (("spec", TOP_SCHEMA), ("budget", BUDGET_SCHEMA), ("evaluation", EVALUATION_SCHEMA)):
        texts += [(f"{name}.{p.name}", p.help) for p in schema]
    found = [(where, word) for where, text in texts for word in JARGON if word.lower() in text.lower()]
    assert not found, found
