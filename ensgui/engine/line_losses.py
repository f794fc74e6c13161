"""Losses and errors along the straight line θ(λ) = (1 − λ) θ_a + λ θ_b between two stored weight sets.

Two ways to walk the λ grid give the same numbers up to float rounding. "vmap" evaluates a chunk of λ at once, as
stacked weights through torch.func.vmap on shared input batches (in_dims None for the inputs), the chunk bounded by
the activations it holds. "sequential" loads one λ after another into one module. "auto" chooses per device by the
rule bench/interpolation.py measured (docs/benchmarks.md, "Interpolation"): on the CPU the sequential loop in
channels_last is faster for every registered model, since vmap turns each convolution into a grouped one that
oneDNN runs slower than separate ones; on a GPU vmap, which replaces many small kernels by one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from .bn_update import batchnorm_layers, update_batchnorm
from .data import DataSplits
from .errors import CancelledError
from .interpolation import (DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, InterpolationResult, Progress, StopCheck,
                            pick_test_objects, train_subset_size)
from .nets import build_model, has_batchnorm

if TYPE_CHECKING:
    from .spec import Spec

ENGINES = ("auto", "vmap", "sequential")
# Inference batches on the CPU (bench/interpolation.py --batches): a LeNet-5 forward ran at 9.6k objects/s with 256
# against 7.3k with the evaluation default of 1000 (larger batches leave the cache); in channels_last 128 to 512 are
# within noise of each other. vmap holds a chunk of λ per batch, so it is fastest with smaller ones: LeNet-5 at 64
# with 7 λ per chunk took 2.0 s for 8 points, at 128 with 7 λ 5.6 s.
CPU_BATCH = 256
CPU_VMAP_BATCH = 64
# Activations one vmap chunk may hold per batch; the chunk is as many λ as fit (at least one).
CHUNK_BYTES = {"cpu": 64 << 20, "cuda": 1 << 30}
CANCELLED = "interpolation cancelled by the user"

Mixed = dict[str, tuple[torch.Tensor, torch.Tensor]]


def choose_engine(engine: str, device: torch.device) -> str:
    """The engine "auto" stands for on this device (the module docstring gives the measured rule)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        return engine
    return "vmap" if device.type == "cuda" else "sequential"


def default_batch(engine: str, device: torch.device, evaluation_batch: int) -> int:
    """The inference batch an engine uses when none is given: measured on the CPU, the spec's elsewhere."""
    if device.type != "cpu":
        return evaluation_batch
    return CPU_VMAP_BATCH if engine == "vmap" else CPU_BATCH


def _interpolated_states(model: nn.Module, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                         device: torch.device) -> tuple[Mixed, dict[str, torch.Tensor]]:
    """Split the state into (a, b) tensor pairs to mix and tensors taken from a as they are."""
    expected = set(model.state_dict())
    for name, state in (("a", state_a), ("b", state_b)):
        if set(state) != expected:
            missing = sorted(expected - set(state))[:3]
            extra = sorted(set(state) - expected)[:3]
            raise ValueError(f"state {name} does not fit the spec's model (missing {missing}, unexpected {extra})")
    mixed: Mixed = {}
    fixed: dict[str, torch.Tensor] = {}
    for name in model.state_dict():
        a = torch.as_tensor(np.asarray(state_a[name])).to(device)
        b = torch.as_tensor(np.asarray(state_b[name])).to(device)
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {tuple(a.shape)} in a but {tuple(b.shape)} in b")
        # Counters such as BatchNorm's num_batches_tracked have no meaningful midpoint.
        if a.is_floating_point():
            mixed[name] = (a, b)
        else:
            fixed[name] = a
    return mixed, fixed


def mixed_state(mixed: Mixed, lam: float) -> dict[str, torch.Tensor]:
    """The floating-point tensors of θ(λ)."""
    # (1 − λ) a + λ b rather than a + λ (b − a): λ = 0 and λ = 1 then give a and b bit for bit. Both engines build
    # every λ with this one expression, so they mix the very same weights.
    return {name: (1.0 - lam) * a + lam * b for name, (a, b) in mixed.items()}


