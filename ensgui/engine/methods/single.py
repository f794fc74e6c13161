"""A single network: the baseline every ensemble is measured against."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import METHODS, Method

if TYPE_CHECKING:
    from ..training import TrainContext


@METHODS.register("single", (), title="Single model", help="One network trained on all the data.")
class SingleModel(Method):
    def train(self, ctx: TrainContext) -> None:
        from ..training import train_on_all_data

        train_on_all_data(ctx, 1, vectorize=False)
