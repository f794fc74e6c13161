"""Gap boosting (methods.md 6): T models in turn, each with per-object gaps from the previous training margins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import SpecError
from ..events import Artefact
from ..losses import normalise_logits
from ..plan import Plan
from ..schema import Param
from .base import METHODS, Method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..training import TrainContext

BOOSTING = "boosting"  # the artefact: one row per round of models (R,), gaps and margins (R, N_train)

VARIANTS = ("save_mean", "zero_mean")
MARGINS_OF = ("previous", "ensemble")


def boosting_gaps(margins: np.ndarray, variant: str, clip: tuple[float, float] | None = None) -> np.ndarray:
    """Per-object gaps from training margins: save_mean g = 2 mean(m) - m, zero_mean g = mean(m) - m.

    Small-margin (hard) objects get large gaps; with zero_mean easy objects get negative gaps. clip = (low,
    high) bounds the gaps after the formula; None leaves them as they are.
    """
    m = np.asarray(margins, dtype=np.float64)
    if m.ndim != 1 or m.size == 0:
        raise ValueError(f"margins must be a non-empty 1-D array, got shape {m.shape}")
    if variant == "save_mean":
        gaps = 2.0 * m.mean() - m
    elif variant == "zero_mean":
        gaps = m.mean() - m
    else:
        raise ValueError(f"unknown gap boosting variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if clip is not None:
        gaps = np.clip(gaps, clip[0], clip[1])
    return gaps


# A mean |gap| this many times that of the round before means the gaps feed on themselves (our study: save_mean
# from the previous model's margins went 6 -> 29 -> 134 and the fourth model never trained).
RUNAWAY_FACTOR = 3.0


def runaway_warning(previous_gaps: np.ndarray | None, gaps: np.ndarray) -> str:
    """A warning line when this round's gaps are RUNAWAY_FACTOR times larger than the last round's, else ""."""
    if previous_gaps is None:
        return ""
    before, now = float(np.abs(previous_gaps).mean()), float(np.abs(gaps).mean())
    if before <= 0 or now < RUNAWAY_FACTOR * before:
        return ""
    return (f"warning: the gaps grew {now / before:.1f}-fold since the last round (mean |gap| {before:.3g} -> "
            f"{now:.3g}); they feed on the margins they produce and the next model may not train: set "
            f"method.clip = true, or method.margins_of = \"ensemble\"")


def train_logits(model: nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    """Logits of a net in eval mode on a whole set, float64 (N, C) on the set's device."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]).double() for i in range(0, len(x), batch)])


def boosting_round(model: int, gaps: np.ndarray, margins: np.ndarray, variant: str, margins_of: str) -> Artefact:
    """One round as a row of /analysis/boosting: the model that trains with these gaps (0-based), the gaps, and
    the training margins (of the previous model or the running ensemble) they came from."""
    return Artefact(BOOSTING, {"models": np.array([model], dtype=np.int64),
                               "gaps": np.asarray(gaps, dtype=np.float32)[None],
                               "margins": np.asarray(margins, dtype=np.float32)[None]},
                    {"variant": variant, "margins_of": margins_of}, append=True)


