"""Load what the first run needs in a worker thread without stalling the window.

Two things stall the GUI thread while another thread imports PyTorch, even with the
GIL switch interval at 1 ms (measured on 2 cores with a 5 ms probe timer):

- ``dlopen`` of ``libtorch_cpu.so`` (400+ MB of static initialisers) runs with the GIL
  held when Python imports the extension: 400-450 ms. Loading the library first
  through a ctypes *foreign call*, which releases the GIL, takes that off the lock.
- The cyclic garbage collector: importing torch, ``torch._dynamo`` (pulled in by the
  first optimiser) and sympy allocates hundreds of thousands of objects, and each
  full collection scans all of them with the GIL held: bursts of 150-360 ms.
  Collection is paused while importing, then ``gc.freeze()`` moves everything
  loaded so far out of the collector's sight, so later collections stay short.

With both, the longest stall measured while importing torch and building the first
optimiser fell from 360-450 ms to about 40 ms.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import sys

# Loaded in dependency order; names that do not exist on a platform are skipped.
TORCH_LIBRARIES = ("libc10.so", "libtorch_cpu.so", "libtorch.so")
RTLD_NOW, RTLD_GLOBAL = 2, 0x100


def preload_torch_libraries() -> list[str]:
    """dlopen torch's big shared libraries with the GIL released (Linux); returns them."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    try:
        libc = ctypes.CDLL(None)  # a CDLL (not PyDLL) call releases the GIL
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = []
    for name in TORCH_LIBRARIES:
        path = os.path.join(lib, name)
        if os.path.exists(path) and dlopen(path.encode(), RTLD_NOW | RTLD_GLOBAL):
            loaded.append(name)
    return loaded


def warm_up() -> None:
    """Import torch, pandas, the data loader and the trainer; build one optimiser.

    Runs in a worker thread (``MainWindow(warm_up=True)`` starts it after the first
    paint). Idempotent; a failure only means the first run pays the cost itself.
    """
    gc.disable()
    try:
        preload_torch_libraries()
        import torch

        # pandas and pyarrow for the first data set; the trainer, model and optimisers

        # the first optimiser imports torch._dynamo (about a second of imports)
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    finally:
        gc.freeze()
        gc.enable()
