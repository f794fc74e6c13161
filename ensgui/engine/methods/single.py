"""A single network: the baseline every ensemble is measured against."""

from __future__ import annotations

from .base import METHODS
from .deep_ensemble import DeepEnsemble


@METHODS.register("single", (), title="Single model", help="One network trained on all the data.")
class SingleModel(DeepEnsemble):
    def members(self) -> int:
        return 1
