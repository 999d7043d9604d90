"""The slice and contour views of a study, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from widedeep_core.sweeps.views import axis_of, contour_view, slice_view


def summary(trials):
    space = ["lr=1e-4..1e-2:log", "hidden=64,32|128,64", "embed_dim=8..32"]
    return {"space": space, "trials": [{"number": i, **t} for i, t in enumerate(trials)]}


TRIALS = [
    {"value": 0.70, "params": {"lr": 1e-4, "hidden": "64,32", "embed_dim": 8}},
    {"value": 0.75, "params": {"lr": 1e-3, "hidden": "128,64", "embed_dim": 16}},
    {"value": 0.80, "params": {"lr": 1e-2, "hidden": "64,32", "embed_dim": 32}},
    {"value": None, "params": {"lr": 3e-3, "hidden": "64,32", "embed_dim": 8}},  # pruned early
    {"value": float("nan"), "params": {"lr": 3e-3, "hidden": "64,32", "embed_dim": 8}},
]


def test_slice_has_one_point_per_finished_trial_on_the_parameters_scale():
    s = slice_view(summary(TRIALS), "lr")
    assert s.numbers.tolist() == [0, 1, 2] and s.values.tolist() == [0.70, 0.75, 0.80]
    assert s.axis.log and s.axis.positions == pytest.approx([-4, -3, -2])  # the space's :log
    lin = slice_view(summary(TRIALS), "embed_dim")
    assert not lin.axis.log and lin.axis.positions.tolist() == [8, 16, 32]
    cat = slice_view(summary(TRIALS), "hidden")
    assert cat.axis.ticks == [(0.0, "128,64"), (1.0, "64,32")]
    assert cat.axis.positions.tolist() == [1.0, 0.0, 1.0]


def test_missing_parameter_is_nan_not_an_error():
    ax = axis_of([{"params": {"lr": 0.1}}, {"params": {}}], "lr")
    assert ax.positions[0] == 0.1 and np.isnan(ax.positions[1])
    # without a space: log where the values span more than two decades
    spread = axis_of([{"params": {"lr": 1e-5}}, {"params": {"lr": 1e-2}}], "lr")
    assert spread.log and spread.positions.tolist() == pytest.approx([-5, -2])


def test_contour_surface_interpolates_between_the_trials():
    c = contour_view(summary(TRIALS), "lr", "embed_dim", n=5)
    assert c.surface.shape == (5, 5)
    assert c.grid_x == pytest.approx(np.linspace(-4, -2, 5))
    assert c.grid_y == pytest.approx(np.linspace(8, 32, 5))
    # corners that are trials take their values; everything lies within the values' range
    assert c.surface[0, 0] == pytest.approx(0.70) and c.surface[4, 4] == pytest.approx(0.80)
    assert np.nanmin(c.surface) >= 0.70 - 1e-12 and np.nanmax(c.surface) <= 0.80 + 1e-12
    # a grid point away from the trials: inverse-distance weights, recomputed by hand
    px = (np.array([-4.0, -3.0, -2.0]) + 4) / 2
    py = (np.array([8.0, 16.0, 32.0]) - 8) / 24
    d = np.hypot(0.25 - px, 0.75 - py)
    expected = (np.array([0.70, 0.75, 0.80]) / d**2).sum() / (1 / d**2).sum()
    assert c.surface[1, 3] == pytest.approx(expected)


def test_contour_needs_three_distinct_points():
    c = contour_view(summary(TRIALS[:2]), "lr", "embed_dim", n=4)
    assert np.isnan(c.surface).all() and c.values.tolist() == [0.70, 0.75]


def test_importances_are_optunas_on_a_real_study_and_rank_what_matters():
    """A study whose objective follows x and ignores y: Optuna's importances (no mock)
    put x first, sum to 1, and say nothing before two trials have finished."""
    import optuna

    from widedeep_core.sweeps import param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1))[0], 1)
    assert param_importances(study) == {}
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2 + 0 * t.suggest_float("y", 0, 1), 30)
    got = param_importances(study)
    assert set(got) == {"x", "y"} and next(iter(got)) == "x"
    assert got["x"] > 0.8 and sum(got.values()) == pytest.approx(1.0)
