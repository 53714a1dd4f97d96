"""Suite-wide hooks.

``ResourceWarning: unclosed file ... '/dev/null'`` at interpreter exit came
from llama-cpp-python: ``llama_cpp/_utils.py`` opens ``os.devnull`` twice at
import and keeps both open on purpose (its destructors write to them;
abetlen/llama-cpp-python#1828). Such a warning is ignored by default, but
CPython's C side keeps its own copy of the filter list, refreshed only when a
warning is issued: the last one issued under pytest's ``error`` filter left
that copy in place, and at teardown, with the ``warnings`` module gone, the
two handles' finalisers were judged by it and printed as ignored exceptions.
Issuing one (ignored) warning after pytest has restored the interpreter's
filters brings the copy back in line.
"""

from __future__ import annotations

import atexit
import warnings

import pytest


def _resync_warning_filters() -> None:
    warnings.warn("resync the interpreter's warning filters", ImportWarning, stacklevel=1)


def pytest_configure(config: pytest.Config) -> None:
    # atexit handlers run after pytest has returned (its filters are gone) and
    # before modules are torn down.
    atexit.register(_resync_warning_filters)
