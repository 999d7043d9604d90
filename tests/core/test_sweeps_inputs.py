"""Sweep inputs a user types: storage paths and URLs, ranges, and the list of studies."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

from widedeep_core.cli import main
from widedeep_core.errors import ConfigError, SweepError
from widedeep_core.sweeps import normalize_url, parse_space


@pytest.mark.parametrize("folder", ["runs?x", "runs%41y", "runs#z w"])
def test_a_runs_folder_with_url_characters_keeps_its_database_inside(tmp_path, folder):
    # '?' once started a query string and '%41' was read as 'A': sweeps.db moved elsewhere
    root = tmp_path / folder
    url = normalize_url(None, root)
    assert make_url(url).database == str((root / "sweeps.db").resolve())
    assert make_url(normalize_url(str(root / "x.db"))).database == str(root / "x.db")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://u:p@ss@127.0.0.1:1/db", "more than one '@'"),
        ("postgresql://u:pw@127.0.0.1:notaport/db", "port 'notaport' is not a number"),
    ],
)
def test_server_urls_sqlalchemy_would_misread_are_one_line(url, words, capsys):
    with pytest.raises(SweepError, match=words):
        normalize_url(url)
    assert main(["sweep", "show", "s", "--storage", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "ss@" not in err


def test_a_range_with_three_dots_is_refused_not_misread():
    # '1e-4...1e-2' once became 1e-4..1e-3 (the third dot started the upper bound)
    with pytest.raises(ConfigError, match=r"LOW\.\.HIGH"):
        parse_space(["lr=1e-4...1e-2"])
    (param,) = parse_space(["lr=1e-4..1e-2:log"]).params
    assert (param.low, param.high, param.log) == (1e-4, 1e-2, True)


def test_sweep_list_shows_every_study(tmp_path, capsys):
    from widedeep_core.data import write_synthetic

    folder = write_synthetic(tmp_path / "d", "ml-1m", n_users=40, n_items=50, n_ratings=1200)
    runs = tmp_path / "runs"
    assert main(["sweep", "list", "--runs-dir", str(runs)]) == 0
    assert "no studies" in capsys.readouterr().out
    for study in ("a", "b"):
        code = main(["sweep", "--data", str(folder), "--runs-dir", str(runs), "--study", study,
                     "--set", "epochs=1", "--set", "device=cpu", "--space", "lr=1e-3|1e-2",
                     "--trials", "1", "--quiet", "--json"])  # fmt: skip
        assert code == 0
    capsys.readouterr()
    assert main(["sweep", "list", "--runs-dir", str(runs), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["study"] for r in rows] == ["a", "b"]
    assert all(r["trials"] == 1 and r["widedeep"] and r["metric"] == "val_auc" for r in rows)
