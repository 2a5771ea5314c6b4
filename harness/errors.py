"""Errors a user sees as one line (no traceback) with a stable exit code."""

from __future__ import annotations


class HarnessError(Exception):
    """An expected failure: bad input, unreachable service, missing engine. Exit code 2 by default."""

    exit_code = 2
