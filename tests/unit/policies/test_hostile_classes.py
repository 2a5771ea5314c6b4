"""Issue 22's classes of hostile input, each generated here and judged by the policy worker.

Every check runs in the worker under a 512 MiB address-space cap and a deadline: a class that were not bounded
would end as `CheckResourceError` or `CheckTimeout` (no verdict), which these tests treat as failures. The
wall-clock figures (all well under 10 s) are measured with `harness check` and reported in docs/policy.md.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import policies
from harness.models.fetch import FetchError, fetch_model
from policies.config import HubConfig, PolicyConfig
from tests.support.hostile_hub import SHA, HostileHub
from tests.support.model_factory import SMOL_TEMPLATE, write_tiny_model

MiB = 1024**2
LIMITS = policies.WorkerLimits(deadline_s=60.0, memory_bytes=512 * MiB)
HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def judged(root: Path) -> policies.PolicyReport:
    """The fetched-folder check (tokenizer files in full), in the worker; a verdict is required."""
    result = policies.check_in_worker({"local": str(root), "deep": True}, PolicyConfig(), limits=LIMITS)
    assert result.peak_rss_bytes < 512 * MiB
    return result.report


def messages(report: policies.PolicyReport, rule: str) -> str:
    return " | ".join(v.message for v in report.violations if v.rule == rule)


# --- templates ------------------------------------------------------------------------------------------------

NESTED_RANGES = "{% for a in range(4096) %}{% for b in range(4096) %}{% for c in range(4096) %}x{% endfor %}"
NESTED_RANGES += "{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        (NESTED_RANGES, "literal iterations"),
        ("{% set n = 4096 %}{% for a in range(n) %}{% for b in range(n) %}x{% endfor %}{% endfor %}", "iterations"),
        ("{% set xs = range(4000) %}{% for a in xs %}{% for b in xs %}x{% endfor %}{% endfor %}", "iterations"),
        ("{% for a in range('4096'|int) %}{% for b in range(4096) %}x{% endfor %}{% endfor %}", "iterations"),
        ("{% for a in range([9]|first * 99999) %}x{% endfor %}", "iterations"),
        (
            "{% macro g() %}{% for i in range(4096) %}x{% endfor %}{% endmacro %}"
            "{% for i in range(4096) %}{{ g() }}{% endfor %}",
            "iterations",
        ),
        ("{% macro f(n) %}{{ f(n - 1) }}{{ f(n - 1) }}{% endmacro %}{{ f(40) }}", "calls itself"),
        ("{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}", "recursive loops"),
        ("{% set s = 'x' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}", "double"),
        (
            "{% set ns = namespace(a='x', b='y') %}{% for i in range(60) %}{% set ns.a = ns.a ~ ns.b %}"
            "{% set ns.b = ns.b ~ ns.a %}{% endfor %}",
            "double",
        ),
        ("{% set s %}{{ 'x' * 4096 }}{% endset %}{% set t %}{{ s }}{{ s }}{% endset %}{{ t }}", "double"),
        ("{% set a = 'x' * 4096 %}{% set b = a * 4096 %}{{ b }}", "repeating"),
        ("{{ ('x' * 4096) * 4096 }}", "multiply to 16,777,216"),
        ("{{ 'x' * (messages | length) * 4096 }}", "repeat"),
        ("{{ 'x' | center(100000000) }}", "center"),
        ("{{ messages[0].content | indent(100000) }}", "indent"),
        ("{{ tools | tojson(indent=100000) }}", "tojson"),
        ("{{ '%0999999999d' | format(1) }}", "format widths"),
        ("{{ messages[0].content | replace('', 'abc') }}", "replace"),
        (
            "{% for m in messages %}{% for a in m.content %}{% for b in m.content %}{% for c in m.content %}"
            "{% for d in m.content %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
            "nest 5 deep",
        ),
    ],
)
def test_template_whose_total_work_runs_away_is_refused(tmp_path: Path, template: str, needle: str) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / "chat_template.jinja").write_text(template)
    report = judged(root)
    assert report.rules_violated == {"template"}, report.violations
    assert needle in messages(report, "template")


def test_honest_templates_keep_passing(tmp_path: Path) -> None:
    from harness.demo.vlm_train import CHAT_TEMPLATE as VLM_TEMPLATE

    for template in (SMOL_TEMPLATE, VLM_TEMPLATE):
        root = write_tiny_model(tmp_path / str(len(template)))
        (root / "chat_template.jinja").write_text(template)
        assert judged(root).allowed


# --- safetensors headers ----------------------------------------------------------------------------------------


def write_header(path: Path, header: bytes, data_len: int = 0) -> None:
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + data_len)


def huge_shape_header(digits: int, count: int) -> bytes:
    """One tensor whose shape holds `count` integers of `digits` digits each (up to ~16 MiB)."""
    dim = "9" * digits
    return b'{"w": {"dtype": "F16", "shape": [' + ",".join([dim] * count).encode() + b'], "data_offsets": [0, 2]}}'


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (huge_shape_header(4299, 3900), "more than 20 digits"),  # ~16 MiB: quadratic `math.prod` on main
        (huge_shape_header(5000, 1), "more than 20 digits"),  # over 4,300 digits: int() and str() raise
        (huge_shape_header(20, 1), "under 2**64"),  # 20 digits, over a u64
        (b'{"w": {"dtype": "F16", "shape": [' + b",".join([b"1"] * 100_000) + b'], "data_offsets": [0, 2]}}', "dim"),
        (b'{"w": ' * 100_000 + b"1" + b"}" * 100_000, "levels deep"),
    ],
)
def test_safetensors_header_of_hostile_integers_gets_a_corrupt_verdict(
    tmp_path: Path, header: bytes, needle: str
) -> None:
    root = write_tiny_model(tmp_path / "m")
    write_header(root / "model.safetensors", header, 2)
    report = judged(root)
    assert "corrupt" in report.rules_violated
    assert needle in messages(report, "corrupt") and len(messages(report, "corrupt")) < 500


# --- names and counts -------------------------------------------------------------------------------------------


def listed_repo(extra: dict[str, bytes]) -> dict[str, bytes]:
    root_files = {"config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}).encode()}
    return {**root_files, **extra}


def hub_check(files: dict[str, bytes]) -> tuple[policies.PolicyReport, HostileHub]:
    with HostileHub("listed", files=files) as hub:
        hub_config = HubConfig(endpoint=hub.url, attempts=1, timeout_s=2.0)
        report = policies.check_in_worker({"repo_id": "org/m", "revision": SHA}, PolicyConfig(), hub_config, LIMITS)
    return report.report, hub


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("a" * 300 + ".json", "a name of 305 bytes"),
        ("/".join(["d" * 200] * 24) + "/x.json", f"a path of {24 * 201 + 6:,} bytes"),
        ("/".join(["d"] * 20) + "/x.json", "21 folders deep"),
        ("config.json/y.json", "a file that is also the folder of config.json/y.json"),
        ("Config.JSON", "the same file as config.json on a case-insensitive filesystem"),
        ("CONFIG.json/x.json", "a file that is also the folder"),
    ],
)
def test_hub_file_names_the_filesystem_cannot_hold_are_refused_by_names(name: str, needle: str) -> None:
    report, hub = hub_check(listed_repo({name: b"{}"}))
    assert "names" in report.rules_violated and needle in messages(report, "names"), report.violations
    assert hub.sent_to(name[:50]) == 0  # a name refused is never read


def test_a_revision_of_ten_thousand_tiny_files_is_refused_before_any_read() -> None:
    report, hub = hub_check(listed_repo({f"f{i:05}.json": b"{}" for i in range(9_999)}))
    assert report.rules_violated == {"names"}
    assert "10,000 files, over the cap of 1,000" in messages(report, "names")
    assert hub.sent_to("/resolve/") == 0


def test_a_fetch_of_a_name_the_filesystem_refuses_is_a_fetch_error_not_oserror(tmp_path: Path) -> None:
    name = "a" * 300 + ".json"
    with HostileHub("listed", files={name: b"{}"}) as hub, pytest.raises(FetchError, match="cannot write aaa"):
        fetch_model(
            "org/m", SHA, [name], HOTKEY, "x" * 43,
            models_dir=tmp_path / "models", budget_bytes=MiB, hub=HubConfig(endpoint=hub.url, attempts=1),
        )  # fmt: skip


# --- config consistency -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' disagrees with architecture LlamaForCausalLM (expected llama)"),
        ({"model_type": None}, "model_type missing disagrees"),
        ({"model_type": ["llama"]}, "model_type missing disagrees"),
        (
            {
                "architectures": ["LlavaForConditionalGeneration"],
                "model_type": "llava",
                "text_config": {"model_type": "gpt2"},
            },
            "text_config.model_type 'gpt2' is not a language model",
        ),
    ],
)
def test_model_type_must_agree_with_the_architecture(tmp_path: Path, overrides: dict, needle: str) -> None:
    root = write_tiny_model(tmp_path / "m")
    doc = {**json.loads((root / "config.json").read_text()), **overrides}
    (root / "config.json").write_text(json.dumps(doc))
    report = judged(root)
    assert report.rules_violated == {"config"} and needle in messages(report, "config"), report.violations


def test_every_allowlisted_architecture_has_its_model_type() -> None:
    from policies.architectures import MODEL_TYPES
    from policies.config import DEFAULT_ARCHITECTURES

    assert set(DEFAULT_ARCHITECTURES) <= set(MODEL_TYPES)


def test_the_model_types_are_transformers_own() -> None:
    """Each pair is one transformers' Auto classes would build: model_type -> that architecture."""
    auto = pytest.importorskip("transformers.models.auto.modeling_auto")
    from policies.architectures import MODEL_TYPES

    mappings = [getattr(auto, n) for n in dir(auto) if n.startswith("MODEL_") and n.endswith("_MAPPING_NAMES")]
    for arch, types in MODEL_TYPES.items():
        for model_type in types:
            built = {m.get(model_type) for m in mappings} - {None}
            flat = {a for b in built for a in (b if isinstance(b, tuple) else (b,))}
            assert arch in flat, (arch, model_type, flat)


