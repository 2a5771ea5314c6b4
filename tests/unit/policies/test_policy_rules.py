"""Every rule: the real SmolLM2 passes, and a hostile variant of a tiny valid model fails on exactly its rule."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import policies
from policies import PolicyConfig
from policies.report import RULE_IDS
from tests.support.model_factory import write_sparse_model, write_tiny_model
from tests.support.paths import REPO_ROOT


def test_smollm2_passes_every_rule(smollm2: Path) -> None:
    report = policies.check_local(smollm2)
    assert report.allowed, report.violations
    facts = report.facts
    assert facts["parameters"] == 134_515_008
    assert facts["architecture"] == "LlamaForCausalLM" and facts["model_type"] == "llama"
    assert facts["dtypes"] == ["BF16"] and facts["license"] == "apache-2.0"
    assert facts["context_length"] == 8192 and facts["has_chat_template"] is True and facts["vision"] is False
    assert {f["path"] for f in facts["files"]} >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert facts["total_bytes"] == sum(p.stat().st_size for p in smollm2.iterdir())


def test_tiny_model_passes(tmp_path: Path) -> None:
    assert policies.check_local(write_tiny_model(tmp_path / "m")).violations == []


def _edit_json(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.update(changes)
    path.write_text(json.dumps(doc))


def _corrupt_offsets(root: Path) -> None:
    blob = bytearray((root / "model.safetensors").read_bytes())
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header["model.norm.weight"]["data_offsets"] = [0, 32]  # overlaps the first tensor
    raw = json.dumps(header).encode()
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(blob[8 + n :]))


def _untied_lm_head(root: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {
        "model.embed_tokens.weight": np.ones((32, 8), np.float16),
        "lm_head.weight": np.ones((40, 8), np.float16),
    }
    save_file(tensors, str(root / "model.safetensors"))


def _torch_zip(root: Path) -> None:
    with zipfile.ZipFile(root / "weights.data", "w") as zf:  # torch.save layout, innocent name
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")


HOSTILE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "license-other": ("license", lambda r: (r / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n")),
    "license-missing-card": ("license", lambda r: (r / "README.md").unlink()),
    "license-not-declared": ("license", lambda r: (r / "README.md").write_text("---\ntags: [x]\n---\n")),
    "remote-code-py": ("remote-code", lambda r: (r / "modeling_evil.py").write_text("import os\n")),
    "remote-code-nested-py": (
        "remote-code",
        lambda r: ((r / "sub").mkdir(), (r / "sub" / "x.py").write_text("")),
    ),
    "remote-code-auto-map": (
        "remote-code",
        lambda r: _edit_json(r / "config.json", auto_map={"AutoModelForCausalLM": "modeling.Evil"}),
    ),
    "remote-code-cross-repo": (
        "remote-code",
        lambda r: _edit_json(r / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil/repo--tok.T", None]}),
    ),
    "pickle-bin": ("pickle", lambda r: (r / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")),
    "pickle-renamed": ("pickle", lambda r: (r / "notes.txt").write_bytes(b"\x80\x04\x95\x10\x00\x00\x00")),
    "pickle-protocol0-text-name": ("pickle", lambda r: (r / "notes.md").write_bytes(b"cposix\nsystem\n(S'id'\ntR.")),
    # Off the kind allowlist: refused by name, never opened.
    "pickle-protocol0": ("format", lambda r: (r / "data.json.bak").write_bytes(b"cposix\nsystem\n(S'id'\ntR.")),
    "pickle-torch-zip": ("format", _torch_zip),
    "symlink": ("symlink", lambda r: (r / "link.json").symlink_to("/etc/passwd")),
    "symlink-dir": ("symlink", lambda r: (r / "escape").symlink_to("/")),
    "special-file": ("symlink", lambda r: os.mkfifo(r / "pipe")),
    "corrupt-overlap": ("corrupt", _corrupt_offsets),
    "corrupt-huge-header": (
        "corrupt",
        lambda r: (r / "model.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}" * 8),
    ),
    "corrupt-truncated": (
        "corrupt",
        lambda r: os.truncate(r / "model.safetensors", (r / "model.safetensors").stat().st_size - 4),
    ),
    "corrupt-bad-json": ("corrupt", lambda r: (r / "model.safetensors").write_bytes(struct.pack("<Q", 4) + b"{[[[")),
    "corrupt-index-missing-shard": (
        "corrupt",
        lambda r: _edit_json(r / "model.safetensors.index.json", weight_map={"x": "model-00002-of-00002.safetensors"}),
    ),
    "config-missing": ("config", lambda r: (r / "config.json").unlink()),
    "config-model-type-disagrees": ("config", lambda r: _edit_json(r / "config.json", model_type="gpt2")),
    "names-case-collision": (
        "names",
        lambda r: ((r / "notes.txt").write_text("a"), (r / "NOTES.txt").write_text("b")),
    ),
    "names-file-beside-folder": (
        "names",
        lambda r: (
            (r / "extra.json").write_text("{}"),
            (r / "EXTRA.json").mkdir(),
            (r / "EXTRA.json/y.json").write_text("{}"),
        ),
    ),
    "template-nested-loops": (
        "template",
        lambda r: (r / "chat_template.jinja").write_text(
            "{% for a in range(4096) %}{% for b in range(4096) %}{% for c in range(4096) %}x"
            "{% endfor %}{% endfor %}{% endfor %}"
        ),
    ),
    "config-invalid-json": ("config", lambda r: (r / "config.json").write_text("{not json")),
    "config-architecture": ("config", lambda r: _edit_json(r / "config.json", architectures=["EvilForCausalLM"])),
    "config-no-architecture": ("config", lambda r: _edit_json(r / "config.json", architectures=None)),
    "config-vocab-mismatch": ("config", lambda r: _edit_json(r / "config.json", vocab_size=50000)),
    "config-context-absurd": ("config", lambda r: _edit_json(r / "config.json", max_position_embeddings=2**40)),
    "config-context-not-int": ("config", lambda r: _edit_json(r / "config.json", max_position_embeddings="8k")),
    "config-text-config-context": (
        "config",
        lambda r: _edit_json(r / "config.json", text_config={"max_position_embeddings": -1}),
    ),
    "config-lm-head-rows": ("config", _untied_lm_head),
    "template-processor-config": (
        "template",
        lambda r: (r / "processor_config.json").write_text(json.dumps({"chat_template": "{{ x.__class__ }}"})),
    ),
    "template-missing": ("template", lambda r: (r / "chat_template.jinja").unlink()),
    "template-dunder": ("template", lambda r: (r / "chat_template.jinja").write_text("{{ m.__class__.__mro__ }}")),
    "template-in-tokenizer-config": (
        "template",
        lambda r: _edit_json(r / "tokenizer_config.json", chat_template="{{ cycler.__init__.__globals__ }}"),
    ),
    "template-list-in-tokenizer-config": (
        "template",
        lambda r: _edit_json(
            r / "tokenizer_config.json",
            chat_template=[
                {"name": "default", "template": "{{ m.content }}"},
                {"name": "tool_use", "template": "{{ x|attr('__class__') }}"},
            ],
        ),
    ),
    "template-json-file": (
        "template",
        lambda r: (r / "chat_template.json").write_text(json.dumps({"chat_template": "{{ ''.format_map(x) }}"})),
    ),
    "template-additional": (
        "template",
        lambda r: (
            (r / "additional_chat_templates").mkdir(),
            (r / "additional_chat_templates/tool.jinja").write_text("{{ x.mro() }}"),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_model_rejected_with_its_rule(tmp_path: Path, name: str) -> None:
    rule, mutate = HOSTILE[name]
    root = write_tiny_model(tmp_path / "m")
    mutate(root)
    report = policies.check_local(root)
    assert report.rules_violated == {rule}, report.violations
    json.dumps(report.to_dict())  # always serialisable


def test_deeply_nested_folder_does_not_crash(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    deep = str(root)
    for _ in range(1100):  # deeper than Python's recursion limit (1000)
        deep += "/d"
        os.mkdir(deep)
    Path(deep, "x.py").write_text("")
    report = policies.check_local(root)
    assert report.rules_violated == {"remote-code", "names"}  # names: a path of 2,203 bytes, 1,101 folders deep
    assert any("over the cap of 512" in v.message for v in report.violations if v.rule == "names")
    os.remove(Path(deep, "x.py"))
    while deep != str(root):  # shutil.rmtree would recurse as deep as the tree
        os.rmdir(deep)
        deep = os.path.dirname(deep)


def test_every_rule_id_has_a_hostile_case() -> None:
    assert {rule for rule, _ in HOSTILE.values()} | {"size", "format"} == set(RULE_IDS)


def test_sparse_model_over_ten_billion_parameters_rejected_on_size(tmp_path: Path) -> None:
    root = write_sparse_model(tmp_path / "big", 11e9)
    weights = root / "model.safetensors"
    assert weights.stat().st_size > 20e9 and weights.stat().st_blocks * 512 < 10**6  # sparse: no disk used
    report = policies.check_local(root)
    assert report.rules_violated == {"size"}, report.violations
    assert report.facts["parameters"] > 10e9


def test_checks_read_headers_not_weights(tmp_path: Path, smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from policies.local import LocalReader

    reads: list[tuple[str, int, int]] = []
    original = LocalReader.read_range

    def counting(self, path: str, start: int, length: int) -> bytes:  # type: ignore[no-untyped-def]
        data = original(self, path, start, length)
        reads.append((path, start, len(data)))
        return data

    monkeypatch.setattr(LocalReader, "read_range", counting)
    assert policies.check_local(smollm2).allowed
    weights = [r for r in reads if r[0] == "model.safetensors"]
    assert [r[1] for r in weights] == [0, 8] and sum(r[2] for r in weights) < 64 * 1024
    assert sum(r[2] for r in reads if r[0] == "tokenizer.json") == 64
    reads.clear()
    big = write_sparse_model(tmp_path / "big", 11e9)
    assert policies.check_local(big).rules_violated == {"size"}
    assert sum(r[2] for r in reads) < 1024 * 1024


def test_size_caps_are_configurable(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    assert policies.check_local(root, PolicyConfig(max_parameters=100)).rules_violated == {"size"}
    assert policies.check_local(root, PolicyConfig(max_total_bytes=100)).rules_violated == {"size"}


def test_format_gguf_only_rejected_with_reason(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / "model.safetensors").unlink()
    (root / "model.Q4_1.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    report = policies.check_local(root)
    assert "format" in report.rules_violated
    assert "GGUF" in next(v.message for v in report.violations if v.rule == "format")


def test_safetensors_beside_gguf_is_refused_by_the_kind_allowlist(tmp_path: Path) -> None:
    """Nothing off the allowlist may sit in a repo, not even unused: a file nobody judges is a file nobody fetches
    safely. (On main the GGUF was allowed and quietly left out of the download.)"""
    root = write_tiny_model(tmp_path / "m")
    (root / "model.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    report = policies.check_local(root)
    assert report.rules_violated == {"format"}
    assert any("model.gguf: not an allowed file kind" in v.message for v in report.violations)


def test_allowlists_are_configurable(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m", license="mit")
    assert policies.check_local(root).rules_violated == {"license"}
    assert policies.check_local(root, PolicyConfig(allowed_licenses=["MIT"])).allowed
    assert policies.check_local(root, PolicyConfig(allowed_architectures=["Qwen2ForCausalLM"])).rules_violated >= {
        "config"
    }


def test_vision_facts(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    _edit_json(
        root / "config.json",
        architectures=["Qwen2_5_VLForConditionalGeneration"],
        model_type="qwen2_5_vl",
        vision_config={"depth": 1},
    )
    (root / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "Qwen2VLImageProcessor"}))
    report = policies.check_local(root)
    assert report.allowed, report.violations
    assert report.facts["vision"] is True


def test_vision_tower_the_engine_cannot_load_is_refused_by_policy(tmp_path: Path) -> None:
    """A Llava folder with a CLIP tower passes the architecture allowlist, yet sglang 0.5.19 cannot load it: with
    the tower rule (filled from sglang's facts when the validators run it) it is refused before any download."""
    root = write_tiny_model(tmp_path / "m")
    _edit_json(
        root / "config.json",
        architectures=["LlavaForConditionalGeneration"],
        model_type="llava",
        vision_config={"model_type": "clip_vision_model"},
        vision_feature_select_strategy="default",
    )
    assert policies.check_local(root).allowed  # no tower rule: the CPU engine serves it
    sglang_like = PolicyConfig(
        vision_towers={"LlavaForConditionalGeneration": ["pixtral"]},
        vision_select_strategies={"LlavaForConditionalGeneration": ["patch", "full", "cls_patch"]},
    )
    report = policies.check_local(root, sglang_like)
    reasons = " | ".join(v.message for v in report.violations)
    assert report.rules_violated == {"config"}
    assert "vision tower 'clip_vision_model' is not served (accepted: pixtral)" in reasons
    assert "vision_feature_select_strategy 'default' is not served" in reasons
    _edit_json(root / "config.json", vision_config={"model_type": "pixtral"}, vision_feature_select_strategy="full")
    assert policies.check_local(root, sglang_like).allowed


def test_never_imports_torch_or_harness(smollm2: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, policies; policies.check_local(sys.argv[1]);"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('torch','harness','transformers')]; print(bad)"
    )
    root = REPO_ROOT
    out = subprocess.run(
        [sys.executable, "-c", code, str(smollm2)], capture_output=True, text=True, cwd=root, check=True
    ).stdout
    assert out.strip() == "[]"


def test_default_architectures_are_served_by_transformers_without_remote_code() -> None:
    from transformers.models.auto import modeling_auto

    known = set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()) | set(
        modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.values()
    )
    assert set(PolicyConfig().allowed_architectures) <= known
