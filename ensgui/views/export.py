"""Export of plots (PNG, SVG) and tables (CSV), and the menu actions and buttons that offer it."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QGraphicsView, QMenu, QMessageBox, QTableWidget, QToolButton, QWidget

PNG_WIDTH = 1600

# Table cells keep their exact numbers under this role: a float, or a tuple of floats (mean, std)
# that the CSV writes as one column each, so an export is not limited to the displayed digits.
VALUE_ROLE = Qt.ItemDataRole.UserRole + 1

TableContents = tuple[list[str], list[list[Any]]]


def _plot_view(plot: pg.PlotWidget | pg.PlotItem) -> QGraphicsView:
    if isinstance(plot, QGraphicsView):
        return plot
    views = plot.scene().views() if plot.scene() is not None else []
    if not views:
        raise ValueError("the plot is not shown in any view, so it has no size to export")
    return views[0]


def export_png(plot: pg.PlotWidget | pg.PlotItem, path: str | Path, width: int = PNG_WIDTH) -> Path:
    """Render the plot to a PNG of the given pixel width (height keeps the on-screen aspect ratio)."""
    path = Path(path)
    view = _plot_view(plot)
    source = view.mapToScene(view.viewport().rect()).boundingRect()
    # Painting at a device pixel ratio scales text, legend, markers and lines alike, as on a HiDPI
    # screen; pyqtgraph's ImageExporter at 1600 px leaves the legend at screen size and cuts the title.
    ratio = max(float(width) / max(source.width(), 1.0), 0.1)
    image = QImage(int(round(source.width() * ratio)), int(round(source.height() * ratio)),
                   QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(ratio)
    brush = view.backgroundBrush()
    image.fill(brush.color() if brush.style() != Qt.BrushStyle.NoBrush else QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # The scene, not the widget: QPaintDevice calls on a pyqtgraph view crash PySide6 6.12.
        view.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"Qt could not write {path}")
    return path


def export_svg(plot: pg.PlotWidget | pg.PlotItem, path: str | Path) -> Path:
    """Write the plot as an SVG vector drawing."""
    path = Path(path)
    view = _plot_view(plot)
    # Qt's own SVG generator: pyqtgraph 0.14's SVGExporter rewrites Qt's path data and fails on the
    # "Z" (close path) that Qt 6.12 writes for every rectangle, the view box's border included.
    source = view.mapToScene(view.viewport().rect()).boundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(int(target.width()), int(target.height())))
    generator.setViewBox(target)
    # The scene is laid out for the screen's logical DPI; at the generator's default of 72 the data
    # items and the axes disagree by that ratio.
    screen = view.screen()
    generator.setResolution(int(round(screen.logicalDotsPerInch())) if screen is not None else 96)
    generator.setTitle(path.stem)
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.scene().render(painter, target, source)
    finally:
        painter.end()
    if not path.exists():
        raise OSError(f"Qt could not write {path}")
    return path


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write a header line and rows; floats are written with repr so they read back exactly."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return path


def table_contents(table: QTableWidget) -> TableContents:
    """Header and rows of a table; cells with VALUE_ROLE numbers give those (a tuple gives several columns)."""
    n_rows, n_cols = table.rowCount(), table.columnCount()
    cells = [[_cell_value(table, r, c) for c in range(n_cols)] for r in range(n_rows)]
    widths = [max([len(row[c]) for row in cells if isinstance(row[c], tuple)] + [1]) for c in range(n_cols)]
    header: list[str] = []
    for c in range(n_cols):
        item = table.horizontalHeaderItem(c)
        name = " ".join(item.text().split()) if item is not None else str(c)
        # A mean ± std column becomes "<name> mean" and "<name> std".
        header += [name] if widths[c] == 1 else [f"{name} {s}" for s in _PART_NAMES[:widths[c]]]
    rows: list[list[Any]] = []
    for row in cells:
        out: list[Any] = []
        for c, value in enumerate(row):
            values = list(value) if isinstance(value, tuple) else [value]
            out += values[:widths[c]] + [""] * (widths[c] - len(values))
        rows.append(out)
    return header, rows


_PART_NAMES = ("mean", "std", "low", "high")


def _cell_value(table: QTableWidget, row: int, column: int) -> Any:
    item = table.item(row, column)
    if item is None:
        return ""
    value = item.data(VALUE_ROLE)
    return item.text() if value is None else value


def export_table_csv(table: QTableWidget, path: str | Path) -> Path:
    header, rows = table_contents(table)
    return write_csv(path, header, rows)


def _ask_path(parent: QWidget | None, title: str, suggested: str, file_filter: str, suffix: str) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(parent, title, suggested, file_filter)
    if not name:
        return None
    path = Path(name)
    return path if path.suffix else path.with_suffix(suffix)


def _run_export(parent: QWidget | None, write: Callable[[Path], Path], title: str, suggested: str,
                file_filter: str, suffix: str) -> Path | None:
    path = _ask_path(parent, title, suggested, file_filter, suffix)
    if path is None:
        return None
    try:
        return write(path)
    except Exception as exc:  # noqa: BLE001 - a full disk or a bad folder is a message, not a crash
        QMessageBox.warning(parent, "Export failed", f"cannot write {path}: {exc}")
        return None


def save_plot_png(plot: pg.PlotWidget | pg.PlotItem, parent: QWidget | None, name: str = "plot") -> Path | None:
    """Ask for a file name and export the plot as PNG; None when the user cancels."""
    return _run_export(parent, lambda p: export_png(plot, p), "Export PNG", f"{name}.png", "PNG image (*.png)",
                       ".png")


def save_plot_svg(plot: pg.PlotWidget | pg.PlotItem, parent: QWidget | None, name: str = "plot") -> Path | None:
    """Ask for a file name and export the plot as SVG; None when the user cancels."""
    return _run_export(parent, lambda p: export_svg(plot, p), "Export SVG", f"{name}.svg", "SVG drawing (*.svg)",
                       ".svg")


def save_table_csv(table: QTableWidget, parent: QWidget | None, name: str = "table") -> Path | None:
    """Ask for a file name and export the table as CSV; None when the user cancels."""
    return _run_export(parent, lambda p: export_table_csv(table, p), "Export CSV", f"{name}.csv",
                       "CSV table (*.csv)", ".csv")


def save_rows_csv(contents: Callable[[], TableContents], parent: QWidget | None, name: str = "table") -> Path | None:
    """Ask for a file name and write contents() (header, rows) as CSV; None when the user cancels."""
    return _run_export(parent, lambda p: write_csv(p, *contents()), "Export CSV", f"{name}.csv", "CSV table (*.csv)",
                       ".csv")


def save_text(text: str, parent: QWidget | None, title: str, suggested: str, file_filter: str,
              suffix: str) -> Path | None:
    """Ask for a file name and write text to it (UTF-8); None when the user cancels or the write fails."""
    def write(path: Path) -> Path:
        path.write_text(text, encoding="utf-8")
        return path

    return _run_export(parent, write, title, suggested, file_filter, suffix)


def csv_export_action(parent: QWidget, contents: Callable[[], TableContents],
                      name: str | Callable[[], str] = "table") -> QAction:
    """An "Export CSV…" action for data that is not a QTableWidget (a plot's bins, say)."""
    action = QAction("Export CSV…", parent)
    action.triggered.connect(lambda: save_rows_csv(contents, parent, name() if callable(name) else name))
    return action


def plot_export_actions(plot: pg.PlotWidget, name: str | Callable[[], str] = "plot") -> list[QAction]:
    """"Export PNG…" and "Export SVG…" actions, also added to the plot's right-click menu."""
    def current() -> str:
        return name() if callable(name) else name

    png = QAction("Export PNG…", plot)
    png.triggered.connect(lambda: save_plot_png(plot, plot, current()))
    svg = QAction("Export SVG…", plot)
    svg.triggered.connect(lambda: save_plot_svg(plot, plot, current()))
    menu = plot.getPlotItem().getViewBox().menu
    if menu is not None:
        menu.addSeparator()
        menu.addAction(png)
        menu.addAction(svg)
    return [png, svg]


def table_export_actions(table: QTableWidget, name: str | Callable[[], str] = "table") -> list[QAction]:
    """An "Export CSV…" action, also shown in the table's right-click menu."""
    action = QAction("Export CSV…", table)
    action.triggered.connect(lambda: save_table_csv(table, table, name() if callable(name) else name))
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    table.addAction(action)
    return [action]


def export_button(actions: Sequence[QAction], parent: QWidget | None = None, text: str = "Export") -> QToolButton:
    """A small "Export ▾" button whose menu holds the given actions."""
    button = QToolButton(parent)
    button.setObjectName("export")  # Ctrl+E opens the first visible one of the screen in view (views.window_menus)
    # The arrow is part of the text, as on Setup's Presets button: Qt's own indicator overlaps the last letter.
    button.setText(f"{text} ▾")
    button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    for action in actions:
        menu.addAction(action)
    button.setMenu(menu)
    return button


__all__ = ["PNG_WIDTH", "VALUE_ROLE", "csv_export_action", "export_button", "export_png", "export_svg",
           "export_table_csv", "plot_export_actions", "save_plot_png", "save_plot_svg", "save_rows_csv",
           "save_table_csv", "save_text", "table_contents", "table_export_actions", "write_csv"]