@METHODS.register(
    "gap_boosting",
    (
        Param("models", int, 4, "models T trained one after another; each is one ensemble row",
              minimum=1, maximum=100, label="models T"),
        Param("variant", str, "save_mean",
              "save_mean: g_i = 2 mean(m) - m_i (mean gap = mean margin); zero_mean: g_i = mean(m) - m_i "
              "(mean gap 0, easy objects get negative gaps)",
              choices=VARIANTS),
        Param("margins_of", str, "previous",
              "whose training margins set the next model's gaps: the previous model, or the running "
              "ensemble's mean logits", choices=MARGINS_OF, label="margins of"),
        Param("clip", bool, False, "clip the gaps to [gap_min, gap_max] (off: negative gaps are allowed)",
              label="clip gaps"),
        Param("gap_min", float, 0.0, "lower bound of the gaps when clip is on", minimum=-1e3, maximum=1e3,
              label="gap min"),
        Param("gap_max", float, 10.0, "upper bound of the gaps when clip is on", minimum=-1e3, maximum=1e3,
              label="gap max"),
    ),
    title="Gap boosting",
    help="Model 1 trains with the [loss] section (CE or a constant gap); every later model trains with "
         "per-object gaps from the training margins of the model before it (or of the running ensemble), so "
         "hard objects get large gaps. The last layer must be frozen; prediction = mean of the probabilities, "
         "and metrics against k use the first k models in training order.",
)
class GapBoosting(Method):
    MEMBERS_PARAM = "models"
    ORDERED_ROWS = True

    def check(self) -> None:
        loss = self.spec.loss
        if not loss["freeze_last_layer"]:
            raise SpecError("loss.freeze_last_layer = false is invalid for method gap_boosting: the models would "
                            "meet their gaps by inflating the last layer instead of learning; set "
                            "loss.freeze_last_layer = true (the seed's runs also set loss.last_layer_norm = 10)")
        p = self.params
        if p["clip"] and p["gap_min"] > p["gap_max"]:
            raise SpecError(f"method.gap_min = {p['gap_min']} is invalid: must not exceed method.gap_max = "
                            f"{p['gap_max']} when method.clip = true; lower gap_min or raise gap_max")

    def row_names(self, plan: Plan) -> list[str]:
        return [f"model {t + 1}" for t in range(plan.members)]

    def train(self, ctx: TrainContext) -> None:
        import torch

        from ..margins import logit_margins
        from ..training import NO_HOOKS, TrainHooks, train_members

        p = self.params
        everything = np.arange(len(ctx.data.train_y))
        clip = (float(p["gap_min"]), float(p["gap_max"])) if p["clip"] else None
        logit_sum: torch.Tensor | None = None  # running sum of the trained models' training logits
        previous_gaps: np.ndarray | None = None
        for t in range(self.members()):
            hooks = NO_HOOKS
            if t > 0:
                previous = ctx.build_model(t - 1, ctx.rows[t - 1], trained=True)
                logits = train_logits(previous, ctx.data.train_x, ctx.spec.evaluation["batch_size"])
                logit_sum = logits if logit_sum is None else logit_sum + logits
                source = logits if p["margins_of"] == "previous" else logit_sum / t
                margins = logit_margins(self._loss_logits(source), ctx.data.train_y).cpu().numpy()
                gaps = boosting_gaps(margins, str(p["variant"]), clip)
                hooks = TrainHooks(object_gaps=torch.as_tensor(gaps, dtype=torch.float32, device=ctx.device))
                if not ctx.trained_before(t):  # a resumed run stored this round before it stopped
                    self._announce_round(ctx, t, gaps, margins, previous_gaps)
                previous_gaps = gaps
            train_members(ctx, [t], [everything], vectorize=False, hooks=hooks)

    def _announce_round(self, ctx: TrainContext, t: int, gaps: np.ndarray, margins: np.ndarray,
                        previous_gaps: np.ndarray | None) -> None:
        p = self.params
        ctx.emit(boosting_round(t, gaps, margins, str(p["variant"]), str(p["margins_of"])))
        ctx.log(f"gap boosting model {t + 1}: mean margin {margins.mean():.4g}, gaps in "
                f"[{gaps.min():.4g}, {gaps.max():.4g}] (mean {gaps.mean():.4g})")
        warning = runaway_warning(previous_gaps, gaps)
        if warning:
            ctx.log(warning)

    def _loss_logits(self, logits: torch.Tensor) -> torch.Tensor:
        # Gaps act on the logits the loss sees, so margins are measured there too: raw logits for CE and the
        # gap loss, LogitNorm's normalised logits (norm 1/tau) for logitnorm.
        loss = self.spec.loss
        return normalise_logits(logits, float(loss["tau"])) if loss.name == "logitnorm" else logits
