"""Devices: what is listed, what 'auto' picks, and errors that name the device."""

from __future__ import annotations

import pytest
import torch

from widedeep_core.config import Config
from widedeep_core.devices import (
    DeviceInfo,
    available_devices,
    describe_device,
    resolve_device,
)
from widedeep_core.errors import DeviceError


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine with only a CPU, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine reporting two CUDA GPUs and no MPS (resolution needs no real GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: f"Fake GPU {i}")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cpu_is_always_listed_first():
    devices = available_devices()
    assert devices[0].key == "cpu"
    assert devices[0].name.startswith("CPU (") and "threads" in devices[0].name
    assert all(isinstance(d, DeviceInfo) for d in devices)


def test_cpu_only_machine(no_gpu):
    assert [d.key for d in available_devices()] == ["cpu"]
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "mps"])
def test_unavailable_device_names_it_and_lists_what_exists(no_gpu, spec):
    with pytest.raises(DeviceError) as info:
        resolve_device(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert "not available" in message
    assert "available here: cpu (CPU (" in message


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", "", "cuda0", "tpu:0"])
def test_malformed_device(spec):
    with pytest.raises(DeviceError) as info:
        resolve_device(spec)
    message = str(info.value)
    assert repr(spec) in message and "cpu, cuda, cuda:N, mps or auto" in message
    assert "available here: cpu" in message


def test_gpus_are_listed_and_resolved(two_gpus):
    assert [(d.key, d.name) for d in available_devices()[1:]] == [
        ("cuda:0", "Fake GPU 0"),
        ("cuda:1", "Fake GPU 1"),
    ]
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda:2")
    message = str(info.value)
    assert "'cuda:2'" in message and "2 CUDA GPU" in message
    assert "cuda:1 (Fake GPU 1)" in message


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_gpu):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")
    assert available_devices()[-1] == DeviceInfo("mps", "Apple MPS")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: "Fake GPU")
    assert resolve_device("auto") == torch.device("cuda", 0)


def test_every_config_device_spec_is_understood(no_gpu):
    # Config accepts the syntax; availability is the resolver's job.
    for spec in ("cpu", "auto", "cuda", "cuda:7", "mps"):
        Config(device=spec)
    assert resolve_device(Config().device) == torch.device("cpu")


def test_resolve_accepts_torch_device_and_describe():
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert describe_device("cpu").startswith("cpu (")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_device():
    dev = resolve_device("auto")
    assert dev.type == "cuda"
    assert torch.ones(2, device=dev).sum().item() == 2.0
    assert describe_device(dev).startswith(f"cuda:{dev.index} (")
