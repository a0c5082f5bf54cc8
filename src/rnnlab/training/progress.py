"""How progress lines write durations (no torch here: comparisons and sweeps use it too)."""


def hms(seconds: float) -> str:
    """3725.4 -> "1:02:05"."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
