"""Packing training state into numpy arrays for a checkpoint, and back: nets, optimiser, random generators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .members import MemberGroup

WEIGHTS = "weights/"
OPTIMIZER = "optimizer/"
RNG = "rng/"
GLOBAL_CPU = "global_cpu"
GLOBAL_CUDA = "global_cuda"


def with_prefix(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {prefix + name: value for name, value in arrays.items()}


def under(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays whose names start with prefix, with the prefix taken off."""
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}


def pack_group(group: MemberGroup) -> dict[str, np.ndarray]:
    """Every member's tensors (trainable or not, buffers too), stacked along a leading member axis."""
    return with_prefix(WEIGHTS, group.stacked_state())


def unpack_group(group: MemberGroup, arrays: Mapping[str, np.ndarray]) -> None:
    group.load_stacked_state(under(WEIGHTS, arrays))


def pack_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    """The optimiser's per-tensor state (momentum buffers, Adam's moments and step) by tensor index and key.

    Hyper-parameters are not stored: the spec rebuilds them, and the loop sets the learning rate every step.
    """
    out: dict[str, np.ndarray] = {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            out[f"{OPTIMIZER}{index}/{key}"] = array.copy()
    return out


def unpack_optimizer(optimizer: torch.optim.Optimizer, arrays: Mapping[str, np.ndarray]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in under(OPTIMIZER, arrays).items():
        index, key = name.split("/", 1)
        state.setdefault(int(index), {})[key] = torch.from_numpy(np.array(value))
    saved = optimizer.state_dict()
    saved["state"] = state
    optimizer.load_state_dict(saved)  # casts each tensor to its parameter's dtype and device ("step" excepted)


def pack_rngs(generators: Mapping[str, torch.Generator], device: torch.device) -> dict[str, np.ndarray]:
    """The states of the named generators, and of torch's global ones (dropout masks draw from them)."""
    out = {RNG + name: generator.get_state().numpy().copy() for name, generator in generators.items()}
    out[RNG + GLOBAL_CPU] = torch.get_rng_state().numpy().copy()
    if device.type == "cuda":
        out[RNG + GLOBAL_CUDA] = torch.cuda.get_rng_state(device).numpy().copy()
    return out


def unpack_rngs(generators: Mapping[str, torch.Generator], device: torch.device,
                arrays: Mapping[str, np.ndarray]) -> None:
    states = under(RNG, arrays)
    for name, generator in generators.items():
        generator.set_state(torch.from_numpy(np.array(states[name])))
    torch.set_rng_state(torch.from_numpy(np.array(states[GLOBAL_CPU])))
    if device.type == "cuda" and GLOBAL_CUDA in states:
        torch.cuda.set_rng_state(torch.from_numpy(np.array(states[GLOBAL_CUDA])), device)


def tensor_array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def to_tensor(array: np.ndarray, like: torch.Tensor | None = None, device: torch.device | None = None
              ) -> torch.Tensor:
    tensor = torch.from_numpy(np.array(array))
    if like is not None:
        return tensor.to(dtype=like.dtype, device=like.device)
    return tensor if device is None else tensor.to(device)


def member_names(names: Sequence[str], members: Sequence[int]) -> dict[str, int]:
    """Generator names of per-member streams ("order/3" for member 3) -> position in the group."""
    return {f"{name}/{m}": i for name in names for i, m in enumerate(members)}
