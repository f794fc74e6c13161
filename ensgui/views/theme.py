"""The one look of the window: colours of runs, members and statuses, text styles, and number formats."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from ..text import MISSING, fmt, fmt_mean_std, format_duration
from .tick_grid import TickGrid

# Qualitative palette (Tableau 10): runs, members and rounds stay distinguishable on white.
PALETTE: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                            "#7f7f7f", "#bcbd22", "#17becf")

# Status -> (text colour, badge background). "finished" text keeps the table's default colour in lists, so
# that problems stand out; the badge on Monitor shows it in green.
STATUS_COLORS: dict[str, tuple[str, str]] = {
    "idle": ("#5f6368", "#eceff1"),
    "running": ("#0d47a1", "#e3f2fd"),
    "cancelling": ("#8a4b00", "#fff3e0"),
    "finished": ("#1b5e20", "#e8f5e9"),
    "cancelled": ("#8a4b00", "#fff3e0"),
    "failed": ("#b71c1c", "#ffebee"),
    "diverged": ("#b71c1c", "#ffebee"),
    "incomplete": ("#e65100", "#fff3e0"),
    "unreadable": ("#b71c1c", "#ffebee"),  # a file of the workspace that cannot be read (Runs lists it, with why)
}

ERROR_COLOR = "#c62828"
HINT_COLOR = "#555555"
PATH_COLOR = "#666666"
MESSAGE_STYLE = f"color: {HINT_COLOR}; font-size: 14px; padding: 24px; background: white;"
HINT_STYLE = f"color: {HINT_COLOR};"
ERROR_STYLE = f"color: {ERROR_COLOR};"


def add_grid(item: pg.PlotItem, alpha: float = 0.25) -> TickGrid:
    """Light grid lines at the axes' ticks behind a plot's data (kept by PlotItem.clear: the view box holds it)."""
    grid = TickGrid(item, alpha)
    item.getViewBox().addItem(grid, ignoreBounds=True)
    return grid


def settle_range(item: pg.PlotItem) -> None:
    """Fit an auto-ranged plot to its new data now: pyqtgraph otherwise fits it while painting and paints again."""
    view = item.getViewBox()
    if view.autoRangeEnabled()[0] or view.autoRangeEnabled()[1]:
        view.updateAutoRange()


def color(index: int) -> QColor:
    """The index-th colour of the palette (run i of an overlay, round i of a boosting run), cycling."""
    return QColor(PALETTE[index % len(PALETTE)])


def member_color(member: int, members: int) -> QColor:
    """The colour of a member: the palette for up to ten members, evenly spaced hues beyond."""
    if members <= len(PALETTE):
        return QColor(PALETTE[member])
    return pg.intColor(member, hues=members, values=1, maxValue=220)


def status_color(status: str) -> QColor | None:
    """The text colour of a status in lists; None for finished, which needs no attention."""
    if status == "finished" or status not in STATUS_COLORS:
        return None
    return QColor(STATUS_COLORS[status][0])


def status_badge_style(status: str) -> str:
    """A rounded, coloured badge for a status word (Monitor's header)."""
    key = status.rstrip("…").split()[0] if status else "idle"
    fg, bg = STATUS_COLORS.get(key, STATUS_COLORS["running"])
    return (f"QLabel {{ color: {fg}; background: {bg}; border: 1px solid {fg}; border-radius: 4px;"
            f" padding: 3px 10px; font-weight: bold; }}")


def status_html(status: str) -> str:
    """A status word in its colour, for rich-text headers."""
    fg = STATUS_COLORS.get(status, ("#000000", ""))[0]
    return f"<span style='color:{fg}'>{status}</span>"


__all__ = ["add_grid", "settle_range", "ERROR_COLOR", "ERROR_STYLE", "HINT_COLOR", "HINT_STYLE", "MESSAGE_STYLE", "MISSING", "PALETTE",
           "PATH_COLOR", "STATUS_COLORS", "color", "fmt", "fmt_mean_std", "format_duration", "member_color",
           "status_badge_style", "status_color", "status_html"]
