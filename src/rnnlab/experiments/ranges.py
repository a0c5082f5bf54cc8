"""Integer lists as users type them on a command line: seeds, run ids."""

from __future__ import annotations

MAX_VALUES = 100_000  # far more seeds or runs than anyone trains; "0-99999999" is a typo


class TooManyValues(ValueError):
    pass


def int_ranges(text: str) -> list[int]:
    """ "3,5,7-9" -> [3, 5, 7, 8, 9]; "4" -> [4]. ValueError for anything else, so each
    caller can say in its own words what it expected."""
    values: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise ValueError(f"empty range '{part.strip()}'")
        if len(values) + last - first + 1 > MAX_VALUES:
            raise TooManyValues(
                f"'{text}' names more than {MAX_VALUES:,} numbers; give a smaller range"
            )
        values.extend(range(first, last + 1))
    return values


def ranges_text(values: list[int], sep: str = ",") -> str:
    """[1, 2, 3, 7] -> "1-3,7": a long list of ids or seeds as short as the user typed it."""
    parts: list[list[int]] = []
    for v in sorted(set(values)):
        if parts and v == parts[-1][1] + 1:
            parts[-1][1] = v
        else:
            parts.append([v, v])
    return sep.join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def few(values: list[int], shown: int = 5) -> str:
    """The first `shown` values and how many more: one line however many there are."""
    head = ", ".join(map(str, values[:shown]))
    rest = len(values) - shown
    return f"{head} and {rest:,} more" if rest > 0 else head
