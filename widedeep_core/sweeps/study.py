"""Studies: created once with their space, resumed by name, shared through one storage URL.

A study keeps in its user attributes what its trials mean: the space, the objective
metric, the fixed configuration and the data's fingerprint. Opening a study again with
a different space (or other fixed settings, or other data) is refused, because its
trials could no longer be compared.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from widedeep_core.config import Config
from widedeep_core.errors import ConfigError, SweepError
from widedeep_core.owners import owner_alive

from .space import SearchSpace, space_from_texts
from .storage import GRACE_S, display_url, open_storage, storage_errors, storage_lock

METRICS = {"val_auc": "maximize", "val_logloss": "minimize", "val_accuracy": "maximize"}
# Ranking metrics (the top-N preset's objective) are maximised: val_ndcg@10, val_hr@20, ...
RANKING_METRIC_RE = re.compile(r"^val_(ndcg|hr|precision|recall)@\d+$")
PRUNERS = ("median", "hyperband", "none")
# Settings that may differ between the machines sharing one study.
MACHINE_FIELDS = ("device", "amp", "eval_batch_size", "log_every", "name")
STARTUP_TRIALS = 5
# A trial's run is named "<study> #<number>" and a run name holds at most 200
# characters: this leaves room for " #" and eight digits.
STUDY_NAME_MAX = 190
DATA_SLUG_MAX = 80


def validate_study_name(name: str) -> None:
    """Refuse a study name no trial could carry in its run name (ConfigError on ``--study``).

    Checked before anything starts: such a name used to fail every trial, and the sweep
    still ended "successfully".
    """
    if not name or not name.strip():
        raise ConfigError("--study", "the study name is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(
            "--study", "the study name must not contain control characters (newline, tab, ...)"
        )
    if name != name.strip():
        raise ConfigError("--study", "the study name must not start or end with spaces")
    if len(name) > STUDY_NAME_MAX:
        raise ConfigError(
            "--study",
            f"the study name has {len(name)} characters; at most {STUDY_NAME_MAX} (each "
            "trial's run is named '<study> #<trial>', at most 200 characters)",
        )


def metric_direction(metric: str) -> str:
    """``maximize`` or ``minimize`` for an objective metric; unknown ones raise ConfigError."""
    if metric in METRICS:
        return METRICS[metric]
    if RANKING_METRIC_RE.match(metric):
        return "maximize"
    raise ConfigError(
        "--metric",
        f"unknown objective {metric!r}; use one of {', '.join(METRICS)} or val_ndcg@K",
    )


@dataclass(frozen=True)
class SweepSpec:
    """Everything a worker needs to run trials of one study (picklable)."""

    study: str
    storage: str  # full URL, password included: never print it, use display_url
    space: SearchSpace
    base: Config
    data_path: str | None
    data_fingerprint: str
    runs_dir: str | None = None
    metric: str = "val_auc"
    pruner: str = "median"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return metric_direction(self.metric)

    def attrs(self) -> dict[str, Any]:
        """What the study stores about itself (JSON values)."""
        return {
            "space": self.space.texts(),
            "metric": self.metric,
            "base_config": self.base.to_dict(),
            "data_fingerprint": self.data_fingerprint,
            "data_path": self.data_path,
            "pruner": self.pruner,
            "seed": self.seed,
        }


def default_study_name(space: SearchSpace, base: Config, metric: str, data_name: str) -> str:
    """``<preset>-<data>-<hash>``: the same command resumes, another space gets a new study."""
    fixed = {k: v for k, v in base.to_dict().items() if k not in MACHINE_FIELDS}
    digest = hashlib.sha1(
        json.dumps([space.key(), fixed, metric], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{base.preset}-{data_name}".lower()).strip("-")
    return f"{slug[:DATA_SLUG_MAX].rstrip('-')}-{digest}"


def make_sampler(seed: int) -> Any:
    """Seeded TPE; see ``sampler.TrialSeededSampler``."""
    from .sampler import TrialSeededSampler

    return TrialSeededSampler(seed, STARTUP_TRIALS)


def make_pruner(name: str, epochs: int) -> Any:
    """Median (after 3 trials, from epoch 1) or Hyperband over the epochs; "none" never prunes."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(int(epochs), 1), reduction_factor=3
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError("--pruner", f"unknown pruner {name!r}; use one of {', '.join(PRUNERS)}")


def _config_differences(stored: dict[str, Any], base: Config) -> list[str]:
    now = base.to_dict()
    return [
        k
        for k in sorted(set(stored) | set(now))
        if k not in MACHINE_FIELDS and stored.get(k) != now.get(k)
    ]


def check_compatible(attrs: dict[str, Any], spec: SweepSpec) -> None:
    """Refuse to add trials of another space, metric, fixed settings or data to a study."""
    name = spec.study
    stored_space = attrs.get("space")
    if stored_space is not None and sorted(stored_space) != sorted(spec.space.texts()):
        raise SweepError(
            f"study {name!r} already exists with another search space "
            f"({'; '.join(stored_space)}), not ({'; '.join(spec.space.texts())}): its trials "
            "could not be compared; give another --study name or the same space"
        )
    if attrs.get("metric") not in (None, spec.metric):
        raise SweepError(
            f"study {name!r} optimises {attrs['metric']}, not {spec.metric}; "
            "give another --study name"
        )
    stored_base = attrs.get("base_config")
    if isinstance(stored_base, dict):
        diff = _config_differences(stored_base, spec.base)
        if diff:
            raise SweepError(
                f"study {name!r} was started with other fixed settings ({', '.join(diff)} "
                "differ): give another --study name or the same --preset and --set"
            )
    fingerprint = attrs.get("data_fingerprint")
    if fingerprint and fingerprint != spec.data_fingerprint:
        raise SweepError(
            f"study {name!r} was started on other data (fingerprint {fingerprint[:12]}, "
            f"this data {spec.data_fingerprint[:12]}); give another --study name"
        )


