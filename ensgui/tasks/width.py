"""The width task: Hessian and Fisher traces of a stored run's final net, stored in its run file."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..engine.data import DataSplits
from ..engine.spec import Spec
from ..engine.task_state import TaskState
from ..engine.traces import measure_width, trained_net, width_subset
from ..engine.width import MIN_PROBES, WidthResult
from ..storage.reader import read_final_weights
from ..storage.sweep_store import write_width


def measure_run_width(spec: Spec, path: Path, data: DataSplits, device: torch.device, objects: int, probes: int,
                      tol: float, state: TaskState) -> WidthResult:
    """Measure the width of member 0's final net of a run (spec: the spec it trained with) and store it there.

    Raises CancelledError when the state's stop is set first; nothing is stored then.
    """
    started = time.monotonic()
    x, y = width_subset(data.train_x, data.train_y, objects)
    state.log(f"measuring the width (Hessian and Fisher traces of CE) on {len(y)} training objects")
    model = trained_net(spec, data.input_shape, data.num_classes, read_final_weights(path), device)
    result = measure_width(model, x.to(device), y.to(device), spec.evaluation["batch_size"], probes, tol,
                           seed=spec.seed, should_stop=state.should_stop)
    write_width(path, result, {"probes": int(probes), "min_probes": min(MIN_PROBES, int(probes)), "tol": float(tol),
                               "seed": int(spec.seed), "device": str(device),
                               "seconds": round(time.monotonic() - started, 3)})
    h, ft, fe = result.hessian, result.fisher_true, result.fisher_empirical
    state.log(f"width: tr H = {h.mean:.4g} ± {h.stderr:.2g} ({h.samples} probes), tr F = {ft.mean:.4g} ± "
              f"{ft.stderr:.2g}, empirical tr F = {fe.mean:.4g} ± {fe.stderr:.2g}")
    return result


__all__ = ["measure_run_width"]
