"""The one spelling of a full commit sha (40 lowercase hex) for policies and the harness.

A revision that came from chain must be a commit sha, never a branch that moves; the policy check, the fetch, the
model reference parser and the local Hub mirror all test that, and one pattern keeps them from drifting apart
(`chain.commitment` keeps its own copy because `chain` imports nothing from `policies`).
"""

from __future__ import annotations

import re

# Anchored with \A and \Z so that `.match` cannot accept a longer string or a trailing newline the way `^...$` did.
COMMIT_SHA = re.compile(r"\A[0-9a-f]{40}\Z")


def is_commit_sha(value: object) -> bool:
    """True for a full 40-hex commit sha (a branch, tag, short sha or non-string is not one)."""
    return isinstance(value, str) and COMMIT_SHA.match(value) is not None
