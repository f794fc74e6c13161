"""Gap boosting: the gap formulas, per-object gaps in the shared loop, the rounds it stores, ordered curves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from support import tiny_spec_dict
from ensgui.engine import metrics
from ensgui.engine.data import load_splits
from ensgui.engine.errors import SpecError
from ensgui.engine.events import Artefact, SnapshotTaken
from ensgui.engine.losses import loss_for, per_object_cross_entropy
from ensgui.engine.margins import logit_margins, margins_of_model
from ensgui.engine.nets import build_model, load_state
from ensgui.engine.methods import method_for
from ensgui.engine.methods.gap_boosting import boosting_gaps, train_logits
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.reader import read_boosting, read_run, read_snapshot
from ensgui.storage.workspace import Workspace
from ensgui.tasks.run import run_to_file


def boosting_dict(models: int = 3, epochs: int = 1, **method) -> dict:
    values = tiny_spec_dict(train_size=400, val_size=100, test_size=300, epochs=epochs)
    values["method"] = {"name": "gap_boosting", "models": models, **method}
    values["loss"] = {"name": "cross_entropy", "freeze_last_layer": True, "last_layer_norm": 10.0}
    values["optimizer"]["lr"] = 0.01
    return values


def boosting_run(values: dict, folder) -> tuple[object, list]:
    spec = Spec.from_dict(values)
    path = Workspace(folder).new_run_path(spec.name)
    events: list = []
    result = run_to_file(spec, path, TaskState([events.append]), threads=1)
    assert result.status == "finished", result.error
    return path, events


def boosting_rounds(events: list) -> list[SimpleNamespace]:
    """The boosting artefacts of a run's events, one per round, as (model, gaps, margins)."""
    return [SimpleNamespace(model=int(e.arrays["models"][0]), gaps=e.arrays["gaps"][0], margins=e.arrays["margins"][0])
            for e in events if isinstance(e, Artefact) and e.name == "boosting"]


# ------------------------------------------------------------ the formulas


def test_save_mean_gaps_keep_the_mean_margin_and_zero_mean_gaps_have_mean_zero():
    margins = np.random.default_rng(0).normal(1.5, 2.0, size=500)
    save = boosting_gaps(margins, "save_mean")
    zero = boosting_gaps(margins, "zero_mean")
    np.testing.assert_allclose(save, 2 * margins.mean() - margins)
    np.testing.assert_allclose(zero, margins.mean() - margins)
    assert save.mean() == pytest.approx(margins.mean(), abs=1e-12)
    assert zero.mean() == pytest.approx(0.0, abs=1e-12)
    # Hard objects (small margins) get the largest gaps; zero_mean gives easy objects negative gaps.
    assert np.argmax(save) == np.argmin(margins) and (zero < 0).any()


def test_clipping_bounds_the_gaps_and_is_off_by_default():
    margins = np.array([-3.0, 0.0, 1.0, 10.0])
    raw = boosting_gaps(margins, "zero_mean")
    assert raw.min() < 0 and raw.max() > 2
    clipped = boosting_gaps(margins, "zero_mean", clip=(0.0, 2.0))
    np.testing.assert_allclose(clipped, np.clip(raw, 0.0, 2.0))
    with pytest.raises(ValueError, match="unknown gap boosting variant 'median'"):
        boosting_gaps(margins, "median")


def test_zero_gaps_give_exactly_cross_entropy_and_nonzero_gaps_do_not():
    logits = torch.randn(2, 7, 10)
    targets = torch.randint(0, 10, (2, 7))
    loss = loss_for(Spec.from_dict(boosting_dict()).loss)
    ce = per_object_cross_entropy(logits, targets)
    torch.testing.assert_close(loss(logits, targets, torch.zeros(2, 7)), ce, rtol=0, atol=0)
    assert (loss(logits, targets, torch.ones(2, 7)) > ce).all()


# ------------------------------------------------------------ the spec


def test_a_trained_last_layer_is_refused_with_the_fix():
    values = boosting_dict()
    values["loss"]["freeze_last_layer"] = False
    with pytest.raises(SpecError, match=r"^loss.freeze_last_layer = false is invalid for method gap_boosting.*"
                                        r"set loss.freeze_last_layer = true"):
        Spec.from_dict(values)
    with pytest.raises(SpecError, match=r"method.gap_min = 2.0 is invalid: must not exceed method.gap_max = 1.0"):
        Spec.from_dict(boosting_dict(clip=True, gap_min=2.0, gap_max=1.0))


def test_only_gap_boosting_asks_for_ordered_rows():
    assert method_for(Spec.from_dict(boosting_dict())).ordered_rows()
    assert not method_for(Spec.from_dict(tiny_spec_dict())).ordered_rows()


