"""Generated sequence-to-sequence problems: reverse or sort a digit string, add two numbers.

Examples are strings ("3141592653" -> "3562951413", "123+45" -> "168"), drawn once from a
fixed data seed. The test set never shares an example with the training set while the
problem has enough distinct examples; on tiny problems the training set repeats examples.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import ConfigError

PROBLEMS = ("reverse", "sort", "add")
DIGITS = "0123456789"

MAX_WIDTH = 18  # the most digits an operand of addition has (int64 sums)

# Enumerate every example instead of sampling when the problem has at most this many.
_ENUMERATE_LIMIT = 2_000_000


def alphabet(problem: str) -> str:
    """The characters a problem's source and target strings are written with."""
    check_problem(problem)
    return DIGITS + "+" if problem == "add" else DIGITS


def check_problem(problem: str) -> None:
    if problem not in PROBLEMS:
        raise ConfigError(f"unknown problem '{problem}'; choose one of: {', '.join(PROBLEMS)}")


def target_of(problem: str, source: str) -> str:
    """The correct answer for one source string."""
    check_problem(problem)
    if problem == "reverse":
        return source[::-1]
    if problem == "sort":
        return "".join(sorted(source))
    left, _, right = source.partition("+")
    return str(int(left) + int(right))


def space_size(problem: str, length: int, digits: int) -> int:
    """How many distinct examples the problem has."""
    return 10**length if problem in ("reverse", "sort") else 10 ** (2 * digits)


def _draw(problem: str, length: int, digits: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """n random examples as integer rows: digit strings, or (a, b) pairs for addition."""
    if problem in ("reverse", "sort"):
        return rng.integers(0, 10, size=(n, length))
    # The number of digits is uniform in 1..digits, so short numbers are not swamped by long
    # ones (uniform numbers below 1000 would be 3-digit 90 % of the time). Keeping each
    # problem once then thins the small classes (100 one-digit sums exist): docs/seq2seq.md.
    k = rng.integers(1, digits + 1, size=(n, 2))
    low = np.where(k == 1, 0, 10 ** (k - 1))
    return low + (rng.random((n, 2)) * (10**k - low)).astype(np.int64)


def _enumerate(problem: str, length: int, digits: int) -> np.ndarray:
    n = space_size(problem, length, digits)
    codes = np.arange(n, dtype=np.int64)
    if problem == "add":
        return np.stack([codes // 10**digits, codes % 10**digits], axis=1)
    powers = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return (codes[:, None] // powers) % 10


def _unique_in_order(rows: np.ndarray) -> np.ndarray:
    # Each row viewed as one opaque value: a 1-D unique is much faster than axis=0.
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    return rows[np.sort(first)]


def _strata(problem: str, rows: np.ndarray) -> list[tuple[int, ...]]:
    """Groups that must all reach the training set: for addition, the operands' digit counts
    (the 100 one-digit sums would otherwise all be drawn into the test set first)."""
    if problem != "add":
        return [()] * len(rows)
    # Counted exactly (a float log10 makes 999999999999999999 a 19-digit number).
    widths = np.ones_like(rows)
    for k in range(1, MAX_WIDTH):
        widths += rows >= 10**k
    return [tuple(w) for w in widths.tolist()]


def _stratum_space(problem: str, length: int, key: tuple[int, ...]) -> int:
    """How many distinct examples a stratum has in the whole problem."""
    if problem != "add":
        return 10**length
    size = 1
    for w in key:  # numbers of w digits: 0-9, then 10-99, 100-999, ...
        size *= 10 if w == 1 else 9 * 10 ** (w - 1)
    return size


def _split(
    problem: str, length: int, pool: np.ndarray, test_size: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """The first examples of the pool go to the test set, but from each stratum at most
    `share` of its examples in the pool (rounded up) and never more than half of all the
    examples the stratum has (a sampled pool holds few of a large stratum's: halving its
    count would leave a test set asked to outnumber the training set short)."""
    strata = _strata(problem, pool)
    counts: dict[tuple[int, ...], int] = {}
    for key in strata:
        counts[key] = counts.get(key, 0) + 1
    caps = {
        k: min(-(-int(n * share * 1e6) // 1_000_000), _stratum_space(problem, length, k) // 2)
        for k, n in counts.items()
    }
    taken = dict.fromkeys(counts, 0)
    in_test = np.zeros(len(pool), dtype=bool)
    n_test = 0
    for i, key in enumerate(strata):
        if n_test == test_size:
            break
        if taken[key] < caps[key]:
            taken[key] += 1
            in_test[i] = True
            n_test += 1
    return pool[in_test], pool[~in_test]


def _to_strings(problem: str, rows: np.ndarray) -> list[str]:
    if problem == "add":
        return [f"{a}+{b}" for a, b in rows.tolist()]
    chars = np.ascontiguousarray(rows.astype(np.uint8) + ord("0"))
    return [b.decode("ascii") for b in chars.view(f"S{rows.shape[1]}").ravel()]


def generate(
    problem: str,
    *,
    length: int,
    digits: int,
    train_size: int,
    test_size: int,
    seed: int,
) -> tuple[list[str], list[str]]:
    """(train sources, test sources), a pure function of the arguments."""
    check_problem(problem)
    rng = np.random.default_rng(seed)
    need = train_size + test_size
    space = space_size(problem, length, digits)
    if space <= _ENUMERATE_LIMIT and space <= 4 * need:
        pool = _enumerate(problem, length, digits)[rng.permutation(space)]
    else:
        # Rejection sampling: draw more than needed, drop repeats, keep the order of drawing.
        pool = _draw(problem, length, digits, rng, need + need // 4 + 16)
        pool = _unique_in_order(pool)
        for _ in range(50):
            if len(pool) >= need:
                break
            more = _draw(problem, length, digits, rng, 2 * (need - len(pool)) + 16)
            pool = _unique_in_order(np.concatenate([pool, more]))
    test, rest = _split(problem, length, pool, test_size, test_size / need)
    if len(rest) >= train_size:
        train = rest[:train_size]
        if problem == "add":
            train = _with_floor(train, digits, rng)
    else:
        train = rest[rng.integers(0, len(rest), size=train_size)]
    return _to_strings(problem, train), _to_strings(problem, test)


def _with_floor(train: np.ndarray, digits: int, rng: np.random.Generator) -> np.ndarray:
    """Each pair of operand widths (1+1 digits, 1+2, ...) fills at least a quarter of its
    uniform share of the training set, repeating its problems where it has fewer: kept once
    each, the 100 one-digit sums would be 0.05 % of 200,000 pairs, too few to learn (the
    model answered 0+0 with 10). The places given to them are taken at random from the
    widths that have more than their share."""
    strata = np.array(_strata("add", train))
    codes = strata[:, 0] * (MAX_WIDTH + 1) + strata[:, 1]
    floor = len(train) // (4 * digits * digits)
    share = len(train) // (digits * digits)
    extra: list[np.ndarray] = []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        if len(rows) < floor:
            extra.append(rows[rng.integers(0, len(rows), size=floor - len(rows))])
    if not extra:
        return train
    added = np.concatenate(extra)
    counts = {c: int((codes == c).sum()) for c in np.unique(codes)}
    donors = np.flatnonzero(np.array([counts[c] > share for c in codes]))
    dropped = rng.choice(donors, size=len(added), replace=False)
    keep = np.ones(len(train), dtype=bool)
    keep[dropped] = False
    mixed = np.concatenate([train[keep], train[added]])
    return mixed[rng.permutation(len(mixed))]
