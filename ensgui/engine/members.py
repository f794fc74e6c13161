"""Member groups: K nets of one architecture run as stacked parameters (vmap) or as one plain module."""

from __future__ import annotations

import copy
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class MemberGroup(Protocol):
    """Nets trained side by side; inputs and outputs carry a leading member axis."""

    size: int

    def parameters(self) -> list[torch.Tensor]:
        """The trainable tensors (frozen ones are left out)."""
        ...

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (K, B, ...) -> logits (K, B, C): every member sees its own batch."""
        ...

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, ...) -> logits (K, B, C): every member sees the same batch."""
        ...

    def train(self, mode: bool = True) -> None: ...

    def state(self, k: int) -> dict[str, np.ndarray]: ...

    def stacked_state(self) -> dict[str, np.ndarray]:
        """Every tensor of every member, stacked along a leading member axis (a checkpoint's weights)."""
        ...

    def load_stacked_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy stacked tensors back in place, so that an optimiser built on this group keeps driving them."""
        ...


class StackedMembers:
    """Members as stacked parameter tensors driven through torch.func.vmap; element-wise optimisers
    then update each member exactly as if it were alone."""

    def __init__(self, models: list[nn.Module]) -> None:
        self.size = len(models)
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")

        def call(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        # randomness="different" gives every member its own dropout masks.
        self._own = vmap(call, in_dims=(0, 0, 0), randomness="different")
        self._shared = vmap(call, in_dims=(0, 0, None), randomness="different")

    def parameters(self) -> list[torch.Tensor]:
        # stack_module_state keeps each parameter's requires_grad, so frozen layers stay out of the optimiser.
        return [p for p in self.params.values() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._own(self.params, self.buffers, x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self._shared(self.params, self.buffers, x)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def state(self, k: int) -> dict[str, np.ndarray]:
        tensors = {**self.params, **self.buffers}
        return {name: t[k].detach().cpu().numpy().copy() for name, t in tensors.items()}

    def stacked_state(self) -> dict[str, np.ndarray]:
        return {name: t.detach().cpu().numpy().copy() for name, t in {**self.params, **self.buffers}.items()}

    @torch.no_grad()
    def load_stacked_state(self, arrays: dict[str, np.ndarray]) -> None:
        for name, tensor in {**self.params, **self.buffers}.items():
            tensor.copy_(torch.from_numpy(np.asarray(arrays[name])))


class SingleMember:
    """One ordinary module shaped like a group of one: the sequential reference path (and BatchNorm's)."""

    def __init__(self, model: nn.Module) -> None:
        self.size = 1
        self.model = model

    def parameters(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x[0]).unsqueeze(0)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).unsqueeze(0)

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def state(self, k: int) -> dict[str, np.ndarray]:
        return {name: t.detach().cpu().numpy().copy() for name, t in self.model.state_dict().items()}

    def stacked_state(self) -> dict[str, np.ndarray]:
        return {name: value[None] for name, value in self.state(0).items()}

    def load_stacked_state(self, arrays: dict[str, np.ndarray]) -> None:
        # load_state_dict copies into the existing tensors: the optimiser's references stay valid.
        # np.array: member 0 of a 0-d tensor (BatchNorm's batch count) is a numpy scalar, which torch refuses.
        self.model.load_state_dict({name: torch.from_numpy(np.array(np.asarray(arrays[name])[0]))
                                    for name in arrays})
