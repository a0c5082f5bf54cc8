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
