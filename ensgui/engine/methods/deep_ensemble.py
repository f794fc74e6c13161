"""Deep ensembles: independently initialised members, each with its own data order, on all the data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import MEMBERS, METHODS, VECTORIZE, Method

if TYPE_CHECKING:
    from ..training import TrainContext


@METHODS.register(
    "deep_ensemble",
    (MEMBERS, VECTORIZE),
    title="Deep ensemble",
    help="Lakshminarayanan et al. 2017: M nets from independent initialisations and data orders; "
         "the reference curve for the deep-ensemble equivalent.",
)
class DeepEnsemble(Method):
    def train(self, ctx: TrainContext) -> None:
        from ..training import train_members

        everything = np.arange(len(ctx.data.train_y))
        members = list(range(self.members()))
        train_members(ctx, members, [everything] * len(members), bool(self.params.get("vectorize", False)))
