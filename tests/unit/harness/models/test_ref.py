from __future__ import annotations

from pathlib import Path

import pytest

from harness.models.ref import ModelRefError, parse_model_ref

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_hub_reference_with_and_without_revision() -> None:
    ref = parse_model_ref(f"hf://HuggingFaceTB/SmolLM2-135M-Instruct@{SHA}")
    assert (ref.repo_id, ref.revision, ref.is_hub) == ("HuggingFaceTB/SmolLM2-135M-Instruct", SHA, True)
    assert str(ref) == f"hf://HuggingFaceTB/SmolLM2-135M-Instruct@{SHA}"
    assert parse_model_ref("hf://org/name").revision is None
    assert parse_model_ref("hf://org/name@v1.0").revision == "v1.0"


def test_local_path() -> None:
    ref = parse_model_ref("./models/x")
    assert not ref.is_hub and ref.path == Path("models/x")


def test_pinned_sha_required_on_demand() -> None:
    assert parse_model_ref(f"hf://org/name@{SHA}", require_sha=True).revision == SHA
    for text in ("hf://org/name", "hf://org/name@main", f"hf://org/name@{SHA[:12]}", "./local"):
        with pytest.raises(ModelRefError):
            parse_model_ref(text, require_sha=True)


@pytest.mark.parametrize(
    "text",
    ["", "hf://", "hf://org", "hf://a/b/c", "hf://org/name@", "hf://a--b/c", "hf://org/../x", "hf://-org/x",
     "hf://org/name@../../etc", "hf://org/na me"],
)  # fmt: skip
def test_bad_references(text: str) -> None:
    with pytest.raises(ModelRefError):
        parse_model_ref(text)
