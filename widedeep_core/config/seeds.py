"""Seeds to repeat a configuration over: parsing the text and naming each run.

The CLI's ``--seeds`` and the Configure page's seeds field read the same text
("0,1,2", or a range with both ends, "0-4") through :func:`parse_seeds`; each run of a
set is named by :func:`seed_run` so that every list tells the runs apart.
"""

from __future__ import annotations

import re

from widedeep_core.config.schema import Config
from widedeep_core.errors import DataError

MAX_SEEDS = 1000  # a range longer than this is a typing slip, not a plan


def parse_seeds(text: str, what: str = "--seeds") -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` (both ends included) as whole numbers, repeats dropped.

    ``what`` names the field in the message (the CLI option or the form's field).
    """
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if (
            m
            and int(m.group(1)) <= int(m.group(2))
            and int(m.group(2)) - int(m.group(1)) < MAX_SEEDS
        ):
            seeds += range(int(m.group(1)), int(m.group(2)) + 1)
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise DataError(
                f"{what} {text!r}: give whole numbers separated by commas (0,1,2) or a range (0-4)"
            )
    if not seeds:
        raise DataError(f"{what}: give at least one seed (0,1,2)")
    return list(dict.fromkeys(seeds))


def set_name(run_name: str) -> str:
    """The name of the set a run of it belongs to: ``run_name`` without the " seed N"
    that :func:`seed_run` added ("fast lr 0.01 seed 2" -> "fast lr 0.01")."""
    return re.sub(r" seed \d+$", "", run_name) or run_name


def seed_run(cfg: Config, seed: int) -> Config:
    """``cfg`` with ``seed``, named after it ("fast seed 3"; a run of a set repeated
    again is "fast seed 0", not "fast seed 3 seed 0")."""
    return cfg.replace(seed=seed, name=f"{set_name(cfg.name or cfg.preset)} seed {seed}")
