"""A seeded TPE sampler that several worker processes can share (imports optuna)."""

from __future__ import annotations

from typing import Any

import optuna


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """TPE whose draws for trial ``n`` depend only on the seed and ``n``.

    One seeded TPE shared by several worker processes would draw the same "random"
    start-up points in each; seeding per trial number keeps the workers apart and
    keeps a one-worker sweep reproducible. TPE holds no other state: it reads the
    finished trials from the storage every time.
    """

    def __init__(self, seed: int, n_startup_trials: int = 5):
        self._seed = int(seed)
        self._startup = n_startup_trials
        self._current: tuple[int, Any] | None = None

    def _for(self, trial: Any) -> Any:
        if self._current is None or self._current[0] != trial.number:
            seed = (self._seed * 1_000_003 + trial.number) % 2**32
            tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self._startup)
            self._current = (trial.number, tpe)
        return self._current[1]

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to do: each trial's generator is derived from the seed."""
