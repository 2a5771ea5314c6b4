from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.commitment import MAX_BYTES, Commitment, CommitmentError, format, parse

REV = "0123456789abcdef0123456789abcdef01234567"
HASH = "ab" * 32


def test_parse_and_format_round_trip_with_and_without_competition() -> None:
    plain = f"acme/tool-llm:{REV}:{HASH}"
    c = parse(plain)
    assert (c.org, c.name, c.revision, c.content_hash, c.competition) == ("acme", "tool-llm", REV, HASH, None)
    assert c.format() == plain
    assert c.model_ref == f"hf://acme/tool-llm@{REV}"
    assert parse(plain + ":sn20").competition == "sn20"
    assert format("acme/tool-llm", REV, HASH, "sn20") == plain + ":sn20"


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
        (f"acme/m:{REV}:{HASH}:", "COMPETITION is empty"),
        (f"acme/m:{REV}:{HASH}:sn 20", "COMPETITION"),
        (f"acme/{'m' * 30}:{REV}:{HASH}", f"at most {MAX_BYTES}"),
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
    assert c.format() == raw


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
    assert parse(c.format()) == c
    assert len(c.format().encode()) <= MAX_BYTES


@settings(max_examples=200, deadline=None)
@given(_part, _part, _hex40, _hex64, st.text(alphabet=":/ \n\x00é", min_size=1, max_size=3))
def test_mutated_valid_commitments_never_crash(org: str, name: str, rev: str, digest: str, junk: str) -> None:
    text = Commitment(org, name, rev, digest).format()
    for i in (0, len(org), len(text) // 2, len(text)):
        mutated = text[:i] + junk + text[i:]
        with contextlib.suppress(CommitmentError):
            assert parse(mutated).format() == mutated
