"""Failures that stop a check from reaching a verdict (I/O, network, missing repo): exit code 2 upstream."""

from __future__ import annotations


class CheckError(Exception):
    """The model could not be checked; the message is one line for the user."""


class HubUnreachable(CheckError):
    """The Hub did not answer after every retry (connection errors, timeouts, 429 or 5xx): nothing is known about
    the model, so a caller tries again later instead of judging it."""
