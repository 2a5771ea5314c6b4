"""Hostile metadata of any shape gives a report, never an exception: configs, card, templates, headers."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policies
from tests.support.model_factory import write_tiny_model

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    ["architectures", "vocab_size", "max_position_embeddings", "text_config", "vision_config", "auto_map",
     "model_type", "chat_template", "custom_pipelines"]
)  # fmt: skip
CONFIGISH = st.dictionaries(KEYS, JSON, max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGISH, CONFIGISH, st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=40))
def test_any_metadata_gives_a_report(
    config: dict, tok: dict, readme: bytes, template: bytes, weights_prefix: bytes
) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        root = write_tiny_model(tmp / "m")
        (root / "config.json").write_text(json.dumps({**json.loads((root / "config.json").read_text()), **config}))
        (root / "tokenizer_config.json").write_text(json.dumps(tok))
        (root / "README.md").write_bytes(b"---\n" + readme + b"\n---\n")
        (root / "chat_template.jinja").write_bytes(template)
        (root / "extra.safetensors").write_bytes(weights_prefix)
        report = policies.check_local(root)
        doc = json.loads(json.dumps(report.to_dict()))  # the `harness check --json` shape, whatever the input
        assert doc["allowed"] is report.allowed and len(doc["violations"]) == len(report.violations)
        assert report.rules_violated <= set(policies.RULE_IDS)
        assert all(v["message"] for v in doc["violations"]), "a refusal must say why"
    finally:
        shutil.rmtree(tmp)
