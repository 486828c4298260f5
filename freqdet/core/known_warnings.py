"""Harmless environment warnings that every freqdet run would print, and the one switch that hides them.

A CPU machine with a pure-Python Detectron2 (``make install``) and torch 2.x prints, on every run,
messages that look alarming but change nothing: fvcore's import-time ``torch.jit.script`` (a
deprecation, although nothing is scripted), ``pkg_resources`` deprecated (imported by
``detectron2.model_zoo``), torch's "No CUDA runtime is found" (CUDA_HOME set, no GPU), the
"detectron2._C not built correctly: No module named 'detectron2._C'" row of Detectron2's
environment table (the extension is not installed; ROIAlign and NMS come from torchvision), and two
deprecation notes torch gives Detectron2's own code at every inference (``torch.meshgrid`` without
``indexing``, ``is_fx_tracing``).

:func:`quiet_known_warnings` hides exactly those messages and nothing else: each is matched by
its text (and, for the ``_C`` row, only when the module is missing, not when a build is broken).
``FREQDET_SHOW_WARNINGS=1`` shows them again. Only the Python standard library is used here, so
``freqdet/__init__.py`` can call :func:`quiet_import_warnings` before it imports Detectron2.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings

__all__ = ["SHOW_WARNINGS_ENV", "quiet_import_warnings", "quiet_known_warnings", "show_warnings"]

SHOW_WARNINGS_ENV = "FREQDET_SHOW_WARNINGS"

# Python warnings: (category, regex matched at the start of the message, where it comes from).
KNOWN_PYTHON_WARNINGS = (
    (FutureWarning, r"`torch\.jit\.script` is deprecated", "fvcore.nn decorates its losses when imported"),
    (Warning, r"pkg_resources is deprecated as an API", "detectron2.model_zoo imports pkg_resources"),
    (UserWarning, r"torch\.meshgrid: in an upcoming release, it will be required to pass the indexing argument",
     "Detectron2's anchor generator"),
)
# Log records: (logger name, regex matched at the start of the message).
KNOWN_LOG_RECORDS = (
    ("torch.utils.cpp_extension", r"No CUDA runtime is found"),  # CUDA_HOME set on a machine without a GPU
    ("torch.fx._symbolic_trace", r"is_fx_tracing will return true for both"),  # Detectron2's poolers ask it
)
# The row of Detectron2's "Environment info" table (logged by default_setup on the "detectron2" logger)
# saying the C++ extension is not installed at all; other _C failures (a broken build) stay.
_MISSING_C_ROW = re.compile(r"^detectron2\._C\s+not built correctly: No module named 'detectron2\._C'\n", re.M)

_installed = False


def show_warnings() -> bool:
    """True when ``FREQDET_SHOW_WARNINGS`` asks to see the known warnings (any value but empty or 0)."""
    return os.environ.get(SHOW_WARNINGS_ENV, "") not in ("", "0")


class _DropRecords(logging.Filter):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and self.pattern.match(record.msg))


class _DropMissingCRow(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Environment info:"):
            record.msg = _MISSING_C_ROW.sub("", record.msg)
        return True


def _filter_python_warnings() -> None:
    for category, message, _ in KNOWN_PYTHON_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def quiet_known_warnings() -> None:
    """Hide the known harmless warnings for the rest of this process (tools call it first thing).

    Idempotent; does nothing when ``FREQDET_SHOW_WARNINGS`` is set. Every other warning and log
    line is left as it was.
    """
    global _installed
    if _installed or show_warnings():
        return
    _filter_python_warnings()
    for name, pattern in KNOWN_LOG_RECORDS:
        logging.getLogger(name).addFilter(_DropRecords(pattern))
    logging.getLogger("detectron2").addFilter(_DropMissingCRow())
    _installed = True


@contextlib.contextmanager
def quiet_import_warnings():
    """The known Python warnings hidden while the block runs (``import freqdet`` imports Detectron2 and
    fvcore in one), leaving the process's filters as they were afterwards."""
    with warnings.catch_warnings():
        if not show_warnings():
            _filter_python_warnings()
        yield