def check_widedeep(attrs: dict[str, Any], name: str, url: str) -> None:
    """Refuse a study this project did not create: it records no search space.

    A study made by plain Optuna (or by another tool) has trials this sweep could not
    interpret, maybe another direction; adding ours would mix the two.
    """
    if not is_widedeep(attrs):
        raise SweepError(
            f"study {name!r} in {display_url(url)} was not created by widedeep (it records "
            "no search space): give another --study name"
        )


def open_study(spec: SweepSpec, *, create: bool = True, heartbeat: bool = True) -> Any:
    """Create the study or resume it (after ``check_compatible``); returns an optuna Study.

    Looking the study up, creating it and recording its set-up happen under the
    storage's creation lock, so a second process (another sweep, or a worker) never
    sees a study without its set-up and takes it for a foreign one.
    """
    import optuna
    from optuna.study import StudyDirection

    validate_study_name(spec.study)
    storage = open_storage(spec.storage, heartbeat=heartbeat)
    sampler = make_sampler(spec.seed)
    pruner = make_pruner(spec.pruner, spec.base.epochs)
    with storage_errors(spec.storage), storage_lock(spec.storage):
        existing = _study_id(storage, spec.study)
        if existing is None:
            if not create:
                raise unknown_study(storage, spec.study, spec.storage)
            direction = StudyDirection[spec.direction.upper()]
            try:
                study_id = storage.create_new_study([direction], spec.study)
            except optuna.exceptions.DuplicatedStudyError:
                # created a moment ago by a process that does not take our lock
                existing = _study_id(storage, spec.study)
            else:
                for key, value in spec.attrs().items():
                    storage.set_study_user_attr(study_id, key, value)
        if existing is not None:
            attrs = storage.get_study_user_attrs(existing)
            check_widedeep(attrs, spec.study, spec.storage)
            check_compatible(attrs, spec)
            directions = [d.name.lower() for d in storage.get_study_directions(existing)]
            if directions != [spec.direction]:
                raise SweepError(
                    f"study {spec.study!r} is set to {'/'.join(directions)}, not "
                    f"{spec.direction} ({spec.metric}): give another --study name"
                )
        return optuna.load_study(
            study_name=spec.study, storage=storage, sampler=sampler, pruner=pruner
        )


def _study_id(storage: Any, name: str) -> int | None:
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def unknown_study(storage: Any, name: str, url: str) -> SweepError:
    """The error for a study name the storage does not know, listing the ones it has."""
    names = sorted(s.study_name for s in storage.get_all_studies())
    known = f"; studies there: {', '.join(names)}" if names else "; it holds no study yet"
    return SweepError(f"no study named {name!r} in {display_url(url)}{known}")


def load_study(name: str, url: str) -> Any:
    """Open an existing study for reading (``sweep show``, the app's table)."""
    import optuna

    storage = open_storage(url, heartbeat=False)
    with storage_errors(url):
        if _study_id(storage, name) is None:
            raise unknown_study(storage, name, url)
        return optuna.load_study(study_name=name, storage=storage)


def study_names(url: str) -> list[str]:
    """Names of the studies in a storage, sorted."""
    storage = open_storage(url, heartbeat=False)
    with storage_errors(url):
        return sorted(s.study_name for s in storage.get_all_studies())


def is_widedeep(attrs: dict[str, Any]) -> bool:
    """True for a study this project created (it records its search space and metric)."""
    return "space" in attrs and "metric" in attrs


def fail_dead_trials(study: Any) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker process on this machine is gone.

    The heartbeat catches workers on other machines after ``GRACE_S``; a worker of this
    machine is known dead at once, so a resumed sweep does not wait for it. A trial
    that never recorded its worker (the storage failed right after creating it) and
    is older than ``GRACE_S`` is dead too: a live worker records itself at once, and
    without a heartbeat nothing else would ever end it.
    """
    import datetime

    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    failed = []
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker") or {}
        pid = worker.get("pid")
        if not worker:
            started = trial.datetime_start
            if started is None or (now - started).total_seconds() < GRACE_S:
                continue
            error = "its worker stopped before it recorded itself"
        elif worker.get("host") != socket.gethostname() or owner_alive(worker):
            continue
        else:
            error = f"its worker (process {pid}) stopped mid-trial"
        try:
            storage.set_trial_user_attr(trial._trial_id, "error", error)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished (or another process failed it) meanwhile
    return failed


def base_from_attrs(attrs: dict[str, Any]) -> Config:
    """The study's fixed configuration."""
    return Config.from_dict(attrs["base_config"])


def space_from_attrs(attrs: dict[str, Any]) -> SearchSpace:
    """The study's search space."""
    return space_from_texts(attrs["space"])


def data_path_from_attrs(attrs: dict[str, Any]) -> Path | None:
    """Where the study's data was loaded from (None when unknown)."""
    path = attrs.get("data_path")
    return Path(path) if path else None
