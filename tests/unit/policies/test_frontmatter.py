from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.frontmatter import FrontMatterError, licenses_of, parse_front_matter


def test_license_read_from_front_matter(smollm2) -> None:
    doc = parse_front_matter((smollm2 / "README.md").read_bytes())
    assert licenses_of(doc) == ["apache-2.0"]


def test_license_list_and_case() -> None:
    assert licenses_of(parse_front_matter(b"---\nlicense:\n  - MIT\n  - Apache-2.0\n---\n")) == ["mit", "apache-2.0"]


@pytest.mark.parametrize(
    "card",
    [b"# no front matter", b"---\nlicense: mit\n", b"---\n[unclosed\n---\n", b"---\n- a\n---\n", b"\xff\xfe---"],
)
def test_bad_cards_raise_front_matter_error(card: bytes) -> None:
    with pytest.raises(FrontMatterError):
        parse_front_matter(card)


def test_python_object_tags_are_not_constructed() -> None:
    with pytest.raises(FrontMatterError):
        parse_front_matter(b"---\nlicense: !!python/object/apply:os.system ['echo pwned']\n---\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_any_bytes_give_a_verdict(blob: bytes) -> None:
    try:
        doc = parse_front_matter(b"---\n" + blob + b"\n---\n" if blob[:1] == b"l" else blob)
    except FrontMatterError as exc:
        assert str(exc)
        return
    assert isinstance(doc, dict)
    assert all(isinstance(x, str) and x and x == x.strip().lower() for x in licenses_of(doc))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="-:[]{}!&*|>'\"\n #ab1", max_size=200))
def test_fuzz_yaml_like_text_gives_a_verdict(text: str) -> None:
    """Either a refusal that says why, or a mapping whose licenses are clean lower-case ids."""
    try:
        doc = parse_front_matter(("---\n" + text + "\n---\n").encode())
    except FrontMatterError as exc:
        assert str(exc)
        return
    assert isinstance(doc, dict)
    assert all(isinstance(x, str) and x and x == x.strip().lower() for x in licenses_of(doc))
