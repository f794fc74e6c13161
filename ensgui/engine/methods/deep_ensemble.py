"""Deep ensembles: independently initialised members, each with its own data order, on all the data."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        from ..training import train_on_all_data

        train_on_all_data(ctx, self.members(), vectorize=self.params["vectorize"])
