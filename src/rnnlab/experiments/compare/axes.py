"""A comparison's grid axes, seeds and job count as the CLI and the Python API give them,
checked and normalised: values given twice or empty are refused, not trained twice or lost."""

from __future__ import annotations

import numbers
from typing import Any

from rnnlab.config import MAX_INT
from rnnlab.errors import ConfigError
from rnnlab.experiments.ranges import MAX_VALUES, TooManyValues, int_ranges


def parse_axis(text: str) -> tuple[str, list[str]]:
    """ "model.layers=1,2,3" -> ("model.layers", ["1", "2", "3"])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--grid expects FIELD=V1,V2,..., e.g. model.layers=1,2,3; got '{text}'")
    key = key.strip()
    return key, check_choices(key, [v.strip() for v in values.split(",")], f"--grid {text}")


def check_choices(axis: str, choices: list[Any], given: str) -> list[Any]:
    """An axis's values as given, refused when one is empty ("4,,8" would silently lose a
    value) or given twice (it would train the same configuration twice)."""
    if not choices:
        raise ConfigError(f"{given} has no values; give at least one, e.g. {axis}=a,b")
    kept = [c for c in choices if c is not None and c != ""]
    if len(kept) != len(choices):
        fix = f"{axis}={','.join(map(str, kept))}" if kept else f"{axis}=a,b"
        raise ConfigError(
            f"{given} has an empty value (two commas in a row, or one at an end); "
            f"give only values: {fix}"
        )
    seen: dict[str, Any] = {}
    for c in kept:
        if str(c) in seen:
            unique = ",".join(seen)
            raise ConfigError(f"{given} gives {c} twice; give each value once: {axis}={unique}")
        seen[str(c)] = c
    return kept


def normalize_grid(grid: Any) -> dict[str, list[Any]]:
    """The Python API's grid in any of its forms - {"model.hidden": [8, 16]}, the CLI's
    {"model.hidden": "8,16"} or ["model.hidden=8,16"] - as axis -> list of values. Checked
    here, since a str value would otherwise be iterated character by character."""
    if grid is None:
        return {}
    if isinstance(grid, str):
        grid = [grid]
    if isinstance(grid, (list, tuple)):
        if not all(isinstance(text, str) for text in grid):
            raise ConfigError(
                "grid as a list takes 'FIELD=V1,V2' strings, e.g. ['model.hidden=8,16']; "
                "or give a dict: {'model.hidden': [8, 16]}"
            )
        return parse_axes(list(grid))
    if not isinstance(grid, dict):
        raise ConfigError(
            f"grid must be a dict such as {{'model.hidden': [8, 16]}}, got {type(grid).__name__}"
        )
    axes: dict[str, list[Any]] = {}
    for axis, values in grid.items():
        if not isinstance(axis, str) or not axis.strip():
            raise ConfigError(
                f"grid keys are config fields such as 'model.hidden' (or 'preset'); got {axis!r}"
            )
        given = f"grid['{axis}']"
        if isinstance(values, str):  # the CLI's form: "8,16"
            choices: list[Any] = [v.strip() for v in values.split(",")]
        elif isinstance(values, (list, tuple, range)):
            choices = [v.strip() if isinstance(v, str) else v for v in values]
        elif isinstance(values, (int, float)):  # one value: an axis of one point
            choices = [values]
        else:
            raise ConfigError(
                f"{given} must be a list of values such as [8, 16] or a string '8,16'; "
                f"got {type(values).__name__}"
            )
        axes[axis.strip()] = check_choices(axis.strip(), choices, given)
    return axes


def parse_seeds(text: str) -> list[int]:
    """ "0-4" -> [0, 1, 2, 3, 4]; "1,5,9" -> [1, 5, 9]; "7" -> [7]."""
    try:
        seeds = int_ranges(text)
    except TooManyValues as exc:
        raise ConfigError(f"--seeds {exc}") from None
    except ValueError:
        raise ConfigError(
            f"--seeds expects a range or a list, e.g. 0-9 or 1,5,9; got '{text}'"
        ) from None
    _check_seeds(seeds, f"--seeds '{text}'")
    return seeds


def normalize_seeds(seeds: Any) -> list[int] | None:
    """The Python API's seeds - "0-4", [0, 1], range(5) or one int - as a checked list;
    None when not given. The same checks as the CLI's --seeds, so both refuse alike."""
    if seeds is None:
        return None
    if isinstance(seeds, str):
        return parse_seeds(seeds)
    # numbers.Integral: numpy's integers are seeds too (an element of np.arange(5))
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple, range)):
        raise ConfigError(
            "seeds must be a list of integers, a string such as '0-4' or '1,5,9', or one "
            f"integer; got {type(seeds).__name__}"
        )
    if len(seeds) > MAX_VALUES:  # as --seeds 0-99999999: a typo, and one run per seed
        raise ConfigError(f"seeds names more than {MAX_VALUES:,} seeds; give fewer")
    out = []
    for s in seeds:
        if isinstance(s, str) and s.strip().isdigit():
            s = int(s)
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise ConfigError(f"seeds must be integers, got {s!r} in {list(seeds)!r}")
        out.append(int(s))
    if not out:
        raise ConfigError(
            "seeds is empty; give at least one seed, e.g. seeds=[0] or seeds='0-4' "
            "(or leave it out to use the config's seed)"
        )
    _check_seeds(out, f"seeds {out!r}")
    return out


def _check_seeds(seeds: list[int], given: str) -> None:
    bad = [s for s in seeds if not 0 <= s <= MAX_INT]  # the config's own seed rule
    if bad:
        raise ConfigError(f"{given}: a seed must be between 0 and 2**63-1, got {bad[0]}")
    seen: set[int] = set()
    for s in seeds:
        if s in seen:
            raise ConfigError(
                f"{'--seeds' if given.startswith('--') else 'seeds'} names a seed twice "
                f"({s} in {given.split(' ', 1)[1]}); give each seed once"
            )
        seen.add(s)


def positive_jobs(jobs: Any) -> int:
    """--jobs / jobs=: a whole number of processes, 1 or more (1.5 or "2" are refused, not
    truncated or compared as text)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        # both spellings: the same check serves `--jobs 0` and compare(jobs=0)
        raise ConfigError(
            f"--jobs must be a positive integer, got {jobs!r}; give how many runs to train "
            "at once (jobs=2 in Python)"
        )
    return jobs


def parse_axes(texts: list[str]) -> dict[str, list[str]]:
    """Several --grid options; a field given twice is refused rather than silently replaced."""
    axes: dict[str, list[str]] = {}
    for text in texts:
        key, choices = parse_axis(text)
        if key in axes:
            raise ConfigError(
                f"--grid {key} is given twice; put all its values in one: {key}=a,b,c"
            )
        axes[key] = choices
    return axes


# --------------------------------------------------------------------------- planning
