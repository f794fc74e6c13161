"""Help (the shipped help page) and About (what this ensgui is built from and what its engine found)."""

from __future__ import annotations

import html
import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from .. import __version__
from ..resources import RESOURCES

HELP_PAGE = RESOURCES / "help.md"


def package_version(name: str) -> str:
    """A package's installed version, read from its metadata: the window never imports torch to learn it."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(engine_info: object | None) -> str:
    """The About box's text: versions of ensgui and what it runs on, and the device the engine found."""
    device = engine_info.device_text() if engine_info is not None else "not known yet (the engine is loading)"
    threads = f", {engine_info.cpu_threads} CPU threads" if engine_info is not None else ""
    rows = [("ensgui", __version__), ("PyTorch", package_version("torch")),
            ("torchvision", package_version("torchvision")), ("Qt", qVersion()), ("PySide6", pyside_version),
            ("pyqtgraph", package_version("pyqtgraph")), ("NumPy", package_version("numpy")),
            ("h5py", package_version("h5py")), ("Python", platform.python_version()),
            ("device for “auto”", device + threads)]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>" for k, v in rows)
    return ("<h3>ensgui — a desktop lab for ensembles of neural networks</h3>"
            f"<table cellspacing='4'>{table}</table>"
            "<p>Every run is one HDF5 file, readable with plain h5py (docs/hdf5-layout.md).</p>")


def about_box(parent: QWidget, engine_info: object | None) -> QMessageBox:
    """The About box, to be shown with open(): window-modal without blocking the event loop (a run goes on)."""
    box = QMessageBox(parent)
    box.setWindowTitle("About ensgui")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text(engine_info))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


class HelpDialog(QDialog):
    """The help page (resources/help.md), rendered; it stays open beside the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ensgui help")
        self.resize(720, 640)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(HELP_PAGE.read_text(encoding="utf-8"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
