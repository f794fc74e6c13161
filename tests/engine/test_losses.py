"""Training losses: gap loss, LogitNorm, per-object gaps, the frozen last layer, and specs without [loss]."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ensgui.engine.losses import LOSSES, normalise_logits
from ensgui.engine.models import MODELS
from ensgui.engine.schema import check_params
from ensgui.engine.seeding import INIT, derive_seed
from ensgui.engine.spec import Spec


def loss_function(name: str, **params):
    entry = LOSSES.get(name)
    return entry.factory(check_params(entry.schema, params, "loss"))


def random_problem(k: int = 3, b: int = 50, c: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(k, b, c, generator=generator, dtype=torch.float64) * 3
    targets = torch.randint(0, c, (k, b), generator=generator)
    return logits, targets


def reference_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    k, b, c = logits.shape
    return F.cross_entropy(logits.reshape(k * b, c), targets.reshape(k * b), reduction="none").view(k, b)


def reference_gap(logits: torch.Tensor, targets: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
    """log(1 + sum_{j != y} exp(l_j - l_y + m)), written out."""
    true = logits.gather(-1, targets.unsqueeze(-1))
    others = torch.exp(logits - true + gaps.unsqueeze(-1))
    others = others.masked_fill(F.one_hot(targets, logits.shape[-1]).bool(), 0.0)
    return torch.log1p(others.sum(-1))


def test_every_loss_returns_one_value_per_object():
    logits, targets = random_problem()
    for entry in LOSSES:
        out = loss_function(entry.name)(logits, targets, None)
        assert out.shape == targets.shape
        assert {"freeze_last_layer", "last_layer_norm"} <= {p.name for p in entry.schema}


def test_zero_gap_is_exactly_cross_entropy():
    logits, targets = random_problem()
    expected = reference_ce(logits, targets)
    assert torch.equal(loss_function("gap", gap=0.0)(logits, targets, None), expected)
    assert torch.equal(loss_function("cross_entropy")(logits, targets, None), expected)


@pytest.mark.parametrize("gap", [0.5, 1.0, 4.0])
def test_gap_loss_matches_its_closed_form(gap):
    logits, targets = random_problem(seed=1)
    constant = torch.full(targets.shape, gap, dtype=logits.dtype)
    got = loss_function("gap", gap=gap)(logits, targets, None)
    torch.testing.assert_close(got, reference_gap(logits, targets, constant), rtol=1e-10, atol=1e-12)
    assert bool((got > reference_ce(logits, targets)).all())  # a positive gap makes every object harder


def test_per_object_gaps_replace_the_constant():
    logits, targets = random_problem(seed=2)
    gaps = torch.linspace(-1.0, 3.0, targets.numel(), dtype=logits.dtype).view(targets.shape)
    got = loss_function("gap", gap=1.0)(logits, targets, gaps)
    torch.testing.assert_close(got, reference_gap(logits, targets, gaps), rtol=1e-10, atol=1e-12)
    # Cross-entropy is the gap loss at m = 0, so per-object gaps given to it apply too.
    torch.testing.assert_close(loss_function("cross_entropy")(logits, targets, gaps), got)


def test_logitnorm_keeps_the_argmax_and_is_cross_entropy_of_normalised_logits():
    logits, targets = random_problem(seed=3)
    tau = 0.04
    normalised = normalise_logits(logits, tau)
    assert torch.equal(normalised.argmax(-1), logits.argmax(-1))
    torch.testing.assert_close(normalised.norm(dim=-1), torch.full(targets.shape, 1 / tau, dtype=logits.dtype))
    by_hand = logits / (tau * (torch.linalg.vector_norm(logits, dim=-1, keepdim=True) + 1e-7))
    got = loss_function("logitnorm", tau=tau)(logits, targets, None)
    torch.testing.assert_close(got, reference_ce(by_hand, targets), rtol=1e-10, atol=1e-12)
    # Scaling the logits does not change the loss: the norm shortcut is gone.
    torch.testing.assert_close(loss_function("logitnorm", tau=tau)(5 * logits, targets, None), got)


def initial_model(spec: Spec, member: int) -> nn.Module:
    """A member's seeded initialisation, built the way training builds it (before any freezing)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, member, INIT))
        return MODELS.get(spec.model.name).factory(spec.model.params, (1, 28, 28), 10)


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "sequential"])
def test_frozen_last_layer_keeps_its_initialisation_at_the_given_row_norm(tmp_path: Path, vectorize: bool):
    from support import tiny_spec_dict

    from ensgui.engine.task_state import TaskState
    from ensgui.storage.reader import read_snapshot
    from ensgui.tasks.run import run_to_file

    values = tiny_spec_dict(members=2)
    values["method"]["vectorize"] = vectorize
    values["loss"] = {"name": "gap", "gap": 1.0, "freeze_last_layer": True, "last_layer_norm": 10.0}
    spec = Spec.from_dict(values)
    path = tmp_path / "frozen.h5"
    result = run_to_file(spec, path, TaskState(), threads=1)
    assert result.status == "finished", result.error
    for member in range(2):
        model = initial_model(spec, member)
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        first, name = linears[0], linears[-1]
        initial = {k: v.numpy() for k, v in model.state_dict().items()}
        weight = initial[f"{name}.weight"]
        stored = read_snapshot(path, member, 0)
        np.testing.assert_allclose(stored[f"{name}.weight"], weight * (10.0 / np.linalg.norm(weight, axis=1,
                                   keepdims=True)), rtol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(stored[f"{name}.weight"], axis=1), 10.0, rtol=1e-5)
        np.testing.assert_array_equal(stored[f"{name}.bias"], initial[f"{name}.bias"])
        assert not np.array_equal(stored[f"{first}.weight"], initial[f"{first}.weight"])  # the layers below still train


def test_specs_without_a_loss_section_load_as_cross_entropy_and_round_trip():
    from support import tiny_spec_dict

    spec = Spec.from_dict(tiny_spec_dict())
    assert spec.loss.name == "cross_entropy"
    assert dict(spec.loss.params) == {"freeze_last_layer": False, "last_layer_norm": 0.0}
    text = spec.to_toml()
    assert '[loss]\nname = "cross_entropy"\nfreeze_last_layer = false\nlast_layer_norm = 0.0\n' in text
    again = Spec.from_toml(text)
    assert again == spec and again.to_toml() == text
    switched = spec.with_values("loss", name="logitnorm")
    assert (switched.loss.name, switched.loss["tau"]) == ("logitnorm", 0.04)
