"""Which compute devices this machine has, and turning a device setting into a ``torch.device``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from widedeep_core.constants import DEVICE_SPEC_RE, DEVICE_SPECS_TEXT
from widedeep_core.errors import DeviceError


@dataclass(frozen=True)
class DeviceInfo:
    """One usable device: ``key`` is what ``Config.device`` takes, ``name`` is for people."""

    key: str
    name: str


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _cuda_count() -> int:
    # is_available() first: device_count() alone may report GPUs a broken driver cannot use.
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def available_devices() -> list[DeviceInfo]:
    """Devices that work here, CPU first, then each CUDA GPU, then Apple MPS."""
    devices = [DeviceInfo("cpu", f"CPU ({torch.get_num_threads()} threads)")]
    for index in range(_cuda_count()):
        devices.append(DeviceInfo(f"cuda:{index}", torch.cuda.get_device_name(index)))
    if _mps_available():
        devices.append(DeviceInfo("mps", "Apple MPS"))
    return devices


def _unavailable(spec: str, why: str) -> DeviceError:
    listing = ", ".join(f"{d.key} ({d.name})" for d in available_devices())
    return DeviceError(f"device {spec!r} {why}; available here: {listing}")


def resolve_device(spec: str | torch.device) -> torch.device:
    """Turn 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto' into a usable ``torch.device``.

    'auto' picks CUDA, then MPS, then the CPU. A malformed or absent device raises
    ``DeviceError`` naming it and listing the devices this machine has.
    """
    text = str(spec).strip().lower()
    if not DEVICE_SPEC_RE.match(text):
        raise _unavailable(str(spec), f"is not understood (use {DEVICE_SPECS_TEXT})")
    if text == "auto":
        if _cuda_count():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise _unavailable(text, "is not available (no Apple MPS support on this machine)")
        return torch.device("mps")
    count = _cuda_count()
    if count == 0:
        raise _unavailable(text, "is not available (no CUDA GPU is usable by this PyTorch build)")
    index = torch.cuda.current_device() if text == "cuda" else int(text.split(":", 1)[1])
    if index >= count:
        raise _unavailable(text, f"does not exist (this machine has {count} CUDA GPU(s))")
    return torch.device("cuda", index)


def describe_device(device: torch.device | str) -> str:
    """A readable name for a resolved device, e.g. 'cuda:0 (NVIDIA H100)'."""
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)
