"""Signed JSON documents: the validator's round results and settings, signed with its sr25519 hotkey.

A document is one JSON object with `signer` (the ss58 address) and `signature` (hex); the signature covers the
canonical bytes (`harness.tasks.taskset.canonical_bytes`: sorted keys, no spaces, UTF-8) of every field but
`signature`, the same rule the task feed's batches follow. So anyone holding the file checks who published it and
that no byte of its content changed since, without trusting the server it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bittensor_core

from harness.errors import HarnessError
from harness.tasks.taskset import canonical_bytes

SIGNATURE = "signature"
SIGNER = "signer"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


class SignatureError(HarnessError):
    """The document is not signed, or not by whom it says, or was changed after signing."""

    exit_code = 1


class UnreadableDocument(HarnessError):
    """The bytes are not a JSON object of bounded size: nothing to check (exit 2 of `harness verify-report`)."""


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What the signature covers: the canonical bytes of every field but the signature itself."""
    return canonical_bytes({key: value for key, value in document.items() if key != SIGNATURE})


def sign_document(document: dict[str, Any], keypair: Any) -> dict[str, Any]:
    """`document` with `signer` set to the keypair's address and `signature` over everything else."""
    unsigned = {key: value for key, value in document.items() if key != SIGNATURE} | {SIGNER: keypair.ss58_address}
    return unsigned | {SIGNATURE: bytes(keypair.sign(canonical_bytes(unsigned))).hex()}


def verify_document(document: dict[str, Any], expected_signer: str | None = None) -> str:
    """The signer's ss58 address when `document` carries a valid signature (by `expected_signer`, if given);
    otherwise `SignatureError` saying what is wrong."""
    signer, signature = document.get(SIGNER), document.get(SIGNATURE)
    if not isinstance(signer, str) or not signer:
        raise SignatureError("the document names no signer")
    if not isinstance(signature, str) or not signature:
        raise SignatureError("the document carries no signature")
    if expected_signer is not None and signer != expected_signer:
        raise SignatureError(f"signed by {signer}, not by the expected {expected_signer}")
    try:
        raw = bytes.fromhex(signature)
        ok = bittensor_core.Keypair(ss58_address=signer).verify(signed_bytes(document), raw)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"cannot check the signature: {exc}") from None
    if not ok:
        raise SignatureError(f"the signature is not {signer}'s over this document (changed or forged)")
    return signer


def parse_document(data: bytes) -> dict[str, Any]:
    """A JSON object from bytes, bounded; anything else is `UnreadableDocument`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnreadableDocument(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableDocument(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise UnreadableDocument("not a JSON object")
    return obj


READ_TIMEOUT_S = 30.0


def read_document(location: str, timeout_s: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """A published document from an http(s) URL (one bounded GET) or a file (a bounded read): the one reader of
    `harness verify-report` and `harness selftest --like-validator`; `UnreadableDocument` otherwise."""
    from harness.feed.errors import FeedError  # why: the feed's bounded reader pulls in httpx only when needed
    from harness.feed.source import get_capped, is_http

    if is_http(location):
        try:
            status, body = get_capped(location, MAX_DOCUMENT_BYTES, timeout_s)
        except FeedError as exc:
            raise UnreadableDocument(f"cannot fetch {location}: {exc}") from None
        if status != 200:
            raise UnreadableDocument(f"{location}: HTTP {status}")
        if body is None:
            raise UnreadableDocument(f"{location} is larger than {MAX_DOCUMENT_BYTES} bytes")
        return parse_document(body)
    try:
        with Path(location).expanduser().open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise UnreadableDocument(f"cannot read {location}: {exc.strerror or exc}") from None
    return parse_document(data)