@dataclass(frozen=True)
class LineObjects:
    """The objects every λ is measured on, on the device (channels_last for convolutional nets on 4-D inputs)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def line_objects(data: DataSplits, train_objects: int, test_objects: int, seed: int, device: torch.device,
                 channels_last: bool) -> LineObjects:
    """The first train_objects of the (shuffled) training split and pick_test_objects of the test split."""
    n_train = train_subset_size(data, train_objects)
    index = torch.from_numpy(pick_test_objects(data.test_y.numpy(), test_objects, seed))
    x_train, x_test = data.train_x[:n_train], data.test_x[index]
    if channels_last and x_train.ndim == 4:
        x_train, x_test = (x.contiguous(memory_format=torch.channels_last) for x in (x_train, x_test))
    return LineObjects(x_train.to(device), data.train_y[:n_train].to(device), x_test.to(device),
                       data.test_y[index].to(device))


def _uses_channels_last(model: nn.Module, device: torch.device) -> bool:
    # Measured on the CPU only (2.0x for LeNet-5, 2.4x for ResNet-20 with oneDNN); a GPU keeps the default layout.
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


@torch.no_grad()
def evaluate_loss_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device,
                        should_stop: StopCheck) -> tuple[float, float]:
    """Mean cross-entropy and error rate of a net in eval mode (summed in float64)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(y), batch):
        if should_stop():
            raise CancelledError(CANCELLED)
        xb = x[start:start + batch].to(device)
        yb = y[start:start + batch].to(device)
        logits = model(xb).double()
        total += F.cross_entropy(logits, yb, reduction="sum")
        wrong += (logits.argmax(-1) != yb).sum()
    n = max(len(y), 1)
    return float(total) / n, float(wrong) / n


@dataclass(frozen=True)
class _Walk:
    """What both engines need: the net, the tensors to mix, the objects, the batch sizes and the callbacks."""

    model: nn.Module
    mixed: Mixed
    fixed: dict[str, torch.Tensor]
    objects: LineObjects
    batch: int
    bn_batch: int
    batchnorm: bool
    device: torch.device
    stop: StopCheck
    done: Callable[[int], None]  # called with the number of points finished so far


def _walk_sequential(walk: _Walk, grid: list[float]) -> np.ndarray:
    """One λ after another in one module: the loop before issue 12, at the tuned batch and memory format."""
    out = np.full((4, len(grid)), np.nan)
    o = walk.objects
    for i, lam in enumerate(grid):
        if walk.stop():
            raise CancelledError(CANCELLED)
        # load_state_dict copies into the module's tensors, so they keep their channels_last layout.
        walk.model.load_state_dict({**mixed_state(walk.mixed, lam), **walk.fixed})
        if walk.batchnorm:
            update_batchnorm(walk.model, o.x_train, walk.bn_batch)
        out[0, i], out[1, i] = evaluate_loss_error(walk.model, o.x_train, o.y_train, walk.batch, walk.device, walk.stop)
        out[2, i], out[3, i] = evaluate_loss_error(walk.model, o.x_test, o.y_test, walk.batch, walk.device, walk.stop)
        walk.done(i + 1)
    return out


class _StackedLine:
    """A chunk of λ as stacked tensors (leading axis λ) run through vmap on shared input batches."""

    def __init__(self, model: nn.Module) -> None:
        self.base = copy.deepcopy(model).to("meta")
        self.layers = batchnorm_layers(self.base)
        self.stats = [name for name, m in self.base.named_modules() if m in self.layers]

        def call(tensors: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, tensors, (x,))

        self.forward = vmap(call, in_dims=(0, None))
        # Dropout is active while BatchNorm statistics are recomputed in train mode (as update_batchnorm has it);
        # every λ draws its own masks.
        self.forward_train = vmap(call, in_dims=(0, None), randomness="different")

    @staticmethod
    def stack(mixed: Mixed, fixed: dict[str, torch.Tensor], lams: Sequence[float]) -> dict[str, torch.Tensor]:
        tensors = {name: torch.stack(values) for name, values in
                   zip(mixed, zip(*(mixed_state(mixed, lam).values() for lam in lams)))}
        # Real copies, not expanded views: BatchNorm counts its batches in place, per λ.
        tensors.update({name: t.expand(len(lams), *t.shape).clone() for name, t in fixed.items()})
        return tensors

    @torch.no_grad()
    def recompute_batchnorm(self, tensors: dict[str, torch.Tensor], x: torch.Tensor, batch_size: int,
                            stop: StopCheck) -> None:
        """update_batchnorm for every λ of the chunk at once: reset, then a cumulative average over x."""
        for name in self.stats:
            tensors[f"{name}.running_mean"].zero_()
            tensors[f"{name}.running_var"].fill_(1.0)
            tensors[f"{name}.num_batches_tracked"].zero_()
        momenta = [layer.momentum for layer in self.layers]
        self.base.train()
        seen = 0
        try:
            for start in range(0, len(x), batch_size):
                if stop():
                    raise CancelledError(CANCELLED)
                batch = x[start:start + batch_size]
                for layer in self.layers:  # b / (n + b): the size-weighted average of the batch statistics
                    layer.momentum = len(batch) / (seen + len(batch))
                self.forward_train(tensors, batch)
                seen += len(batch)
        finally:
            for layer, momentum in zip(self.layers, momenta):
                layer.momentum = momentum
            self.base.eval()

    @torch.no_grad()
    def loss_error(self, tensors: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, batch: int,
                   stop: StopCheck) -> tuple[np.ndarray, np.ndarray]:
        """Mean cross-entropy and error rate of every λ of the chunk (summed in float64)."""
        self.base.eval()
        lams = len(next(iter(tensors.values())))
        total = torch.zeros(lams, dtype=torch.float64, device=y.device)
        wrong = torch.zeros(lams, dtype=torch.int64, device=y.device)
        for start in range(0, len(y), batch):
            if stop():
                raise CancelledError(CANCELLED)
            yb = y[start:start + batch]
            logits = self.forward(tensors, x[start:start + batch]).double()  # (λ, B, C)
            total += F.cross_entropy(logits.flatten(0, 1), yb.repeat(lams), reduction="none").view(lams, -1).sum(1)
            wrong += (logits.argmax(-1) != yb).sum(1)
        n = max(len(y), 1)
        return total.cpu().numpy() / n, wrong.cpu().numpy() / n


