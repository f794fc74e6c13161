"""Margins of a run: a fixed object subset measured at every epoch end, and every row's margins once it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from .events import Artefact, MarginsMeasured, Sink
from .margins import logit_margins, normalized_logit_margins
from .nets import load_state
from .seeding import EVAL, derive_seed

if TYPE_CHECKING:
    from .training import TrainContext

# Sub-streams of the EVAL seed: the live subsets must not shift when the evaluation draws change.
LIVE_TRAIN_STREAM, LIVE_VAL_STREAM = 1, 2


def live_subset(seed: int, objects: int, size: int, stream: int) -> np.ndarray:
    """The sorted indices of min(size, objects) objects, the same at every epoch for one spec seed."""
    if size <= 0 or objects <= 0:
        return np.zeros(0, dtype=np.int64)
    if size >= objects:
        return np.arange(objects, dtype=np.int64)
    rng = np.random.default_rng(derive_seed(seed, 0, EVAL, stream))
    return np.sort(rng.choice(objects, size=size, replace=False)).astype(np.int64)


def group_margins(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw and normalised margins of K members at once: logits (K, B, C), labels (B,) -> two (K, B)."""
    k, b, c = logits.shape
    flat = logits.reshape(k * b, c).double()
    repeated = labels.to(logits.device).repeat(k)
    return logit_margins(flat, repeated).reshape(k, b), normalized_logit_margins(flat, repeated).reshape(k, b)


def measured_events(ids: list[int], epoch: int, split: str, raw: torch.Tensor,
                    normalized: torch.Tensor) -> list[MarginsMeasured]:
    """One MarginsMeasured per member of a group from its (K, n) margins."""
    raw_np = raw.cpu().numpy().astype(np.float32)
    norm_np = normalized.cpu().numpy().astype(np.float32)
    return [MarginsMeasured(m, epoch, split, raw_np[i], norm_np[i]) for i, m in enumerate(ids)]


@torch.no_grad()
def final_margins(ctx: TrainContext, emit: Sink, known: Mapping[str, np.ndarray] | None = None) -> None:
    """Margins of every finished row on train, validation and test: one artefact margins/<split> per split.

    known holds the rows' logits (rows, N, C) of splits the prediction already ran (validation and test, for
    methods whose rows are stored nets run deterministically); only the other splits are run here. Training
    margins cover the first evaluation.margin_train_objects objects of the shuffled training split (all when 0),
    stored with their positions. Each row's stored weights are run deterministically (eval mode): for sampling
    methods whose rows hold the nets they sample around (SWAG's collected iterates, MC dropout's one net) these
    are the margins of those nets, not of the samples.
    """
    data, known = ctx.data, dict(known or {})
    n_train = int(ctx.spec.evaluation["margin_train_objects"]) or len(data.train_y)
    n_train = min(n_train, len(data.train_y))
    splits = [(name, x, y) for name, x, y in (("train", data.train_x[:n_train], data.train_y[:n_train]),
                                              ("val", data.val_x, data.val_y), ("test", data.test_x, data.test_y))
              if len(y)]
    order = sorted(ctx.rows)
    if not order or not splits:
        return
    to_run = [(name, x, y) for name, x, y in splits if name not in known]
    ctx.log(f"computing the margins of {len(order)} row(s)"
            + (f" on {n_train} of {len(data.train_y)} training objects" if n_train < len(data.train_y) else "")
            + (f"; {' and '.join(sorted(known))} from the prediction's logits" if known else ""))
    batch = ctx.spec.evaluation["batch_size"]
    model = ctx.build_model(0)
    model.eval()
    ctx.progress.start_phase("margins")
    from .prediction import predict_logits

    ran: dict[str, list[torch.Tensor]] = {name: [] for name, _, _ in to_run}
    for i, row in enumerate(order if to_run else []):
        load_state(model, ctx.rows[row])
        for name, x, _ in to_run:
            ran[name].append(predict_logits(model, x, batch))
        ctx.progress.phase_step(i + 1, len(order))
    for name, _, y in splits:
        logits = torch.from_numpy(np.asarray(known[name])) if name in known else torch.stack(ran[name])
        raw, normalized = group_margins(logits, y.cpu())
        extra = {"objects": np.asarray(data.train_index[:n_train], dtype=np.int64)} if name == "train" else {}
        emit(margins_artefact(name, raw.numpy(), normalized.numpy(), y.cpu().numpy(), extra))


MARGINS = "margins"  # artefact margins/<split>: arrays raw, normalized (K, N) float32 and labels (N,) int64


def margins_artefact(split: str, raw: np.ndarray, normalized: np.ndarray, labels: np.ndarray,
                     extra: Mapping[str, np.ndarray] | None = None) -> Artefact:
    """The final margins of every row on one split, as the run file stores them under /analysis/margins/<split>;
    extra arrays go beside them (the training split's object positions)."""
    return Artefact(f"{MARGINS}/{split}", {"raw": np.asarray(raw, dtype=np.float32),
                                           "normalized": np.asarray(normalized, dtype=np.float32),
                                           "labels": np.asarray(labels, dtype=np.int64), **(extra or {})})

