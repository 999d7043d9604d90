"""A stored run loaded back from its folder: configuration, data, encoder and model.

Serving needs only run folder -> encoder -> model: nothing here imports the trainer or
the optimisers (``tests/core/test_headless.py`` enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from widedeep_core.config import Config
from widedeep_core.data.index import catalogue
from widedeep_core.data.types import MovieLensData
from widedeep_core.devices import resolve_device
from widedeep_core.errors import RunError, WideDeepError
from widedeep_core.features.encoder import FeatureEncoder
from widedeep_core.features.prepare import Prepared, prepare
from widedeep_core.features.splits import SplitRecord
from widedeep_core.model import WideDeep
from widedeep_core.runs.run import Run
from widedeep_core.runs.schema import ENCODER_JSON, RETRIEVAL_NPZ


@dataclass
class Trained:
    """A run's model in eval mode, with the encoder and data it was trained on."""

    run: Run
    config: Config
    data: MovieLensData
    encoder: FeatureEncoder
    model: WideDeep
    _prepared: Prepared | None = field(default=None, repr=False)

    def prepared(self) -> Prepared:
        """The run's split and labels recomputed (and hash-checked) on its data; a
        two-stage run's stored retrieval model attached (computed once, then kept)."""
        if self._prepared is None:
            record = SplitRecord.from_dict(self.run.read_split())
            prep = prepare(self.config, self.data, encoder=self.encoder, split_record=record)
            if self.config.two_stage:
                from widedeep_core.ranking.twostage import attach_retrieval

                # a run folder without retrieval.npz refits it from the recorded split;
                # no stored array may be larger than a square of the catalogue
                n = len(catalogue(self.data)) + 1
                arrays = self.run.load_retrieval(max_cells=n * n)
                prep = attach_retrieval(prep, arrays, where=str(self.run.file(RETRIEVAL_NPZ)))
            self._prepared = prep
        return self._prepared


def load_data_for_run(run: Run) -> MovieLensData:
    """Open the data folder a run recorded, checking it is still the same content."""
    from widedeep_core.data import load_movielens  # pulls in pyarrow; only load it here

    path = run.data_path()  # the exact bytes, also for a path that is not UTF-8
    if path is None or not path.exists():
        shown = run.read_data_info().get("path") or "unknown path"
        raise RunError(
            f"{run.path}: the data this run was trained on ({shown}) "
            "is not available; open that folder and pass it explicitly"
        )
    data = load_movielens(path)
    check_same_data(run, data)
    return data


def check_same_data(run: Run, data: MovieLensData) -> None:
    """Raise RunError when ``data`` is not the content the run was trained on."""
    if not run.trained_on(data):
        want = str(run.read_data_info().get("fingerprint"))
        raise RunError(
            f"{run.path}: the loaded data ({data.name}, fingerprint {data.fingerprint[:12]}) "
            f"is not the data this run was trained on (fingerprint {want[:12]})"
        )


def load_trained(
    run_dir: str | Path | Run,
    data: MovieLensData | None = None,
    *,
    which: str | None = None,
    device: str | torch.device = "cpu",
) -> Trained:
    """Load a run's weights into a fresh model; ``data`` None reloads the recorded folder.

    ``which`` None takes the weights the run reported its test metrics with
    (``Config.serving_weights``).
    """
    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    if not run.path.is_dir():
        raise RunError(f"{run.path}: no such run folder")
    config = run.read_config()
    if data is None:
        data = load_data_for_run(run)
    else:
        check_same_data(run, data)
    encoder = _read_encoder(run)
    try:
        model = WideDeep.from_config(config, encoder.specs)
        which = which or config.serving_weights
        state = run.load_weights(which)
        model.load_state_dict(state)
        _check_finite(state, run.weights_path(which))
    except RunError:
        raise
    except (WideDeepError, RuntimeError, KeyError, ValueError) as exc:
        raise RunError(f"{run.path}: the stored model cannot be rebuilt: {exc}") from exc
    model.to(resolve_device(device)).eval()
    return Trained(run, config, data, encoder, model)


def _check_finite(state: dict, path: Path) -> None:
    """A RunError when a stored tensor holds NaN or infinity: such a model would serve
    lists of ``p=nan`` (or none at all)."""
    for name, tensor in state.items():
        floating = isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
        if floating and not bool(torch.isfinite(tensor).all()):
            raise RunError(f"{path}: {name} holds NaN or infinite values; the run cannot serve")


def _read_encoder(run: Run) -> FeatureEncoder:
    """The run's fitted encoder; a damaged encoder.json is named in the error."""
    content = run.read_encoder()
    try:
        return FeatureEncoder.from_json(content)
    except (
        WideDeepError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
    ) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RunError(
            f"{run.file(ENCODER_JSON)}: not a valid feature encoder ({detail})"
        ) from None
