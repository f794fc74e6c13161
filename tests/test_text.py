"""Text from files is written harmless: no escape sequences, no control characters, one line unless asked."""

from __future__ import annotations

import pytest

from ensgui.text import printable


@pytest.mark.parametrize("stored, shown", [
    ("finished", "finished"),
    ("\x1b[31mfinished\x1b[0m", "finished"),  # colour
    ("a\x1b]0;new title\x07b", "ab"),  # terminal title (OSC ended by BEL)
    ("a\x1b]8;;http://x\x1b\\b", "ab"),  # hyperlink (OSC ended by ST)
    ("a\x9b2Jb", "ab"),  # C1 CSI: clear screen
    ("first\nsecond\r\nthird", "first second third"),
    ("tab\there", "tab here"),
    ("bell\x07 del\x7f nul\x00", "bell del nul"),
    ("rtl \u202eevil", "rtl evil"),  # a bidirectional override reorders what a reader sees
    ("épée 中文 👨\u200d👩\u200d👧", "épée 中文 👨\u200d👩\u200d👧"),
])
def test_printable_on_one_line(stored, shown):
    assert printable(stored) == shown


def test_printable_keeps_lines_when_asked():
    assert printable('name = "a"\n\tseed = 1\r\n\x1b[2Jx = 2\n', lines=True) == 'name = "a"\n\tseed = 1\nx = 2\n'


@pytest.mark.parametrize("members, rows, text", [
    (5, 5, "5 members"), (1, 1, "1 member"), (1, 4, "1 member, 4 ensemble rows"), (1, 30, "1 member, 30 ensemble rows"),
    (0, 3, "3 members"),  # an old file without the plan's member count
])
def test_size_text_names_members_and_rows(members: int, rows: int, text: str) -> None:
    from ensgui.text import size_text

    assert size_text(members, rows) == text


def test_local_time_converts_the_stored_utc(monkeypatch) -> None:
    import time

    from ensgui.text import local_time

    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")  # a POSIX rule: needs no tz database
    time.tzset()
    try:
        assert local_time("2026-12-06T19:22:41+00:00") == "2026-12-06 20:22:41 CET"
        assert local_time("2026-07-01T12:00:00") == "2026-07-01 14:00:00 CEST"  # no zone stored: UTC
        assert local_time("not a time") == "not a time"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
