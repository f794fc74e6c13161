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