# --- tokenizer and other JSON files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "needle"),
    [
        ("tokenizer.json", b"[" * 3_000_000 + b"]" * 3_000_000, "3,000,000 levels deep"),
        ("tokenizer.json", b'{"a": ' * 3_000_000 + b"1" + b"}" * 3_000_000, "3,000,000 levels deep"),
        ("tokenizer.json", b"hello, I am not JSON at all {}", "not valid JSON"),
        ("tokenizer.json", b'{"model": {"vocab": {"a": 1}}', "not valid JSON"),
        ("tokenizer.json", b'{"model": "\x01"}', "control character"),
        ("tokenizer.json", b'{"n": ' + b"9" * 5000 + b"}", "more than 64 digits"),
        ("vocab.json", b"[" * 100 + b"]" * 100, "100 levels deep"),
        ("generation_config.json", b'{"a": ' * 1000 + b"1" + b"}" * 1000, "1,000 levels deep"),
        ("special_tokens_map.json", b"{not json", "not valid JSON"),
    ],
)
def test_json_files_are_parsed_in_full_with_bounded_depth(tmp_path: Path, name: str, body: bytes, needle: str) -> None:
    root = write_tiny_model(tmp_path / "m")
    (root / name).write_bytes(body)
    report = judged(root)
    assert report.rules_violated == {"format"}, report.violations
    assert needle in messages(report, "format")


def test_a_real_sized_tokenizer_passes_the_full_parse(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    vocab = {f'tok{i}\u00e9\\"[{{': i for i in range(150_000)}
    merges = [[f"a{i}", f"b{i}]"] for i in range(150_000)]
    (root / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": merges}}))
    assert judged(root).allowed
