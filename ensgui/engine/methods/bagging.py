"""Bagging: every member trains on its own bootstrap multiset of the training set, drawn once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..events import MemberData
from ..seeding import BOOTSTRAP, derive_seed
from .base import MEMBERS, METHODS, VECTORIZE, Method

if TYPE_CHECKING:
    from ..training import TrainContext


def bootstrap_multiset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N indices drawn uniformly with replacement, and the out-of-bag indices never drawn."""
    drawn = np.random.default_rng(seed).integers(0, n, size=n)
    out_of_bag = np.setdiff1d(np.arange(n), drawn)
    return drawn, out_of_bag


@METHODS.register(
    "bagging",
    (MEMBERS, VECTORIZE),
    title="Bagging (bootstrap)",
    help="Each member trains on N objects drawn with replacement once (about 63.2% unique); "
         "the out-of-bag objects are recorded.",
)
class Bagging(Method):
    def train(self, ctx: TrainContext) -> None:
        from ..training import train_members

        n = len(ctx.data.train_y)
        members = list(range(self.members()))
        sets = []
        for m in members:
            drawn, out_of_bag = bootstrap_multiset(n, derive_seed(self.spec.seed, m, BOOTSTRAP))
            ctx.emit(MemberData(m, drawn, out_of_bag))
            sets.append(drawn)
        train_members(ctx, members, sets, bool(self.params["vectorize"]))
