"""Training losses (cross-entropy, gap loss, LogitNorm) and the frozen-last-layer option every loss carries.

torch is imported inside the functions that compute losses: validating a spec needs only the schemas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import SpecError
from .registry import Registry
from .schema import Choice, Param

if TYPE_CHECKING:
    import torch

# (logits (K, B, C), targets (K, B), per-object gaps (K, B) or None) -> per-object loss (K, B).
LossFunction = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor | None"], "torch.Tensor"]
LossFactory = Callable[[Mapping[str, Any]], LossFunction]
LOSSES: Registry[LossFactory] = Registry("loss")

# The "increase the norm" shortcut satisfies any gap by inflating the last layer; freezing it at its
# initialisation (optionally at a fixed row norm) removes that shortcut for every loss.
_COMMON: tuple[Param, ...] = (
    Param("freeze_last_layer", bool, False, "keep the last linear layer at its initialisation (not trained)",
          label="freeze last layer"),
    Param("last_layer_norm", float, 0.0, "L2 norm of each row of the frozen last layer; 0 keeps the initialisation",
          minimum=0.0, maximum=1e6, label="last-layer row norm"),
)


def per_object_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every object: logits (K, B, C), targets (K, B) -> (K, B)."""
    import torch.nn.functional as F

    k, b, c = logits.shape
    return F.cross_entropy(logits.reshape(k * b, c), targets.reshape(k * b), reduction="none").view(k, b)


def gap_loss(logits: torch.Tensor, targets: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
    """CE(l - g e_y, y) per object: the true class's logit lowered by that object's gap."""
    import torch.nn.functional as F

    shift = F.one_hot(targets, logits.shape[-1]).to(logits.dtype) * gaps.to(logits.dtype).unsqueeze(-1)
    return per_object_cross_entropy(logits - shift, targets)


def normalise_logits(logits: torch.Tensor, tau: float) -> torch.Tensor:
    """LogitNorm's l / (tau (||l||_2 + 1e-7)); the argmax is that of the raw logits."""
    return logits / (tau * (logits.norm(dim=-1, keepdim=True) + 1e-7))


def _with_gaps(logits: torch.Tensor, targets: torch.Tensor, gaps: torch.Tensor | None) -> torch.Tensor:
    # Without gaps plain CE is used, so a zero gap gives exactly cross-entropy.
    return per_object_cross_entropy(logits, targets) if gaps is None else gap_loss(logits, targets, gaps)


@LOSSES.register("cross_entropy", _COMMON, title="Cross-entropy",
                 help="Ordinary cross-entropy; per-object gaps from a method, if any, turn it into the gap loss.")
def cross_entropy(params: Mapping[str, Any]) -> LossFunction:
    return _with_gaps


@LOSSES.register(
    "gap",
    (Param("gap", float, 1.0, "margin m subtracted from the true class's logit", minimum=0.0, maximum=1e3),
     Param("gap_from_run", str, "", "a finished run file: the mean training margin of its member 0 becomes the "
           "gap instead of the value above (empty: use the value above)", label="gap from run",
           run_file=True),
     *_COMMON),
    title="Gap (discounted) loss",
    help="CE(l - m e_y, y) = log(1 + sum_j!=y exp(l_j - l_y + m)); per-object gaps from a method replace m.",
)
def gap(params: Mapping[str, Any]) -> LossFunction:
    import torch

    if params.get("gap_from_run"):
        # The runner replaces the run file by its mean margin before training; never train with the stale gap.
        raise SpecError("loss.gap_from_run must be resolved to a gap before training; run the spec with the GUI "
                        "or `ensgui run`")
    constant = float(params["gap"])

    def loss(logits: torch.Tensor, targets: torch.Tensor, gaps: torch.Tensor | None) -> torch.Tensor:
        if gaps is None:
            gaps = torch.full(targets.shape, constant, dtype=logits.dtype, device=logits.device)
        return gap_loss(logits, targets, gaps)

    return loss


@LOSSES.register(
    "logitnorm",
    (Param("tau", float, 0.04, "temperature: logits are scaled to norm 1/tau", minimum=0.0, maximum=100.0,
           exclusive_minimum=True, log_scale=True),
     *_COMMON),
    title="LogitNorm",
    help="CE(l / (tau ||l||), y) (Wei et al. 2022); per-object gaps apply to the normalised logits.",
)
def logitnorm(params: Mapping[str, Any]) -> LossFunction:
    tau = float(params["tau"])

    def loss(logits: torch.Tensor, targets: torch.Tensor, gaps: torch.Tensor | None) -> torch.Tensor:
        return _with_gaps(normalise_logits(logits, tau), targets, gaps)

    return loss


def loss_for(choice: Choice) -> LossFunction:
    """The per-object loss function of a spec's [loss] section."""
    return LOSSES.get(choice.name).factory(choice.params)
