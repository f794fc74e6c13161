"""Errors a user can cause, each carrying one message that names the problem and the fix."""


class EnsguiError(Exception):
    """Base class: the message is shown as is (one dialog line, one CLI line)."""


class SpecError(EnsguiError):
    """A spec value is invalid; the message names the field, the value and what is allowed."""


class DataError(EnsguiError):
    """A dataset is missing or unreadable."""


class DivergedError(EnsguiError):
    """Training produced a non-finite loss."""


class RunFileError(EnsguiError):
    """A run file cannot be read or written."""


class CancelledError(EnsguiError):
    """The user asked the run to stop."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (HDF5's and torchvision's span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
