"""How numbers and durations are written, in the window and on the terminal alike."""

from __future__ import annotations

import math

MISSING = "–"  # an en dash: a missing value reads as missing, not as zero


def fmt(value: float | None) -> str:
    """Four significant digits; None and nan as an en dash."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.4g}"


def fmt_mean_std(mean: float, std: float) -> str:
    """"0.1234 ± 0.005"; a std that is rounding noise (1e-17 at k = K, where every order holds all members) is 0."""
    if not math.isfinite(std):
        return fmt(mean)
    if math.isfinite(mean) and abs(std) <= 1e-12 * max(1.0, abs(mean)):
        std = 0.0
    return f"{fmt(mean)} ± {fmt(std)}"


def format_duration(seconds: float | None) -> str:
    """m:ss below an hour, h:mm:ss above; "–:––" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–:––"
    total = int(round(max(seconds, 0.0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


__all__ = ["MISSING", "fmt", "fmt_mean_std", "format_duration"]