def activation_bytes(model: nn.Module, sample: torch.Tensor) -> int:
    """Bytes of every leaf module's output for one object: what one λ of a vmap chunk holds per object."""
    total = 0

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()(sample[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return max(total, 1)


def chunk_size(per_object: int, batch: int, points: int, device: torch.device) -> int:
    """How many λ one vmap chunk stacks: as many as CHUNK_BYTES of activations allow, at least 1."""
    budget = CHUNK_BYTES.get(device.type, CHUNK_BYTES["cuda"])
    return int(max(1, min(points, budget // (per_object * batch))))


def _walk_vmap(walk: _Walk, grid: list[float]) -> np.ndarray:
    """Chunks of λ as stacked weights, every input batch shared by the chunk."""
    out = np.full((4, len(grid)), np.nan)
    o = walk.objects
    line = _StackedLine(walk.model)
    size = chunk_size(activation_bytes(walk.model, o.x_test), walk.batch, len(grid), walk.device)
    for start in range(0, len(grid), size):
        if walk.stop():
            raise CancelledError(CANCELLED)
        lams = grid[start:start + size]
        tensors = line.stack(walk.mixed, walk.fixed, lams)
        if walk.batchnorm:
            line.recompute_batchnorm(tensors, o.x_train, walk.bn_batch, walk.stop)
        cut = slice(start, start + len(lams))
        out[0, cut], out[1, cut] = line.loss_error(tensors, o.x_train, o.y_train, walk.batch, walk.stop)
        out[2, cut], out[3, cut] = line.loss_error(tensors, o.x_test, o.y_test, walk.batch, walk.stop)
        for i in range(start, start + len(lams)):
            walk.done(i + 1)
    return out


def interpolate(spec: Spec, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                lambdas: Sequence[float] | np.ndarray, data: DataSplits, device: torch.device | str,
                progress: Progress | None = None, should_stop: StopCheck | None = None,
                train_objects: int = DEFAULT_TRAIN_OBJECTS, test_objects: int = DEFAULT_TEST_OBJECTS,
                engine: str = "auto", batch_size: int | None = None) -> InterpolationResult:
    """Train loss, train error, test loss and test error of θ(λ) = (1 − λ) θ_a + λ θ_b at every λ.

    Floating-point parameters and buffers are mixed; integer buffers are taken from a. When the net has
    BatchNorm, its running statistics are recomputed at every λ (also at 0 and 1, so the curve is one
    consistent family) on the training objects the losses use, in batches of the spec's training batch size.
    Those are the first train_objects of the training split, which load_splits already shuffled with the spec
    seed: a fixed random subset. The test objects are the whole test split, or a class-stratified sample of
    test_objects of it drawn with the spec seed (interpolation.pick_test_objects). engine is "auto", "vmap" or
    "sequential" (see the module docstring); batch_size None is default_batch's. progress(done, total) is called
    after every point (after a vmap chunk, for each of its points); should_stop is checked between batches and
    raises CancelledError.
    """
    grid = np.asarray(lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("lambdas must be a non-empty 1-D sequence")
    device = torch.device(device)
    chosen = choose_engine(engine, device)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    stop = should_stop or (lambda: False)
    model = build_model(spec, data.input_shape, data.num_classes, trained=True).to(device)
    mixed, fixed = _interpolated_states(model, state_a, state_b, device)
    channels_last = _uses_channels_last(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    objects = line_objects(data, train_objects, test_objects, spec.seed, device, channels_last)
    batch = batch_size or default_batch(chosen, device, int(spec.evaluation["batch_size"]))
    total = int(grid.size)
    walk = _Walk(model, mixed, fixed, objects, batch, int(spec.budget["batch_size"]), has_batchnorm(model), device,
                 stop, (lambda done: progress(done, total)) if progress is not None else (lambda done: None))
    walk.done(0)
    out = (_walk_vmap if chosen == "vmap" else _walk_sequential)(walk, grid.tolist())
    return InterpolationResult(grid.copy(), out[0], out[1], out[2], out[3])


__all__ = ["CPU_BATCH", "CPU_VMAP_BATCH", "ENGINES", "LineObjects", "activation_bytes", "choose_engine", "chunk_size",
           "default_batch", "evaluate_loss_error", "interpolate", "line_objects", "mixed_state"]
