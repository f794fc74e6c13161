"""The plan of a run, known before training: iterations, learning rate of each, and snapshot points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plan:
    """What one member's trajectory will look like; the GUI previews it, the run file stores it."""

    lr: np.ndarray  # float64 (iterations,): learning rate of every iteration, 0-based
    snapshots: np.ndarray  # int64: index of the last iteration trained before each snapshot
    iters_per_epoch: int
    epochs: int
    members: int  # independent trajectories
    rows: int  # ensemble members in the predictions (members x snapshots per member)

    @property
    def total_iters(self) -> int:
        return len(self.lr)
