"""How numbers, durations and text from files are written, in the window and on the terminal alike."""

from __future__ import annotations

import math
import re
import unicodedata

MISSING = "–"  # an en dash: a missing value reads as missing, not as zero


# Metrics stored as fractions and shown in percent everywhere a person reads them (the run file and CSV keep the
# fractions): the papers' tables and the Compare screen speak of error in %.
PERCENT_METRICS = frozenset({"error"})


def fmt(value: float | None) -> str:
    """Four significant digits, trailing zeros kept so a column lines up (0.7970, not 0.797); None and nan as an
    en dash."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    text = f"{value:#.4g}"
    return text[:-1] if text.endswith(".") else text


def _decimals(text: str) -> int:
    return 0 if "." not in text or "e" in text else len(text.split(".", 1)[1])


def fmt_mean_std(mean: float, std: float) -> str:
    """"0.1234 ± 0.0050": the mean to four significant digits and the std to the same decimal place, so both read
    at one precision; a std that is rounding noise (1e-17 at k = K, where every order holds all members) is 0."""
    shown = fmt(mean)
    if not math.isfinite(std):
        return shown
    if math.isfinite(mean) and abs(std) <= 1e-12 * max(1.0, abs(mean)):
        std = 0.0
    if not math.isfinite(mean) or "e" in shown:
        return f"{shown} ± {fmt(std)}"
    return f"{shown} ± {std:.{_decimals(shown)}f}"


def metric_scale(metric: str) -> float:
    """The factor from a stored metric value to the one shown (100 for error, which is shown in percent)."""
    return 100.0 if metric in PERCENT_METRICS else 1.0


def fmt_metric(metric: str, value: float | None) -> str:
    """A metric's value as people read it: error in percent, everything to four significant digits."""
    return fmt(None if value is None else value * metric_scale(metric))


def fmt_metric_mean_std(metric: str, mean: float, std: float) -> str:
    """fmt_mean_std of a metric in its shown unit (error in percent)."""
    scale = metric_scale(metric)
    return fmt_mean_std(mean * scale, std * scale)


def format_duration(seconds: float | None) -> str:
    """m:ss below an hour, h:mm:ss above; "–:––" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–:––"
    total = int(round(max(seconds, 0.0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# A terminal escape sequence (CSI "ESC [ ... letter", OSC "ESC ] ... BEL or ESC \\", or ESC and one character):
# removed whole, since dropping only the ESC would leave its tail ("[31m") in the text.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]", re.DOTALL)
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029\x85]+")


def printable(text: str, lines: bool = False) -> str:
    """Text read from a file made safe to print or show: escape sequences and control characters removed, so a
    stored string cannot move the cursor, retitle the terminal or fake another line; line breaks and tabs become
    spaces unless `lines` keeps them (a stored spec's TOML)."""
    if text.isprintable():  # nearly every string: one C-speed scan (the log of a run has thousands of lines)
        return text
    text = _ESCAPE.sub("", text)
    if not lines:
        text = _LINE_BREAKS.sub(" ", text)
    keep = "\n\t" if lines else ""
    return "".join(c for c in text if c in keep or not _is_control(c))


def _is_control(c: str) -> bool:
    # Cc: C0 and C1 controls, DEL; Cf bidirectional overrides and the like reorder what a reader sees.
    return unicodedata.category(c) in ("Cc", "Cf") and c not in "\u200d"


__all__ = ["MISSING", "fmt", "fmt_mean_std", "format_duration", "printable"]


def plural(count: int, noun: str) -> str:
    """ "1 member", "5 members"."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def size_text(members: int, rows: int) -> str:
    """An ensemble's size in the window's two words: trained members, and the ensemble rows that are averaged
    (one per member, or more where a member gives several snapshots or samples): "5 members",
    "1 member, 4 ensemble rows"."""
    if rows in (0, members) or members == 0:
        return plural(members or rows, "member")
    return f"{plural(members, 'member')}, {plural(rows, 'ensemble row')}"


def local_time(iso: str) -> str:
    """A stored UTC time ("2026-12-06T19:22:41+00:00") as local time with its zone ("2026-12-06 20:22:41 CET");
    text that is not an ISO time comes back unchanged (spaces for the T)."""
    from datetime import datetime, timezone

    try:
        stamp = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso).replace("T", " ")
    if stamp.tzinfo is None:  # the files store UTC; an old file without the zone meant UTC too
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
