from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.commitment import (
    MAX_BYTES,
    MAX_REPO_ID,
    Commitment,
    CommitmentError,
    format,
    hash_to_b64,
    hash_to_hex,
    parse,
)

REV = "0123456789abcdef0123456789abcdef01234567"
HASH = "ab" * 32
B64 = base64.urlsafe_b64encode(bytes.fromhex(HASH)).decode().rstrip("=")


def test_hash_goes_on_chain_as_unpadded_base64url() -> None:
    assert len(B64) == 43 and B64 == "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s"
    assert hash_to_b64(HASH) == B64 and hash_to_hex(B64) == HASH == hash_to_hex(HASH)
    digest = hashlib.sha256(b"x").digest()  # '-' and '_' are the url-safe letters
    assert hash_to_hex(base64.urlsafe_b64encode(digest).decode().rstrip("=")) == digest.hex()


def test_parse_and_format_round_trip_with_and_without_competition() -> None:
    plain = f"acme/tool-llm:{REV}:{B64}"
    c = parse(plain)
    assert (c.org, c.name, c.revision, c.content_hash, c.competition) == ("acme", "tool-llm", REV, HASH, None)
    assert c.format() == plain and c.hash_b64 == B64
    assert c.model_ref == f"hf://acme/tool-llm@{REV}"
    assert parse(plain + ":sn20").competition == "sn20"
    assert format("acme/tool-llm", REV, HASH, "sn20") == plain + ":sn20"
    assert format("acme/tool-llm", REV, B64, "sn20") == plain + ":sn20"


def test_hex_hash_is_accepted_and_formats_canonically() -> None:
    legacy = f"acme/m:{REV}:{HASH}"
    c = parse(legacy)
    assert c.content_hash == HASH
    assert c.format() == f"acme/m:{REV}:{B64}" and parse(c.format()) == c


def test_longest_repo_id_fits_and_one_more_byte_does_not() -> None:
    assert MAX_REPO_ID == 43
    longest = "o/" + "n" * (MAX_REPO_ID - 2)
    text = format(longest, REV, HASH)
    assert len(text.encode()) == MAX_BYTES and parse(text).repo_id == longest
    with pytest.raises(CommitmentError, match=f"at most {MAX_BYTES}"):
        format(longest + "n", REV, HASH)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("", "empty"),
        (f"acme/m:{REV}", "2 ':'-separated parts"),
        (f"acme/m:{REV}:{HASH}:c:extra", "5 ':'-separated parts"),
        (f"acme:{REV}:{HASH}", "exactly one '/'"),
        (f"a/b/c:{REV}:{HASH}", "exactly one '/'"),
        (f"/m:{REV}:{HASH}", "ORG is empty"),
        (f"acme/-m:{REV}:{HASH}", "NAME '-m' is not a Hugging Face name"),
        (f"ac me/m:{REV}:{HASH}", "ORG 'ac me'"),
        (f"acme/a--b:{REV}:{HASH}", "'--' or '..'"),
        (f"acme/m:{REV[:-1]}:{HASH}", "REVISION"),
        (f"acme/m:{REV.upper()}:{HASH}", "lowercase hex"),
        (f"acme/m:{REV}:{HASH[:-2]}", "HASH"),
        (f"acme/m:{REV}:{B64[:-1]}", "43 unpadded base64url"),
        (f"acme/m:{REV}:{B64}=", "43 unpadded base64url"),
        (f"acme/m:{REV}:{B64[:-1]}t", "not canonical base64url"),
        (f"acme/m:{REV}:{B64[:-1]}+", "43 unpadded base64url"),
        (f"acme/m:{REV}:{HASH.upper()}", "43 unpadded base64url"),
        (f"acme/m:{REV}:{HASH}:", "COMPETITION is empty"),
        (f"acme/m:{REV}:{HASH}:sn 20", "COMPETITION"),
        (f"acme/{'m' * 30}:{REV}:{HASH}", f"at most {MAX_BYTES}"),
        (f"acme/{'m' * 39}:{REV}:{B64}", f"at most {MAX_BYTES}"),
    ],
)
def test_malformed_commitments_name_what_is_wrong(raw: str, needle: str) -> None:
    with pytest.raises(CommitmentError, match=None) as info:
        parse(raw)
    assert needle in str(info.value)


def test_format_rejects_what_parse_rejects() -> None:
    with pytest.raises(CommitmentError, match="REVISION"):
        format("acme/m", "main", HASH)
    with pytest.raises(CommitmentError, match="ORG/NAME"):
        format("just-a-name", REV, HASH)


def test_non_text_is_a_commitment_error() -> None:
    with pytest.raises(CommitmentError, match="text"):
        parse(b"acme/m")  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_string_parses_or_raises_commitment_error(raw: str) -> None:
    try:
        c = parse(raw)
    except CommitmentError:
        return
    canonical = c.format()
    assert parse(canonical) == c and format(c.repo_id, c.revision, c.content_hash, c.competition) == canonical
    assert canonical == raw or raw.split(":")[2] == c.content_hash  # only a hex HASH is rewritten


_ALNUM = "abcXYZ0189"
# Repo-id parts: alphanumeric chunks joined by single '-', '_' or '.' (so never '--' or '..'), at most 5 chars.
_part = st.builds(
    lambda a, sep, b: a + (sep + b if b else ""),
    st.text(_ALNUM, min_size=1, max_size=2),
    st.sampled_from("-_."),
    st.text(_ALNUM, max_size=2),
)
_hex40 = st.binary(min_size=20, max_size=20).map(bytes.hex)
_hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
_comp = st.none() | st.builds(
    lambda a, b: a + b, st.text(_ALNUM, min_size=1, max_size=1), st.text(_ALNUM + "-_", max_size=4)
)


@settings(max_examples=200, deadline=None)
@given(_part, _part, _hex40, _hex64, _comp)
def test_valid_parts_round_trip(org: str, name: str, rev: str, digest: str, comp: str | None) -> None:
    c = Commitment(org, name, rev, digest, comp)
    text = c.format()
    assert parse(text) == c and text.split(":")[2] == c.hash_b64
    assert format(c.repo_id, rev, digest, comp) == text  # format(parse(s)) is canonical
    assert len(text.encode()) <= MAX_BYTES
    hex_form = ":".join([c.repo_id, rev, digest] + ([comp] if comp else []))
    if len(hex_form.encode()) <= MAX_BYTES:
        assert parse(hex_form) == c and parse(hex_form).format() == text


@settings(max_examples=200, deadline=None)
@given(_part, _part, _hex40, _hex64, st.text(alphabet=":/ \n\x00é", min_size=1, max_size=3))
def test_mutated_valid_commitments_never_crash(org: str, name: str, rev: str, digest: str, junk: str) -> None:
    text = Commitment(org, name, rev, digest).format()
    for i in (0, len(org), len(text) // 2, len(text)):
        mutated = text[:i] + junk + text[i:]
        with contextlib.suppress(CommitmentError):
            parsed = parse(mutated)
            assert parse(parsed.format()) == parsed
