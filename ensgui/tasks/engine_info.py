"""What an engine process reports about the machine once it has loaded torch."""

from __future__ import annotations

from dataclasses import dataclass


# In a module of its own: the engine process runs as __main__, and a class defined there would not unpickle
# in the window.
@dataclass(frozen=True)
class EngineInfo:
    """What an engine process found when it loaded torch: the first frame it sends, before any job."""

    torch_version: str
    cuda_devices: tuple[str, ...]  # names of the visible GPUs; empty on a machine without one
    cpu_threads: int  # torch's default CPU thread count there

    def device_text(self) -> str:
        """How runs with device "auto" will train, e.g. "CUDA (NVIDIA H100)" or "CPU"."""
        return f"CUDA ({', '.join(self.cuda_devices)})" if self.cuda_devices else "CPU"


def engine_info() -> EngineInfo:
    """This process's EngineInfo; imports torch."""
    import torch

    names = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) \
        if torch.cuda.is_available() else ()
    # str(): torch.__version__ is a TorchVersion, and unpickling one would import torch in the window.
    return EngineInfo(str(torch.__version__), names, torch.get_num_threads())
