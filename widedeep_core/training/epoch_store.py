"""Per-epoch arrays of a run with sampled negatives: in memory, or spilled to disk.

A two-stage run draws every epoch's negatives before training (each fold's retrieval
is fitted once and scores all of them), so what it keeps grows with the epochs: at
ML-25M's size, 4 negatives per positive over 6 epochs are ~280 million pairs. Below
``config.memory.SPILL_BYTES`` the arrays stay in memory; above, each epoch's arrays are
``.npy`` files in a temporary folder, read back one epoch at a time (``get``) or written in place
(``update``, through a memory map closed after the write): memory holds about one
epoch, the disk the rest. The folder goes when the store is closed or collected.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from widedeep_core.config import memory
from widedeep_core.errors import ConfigError

_DISK_MARGIN = 1.1  # free disk asked for, as a multiple of the arrays' bytes


class EpochStore:
    """Named arrays per epoch; ``folder`` None keeps them in memory."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, folder, True) if folder is not None else None
        )

    @classmethod
    def for_bytes(cls, need: float, what: str = "negatives") -> EpochStore:
        """A store for ``need`` bytes: in memory under ``SPILL_BYTES``, else a temporary
        folder, refused (``ConfigError`` on ``what``) when its disk has too little room."""
        if need <= memory.SPILL_BYTES:
            return cls()
        folder = Path(tempfile.mkdtemp(prefix="widedeep-negatives-"))
        free = shutil.disk_usage(folder).free
        if free < need * _DISK_MARGIN:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigError(
                what,
                f"every epoch's negatives and their features take about {need / 2**30:.1f} "
                f"GiB, kept on disk past {memory.gib(memory.SPILL_BYTES)}; {folder.parent} has "
                f"{free / 2**30:.1f} GiB free: free some space or use fewer negatives or epochs",
            )
        return cls(folder)

    @property
    def on_disk(self) -> bool:
        return self.folder is not None

    def _path(self, epoch: int, name: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{epoch}-{name}.npy"

    def put(self, epoch: int, name: str, array: np.ndarray) -> None:
        """Keep ``array`` as (epoch, name)."""
        if self.folder is None:
            self._arrays[epoch, name] = array
        else:
            np.save(self._path(epoch, name), array, allow_pickle=False)

    def zeros(self, epoch: int, name: str, shape: tuple[int, ...], dtype) -> None:
        """A zero array (epoch, name) to be filled by ``update`` (on disk: no RAM)."""
        if self.folder is None:
            self._arrays[epoch, name] = np.zeros(shape, dtype)
        else:
            mm = np.lib.format.open_memmap(self._path(epoch, name), "w+", dtype, shape)
            del mm

    def get(self, epoch: int, name: str) -> np.ndarray:
        """The array (epoch, name): the kept one, or read from its file."""
        if self.folder is None:
            return self._arrays[epoch, name]
        return np.load(self._path(epoch, name), allow_pickle=False)

    def update(self, epoch: int, name: str, positions: np.ndarray, values: np.ndarray) -> None:
        """``array[positions] = values`` (cast to the array's dtype, as an assignment casts)."""
        if self.folder is None:
            self._arrays[epoch, name][positions] = values
            return
        mm = np.lib.format.open_memmap(self._path(epoch, name), "r+")
        mm[positions] = values
        mm.flush()
        del mm

    def close(self) -> None:
        """Drop the arrays (and the folder)."""
        self._arrays.clear()
        if self._finalizer is not None:
            self._finalizer()


__all__ = ["EpochStore"]