# ------------------------------------------------------------ per-object gaps in the shared loop


def _final_states(values: dict) -> dict[int, dict[str, np.ndarray]]:
    events: list = []
    result = run_spec(Spec.from_dict(values), TaskState([events.append]), threads=1)
    assert result.status == "finished", result.error
    return {e.row: e.state for e in events if isinstance(e, SnapshotTaken)}


def test_clipped_to_zero_gaps_train_model_2_exactly_as_cross_entropy_does():
    # Model 2 of gap boosting is member 1 of a deep ensemble trained one by one (same init and data order);
    # with every gap clipped to 0 it must get the very same weights, and with gaps of 1 different ones.
    reference = boosting_dict(models=2)
    reference["method"] = {"name": "deep_ensemble", "members": 2, "vectorize": False}
    ce = _final_states(reference)[1]
    zero = _final_states(boosting_dict(models=2, clip=True, gap_min=0.0, gap_max=0.0))[1]
    one = _final_states(boosting_dict(models=2, clip=True, gap_min=1.0, gap_max=1.0))[1]
    for name in ce:
        np.testing.assert_array_equal(zero[name], ce[name])
    assert any(not np.array_equal(one[name], ce[name]) for name in ce)


# ------------------------------------------------------------ a tiny run end to end


@pytest.mark.parametrize("variant, margins_of", [("save_mean", "previous"), ("zero_mean", "ensemble")])
def test_rounds_follow_the_formula_on_the_stored_models_margins(tmp_path, variant, margins_of):
    values = boosting_dict(models=3, variant=variant, margins_of=margins_of)
    path, events = boosting_run(values, tmp_path)
    spec = Spec.from_dict(values)
    run = read_run(path)
    assert run.eval["test"].probs.shape[0] == 3 and run.row_names == ["model 1", "model 2", "model 3"]
    rounds = boosting_rounds(events)
    assert [r.model for r in rounds] == [1, 2]

    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    model = build_model(spec, data.input_shape, data.num_classes)
    logits = []
    for r in rounds:
        load_state(model, read_snapshot(path, r.model - 1, 0))
        logits.append(train_logits(model, data.train_x, 1000))
        if margins_of == "previous":
            margins = margins_of_model(model, data.train_x, data.train_y, 1000)
        else:
            margins = logit_margins(torch.stack(logits).mean(0), data.train_y).numpy()
        assert r.margins.shape == r.gaps.shape == (400,)
        np.testing.assert_allclose(r.margins, margins, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(r.gaps, boosting_gaps(margins, variant), rtol=1e-5, atol=1e-4)

    stored = read_boosting(path)
    assert stored is not None and (stored.variant, stored.margins_of) == (variant, margins_of)
    np.testing.assert_array_equal(stored.models, [1, 2])
    np.testing.assert_array_equal(stored.gaps, np.stack([r.gaps for r in rounds]))
    np.testing.assert_array_equal(stored.margins, np.stack([r.margins for r in rounds]))


def test_curves_are_the_first_k_models_in_training_order(tmp_path):
    path, _ = boosting_run(boosting_dict(models=3), tmp_path)
    for split in ("test", "val"):
        data = read_run(path).eval[split]
        probs = data.probs.astype(np.float64)
        for k in range(1, 4):
            pbar = probs[:k].mean(0)
            for name, value in (("error", metrics.error(pbar, data.labels)), ("nll", metrics.nll(pbar, data.labels)),
                                ("brier", metrics.brier(pbar, data.labels))):
                assert data.curves[name][k - 1, 0] == pytest.approx(value, rel=1e-9, abs=1e-12)
                assert data.curves[name][k - 1, 1] == 0.0


def test_a_run_of_another_method_has_no_boosting_rounds(tmp_path):
    path, events = boosting_run(tiny_spec_dict(members=2, train_size=300, val_size=100, test_size=200), tmp_path)
    assert read_boosting(path) is None and not boosting_rounds(events)


def test_runaway_gaps_are_warned_about_with_the_fix():
    """The study's save_mean rounds (mean gap 6 -> 29 -> 134) warn; a steady zero_mean spread does not."""
    from ensgui.engine.methods.gap_boosting import runaway_warning

    rng = np.random.default_rng(0)
    first, second = rng.normal(6.1, 4.8, 500), rng.normal(29.1, 19.0, 500)
    assert runaway_warning(None, first) == ""
    warning = runaway_warning(first, second)
    assert "grew" in warning and "method.clip = true" in warning and "margins_of" in warning
    assert runaway_warning(rng.normal(0, 4.8, 500), rng.normal(0, 6.7, 500)) == ""
